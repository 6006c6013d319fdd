#include "junit.hpp"

#include <fmt/chrono.h>
#include <fmt/core.h>

#include <unistd.h>

#include <ctime>
#include <set>

namespace afterlife::junit {

namespace {

// The length of the well-formed UTF-8 sequence at text[i], 0 if it is not one: a log quotes
// whatever a program printed, and an XML parser rejects the whole file for one bad byte.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k)
    if ((byte(i + k) >> 6) != 0x2) return 0;
  return length;
}

const char* outcome_element(outcome o) {
  switch (o) {
    case outcome::failed: return "failure";
    case outcome::errored: return "error";
    case outcome::skipped: return "skipped";
    case outcome::passed: break;
  }
  return nullptr;
}

// Jenkins' SUREFIRE_TIME: digits, a dot, at most three decimals.
std::string seconds_text(double seconds) { return fmt::format("{:.3f}", seconds < 0 ? 0.0 : seconds); }

std::string describe_exit(const nlohmann::json& exit) {
  if (!exit.is_object()) return "no exit recorded";
  std::string pid = exit.contains("pid") ? fmt::format(" (pid {})", exit["pid"].dump()) : "";
  if (exit.contains("signal_name"))
    return fmt::format("killed by SIG{}{}", exit["signal_name"].get<std::string>(), pid);
  if (exit.contains("code")) return fmt::format("exited with code {}{}", exit["code"].dump(), pid);
  return "never reaped" + pid;
}

std::string text_of(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    std::size_t length = utf8_sequence(text, i);
    if (length == 0) {
      out += '?';
      ++i;
      continue;
    }
    if (length > 1) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // XML 1.0 forbids most control characters even escaped.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r')
          out += '?';
        else
          out += c;
    }
    ++i;
  }
  return out;
}

std::string this_hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::string iso_timestamp(std::chrono::system_clock::time_point when) {
  // gmtime_r, not fmt's time_point formatter: fmt before 10 formats those in local time.
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}", utc);
}

std::string failure_body(const nlohmann::json& report) {
  if (!report.is_object()) return "no report was written\n";
  std::string body = describe_exit(report.value("exit", nlohmann::json())) + "\n";
  for (const auto& e : report.value("expectations", nlohmann::json::array()))
    if (!e.value("met", true))
      body += fmt::format("not met: {} (actual: {})\n", text_of(e, "expr"), text_of(e, "actual"));
  for (const auto& l : report.value("leftovers", nlohmann::json::array())) {
    body += fmt::format("leftover {} {}", text_of(l, "kind"), text_of(l, "name"));
    const auto& creator = l.contains("creator") ? l["creator"] : nlohmann::json();
    if (creator.is_object()) {
      body += fmt::format(": created by pid {}", creator.value("pid", 0));
      if (auto site = text_of(creator, "site"); !site.empty()) body += " at " + site;
      for (const auto& caller : creator.value("callers", nlohmann::json::array()))
        if (caller.is_string()) body += " <- " + caller.get<std::string>();
    } else {
      body += ": not created by this run";
    }
    body += fmt::format("; remove: {}", text_of(l, "cleanup"));
    if (l.value("reaped", false)) body += " [reaped]";
    body += "\n";
  }
  for (const auto& s : report.value("survivors", nlohmann::json::array()))
    body += fmt::format("survivor pid {}: {}\n", s.value("pid", 0), text_of(s, "command"));
  return body;
}

std::string to_xml(const test_suite& suite) {
  std::size_t failures = 0, errors = 0, skipped = 0;
  for (const auto& c : suite.cases) {
    failures += c.result == outcome::failed;
    errors += c.result == outcome::errored;
    skipped += c.result == outcome::skipped;
  }
  std::string hostname = suite.hostname.empty() ? this_hostname() : suite.hostname;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  // <testsuites> takes no `skipped` (junit-10.xsd); the suite carries it.
  out += fmt::format("<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">\n",
                     xml_escape(suite.name), suite.cases.size(), failures, errors, seconds_text(suite.seconds));
  out += fmt::format(
      "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" "
      "timestamp=\"{}\" hostname=\"{}\">\n",
      xml_escape(suite.name), suite.cases.size(), failures, errors, skipped, seconds_text(suite.seconds),
      iso_timestamp(suite.started), xml_escape(hostname));
  // Jenkins keys results by classname and name: a repeated pair would hide a case.
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& c : suite.cases) {
    std::string name = c.name;
    for (int n = 2; !seen.insert({c.classname, name}).second; ++n) name = fmt::format("{} #{}", c.name, n);
    out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"", xml_escape(c.classname),
                       xml_escape(name), seconds_text(c.seconds));
    const char* element = outcome_element(c.result);
    if (element == nullptr && c.system_out.empty()) {
      out += "/>\n";
      continue;
    }
    out += ">\n";
    if (element != nullptr) {
      out += fmt::format("      <{} message=\"{}\"", element, xml_escape(c.message));
      out += c.body.empty() ? "/>\n" : fmt::format(">{}</{}>\n", xml_escape(c.body), element);
    }
    if (!c.system_out.empty())
      out += fmt::format("      <system-out>{}</system-out>\n", xml_escape(c.system_out));
    out += "    </testcase>\n";
  }
  if (!suite.system_out.empty())
    out += fmt::format("    <system-out>{}</system-out>\n", xml_escape(suite.system_out));
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace afterlife::junit

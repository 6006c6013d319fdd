#include "afterlife/harness/report.hpp"

#include "junit.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace afterlife {

namespace {

nlohmann::json exit_json(const exit_info& exit) {
  nlohmann::json j{{"pid", exit.pid}};
  if (exit.exited) {
    j["code"] = exit.code;
  } else if (exit.signal != 0) {
    j["signal"] = exit.signal;
    j["signal_name"] = exit.signal_name;
    j["core_dumped"] = exit.core_dumped;
  }
  return j;
}

nlohmann::json fds_json(const std::vector<survivor_fd>& fds) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& fd : fds) {
    nlohmann::json one{{"fd", fd.fd}, {"target", fd.target}};
    if (fd.listening_port) one["listening"] = true;
    j.push_back(std::move(one));
  }
  return j;
}

nlohmann::json maps_json(const std::vector<survivor_map>& maps) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& m : maps)
    j.push_back({{"path", m.path}, {"size", m.size}, {"shared", m.shared}});
  return j;
}

nlohmann::json survivor_json(const survivor& s) {
  return {{"pid", s.pid},   {"command", s.command}, {"comm", s.comm},      {"state", s.state},
          {"ppid", s.ppid}, {"uid", s.uid},         {"exe", s.exe},        {"fds", fds_json(s.fds)},
          {"maps", maps_json(s.maps)}};
}

// How a process of the run ended, as far as the harness knows.
std::string how_it_ended(const held_process& h) {
  if (h.status_known && h.exit.exited) return fmt::format("exited with code {}", h.exit.code);
  if (h.status_known && h.exit.signal != 0)
    return fmt::format("killed by SIG{}{}", h.exit.signal_name, h.exit.core_dumped ? ", core dumped" : "");
  if (h.killed_by_harness) return fmt::format("killed by SIG{} from the harness", h.exit.signal_name);
  return "ended on its own (its parent has its status)";
}

nlohmann::json held_json(const held_process& h) {
  nlohmann::json j{{"pid", h.pid},
                   {"command", h.command},
                   {"comm", h.comm},
                   {"ended", how_it_ended(h)},
                   {"killed_by_harness", h.killed_by_harness},
                   {"read_at", h.read_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(h.read_at)},
                   {"fds", fds_json(h.fds)},
                   {"maps", maps_json(h.maps)}};
  if (h.status_known || h.killed_by_harness) {
    nlohmann::json exit{{"pid", h.pid}};
    if (h.status_known && h.exit.exited) {
      exit["code"] = h.exit.code;
    } else if (h.exit.signal != 0) {
      exit["signal"] = h.exit.signal;
      exit["signal_name"] = h.exit.signal_name;
    }
    j["exit"] = exit;
  }
  return j;
}

std::string survivor_title(const survivor& s) {
  std::string what = s.command.empty() ? fmt::format("[{}] (caught exiting)", s.comm) : s.command;
  return fmt::format("pid {}  {}\n      ppid {}  uid {}  {}  exe {}", s.pid, what, s.ppid, s.uid,
                     s.state.empty() ? "gone" : s.state, s.exe.empty() ? "?" : s.exe);
}

nlohmann::json leftover_json(const leftover& l) {
  nlohmann::json j{{"kind", l.kind},         {"name", l.name},
                   {"path", l.path},         {"size", l.size},
                   {"attributed", l.attributed}, {"cleanup", l.cleanup},
                   {"reaped", l.reaped},     {"outside", l.outside}};
  j["creator"] = l.creator ? nlohmann::json{{"pid", l.creator->pid},
                                            {"site", l.creator->site},
                                            {"callers", l.creator->callers}}
                           : nlohmann::json(nullptr);
  j["sources"] = l.sources;  // attribution_source names, e.g. ["interposer", "fanotify"]
  if (!l.moved_from.empty()) j["moved_from"] = l.moved_from;
  if (!l.reap_error.empty()) j["reap_error"] = l.reap_error;
  if (!l.kept.empty()) j["kept"] = l.kept;
  return j;
}

std::string how_it_ended(const run_report& report) {
  const exit_info& exit = report.exit;
  if (exit.exited) return fmt::format("exited with code {}", exit.code);
  if (exit.signal != 0)
    return fmt::format("killed by signal {} (SIG{}){}", exit.signal, exit.signal_name,
                       exit.core_dumped ? ", core dumped" : "");
  return "never reaped";
}


std::string command_line(const std::vector<std::string>& command) {
  std::string text;
  for (const auto& word : command) {
    if (!text.empty()) text += ' ';
    text += word;
  }
  return text;
}

nlohmann::json attribution_json(const attribution& sight) {
  nlohmann::json blind = nlohmann::json::array();
  for (const auto& b : sight.blind) blind.push_back({{"what", b.what}, {"why", b.why}});
  return {{"sources", sight.sources}, {"blind", blind}};
}

void append_once(std::vector<std::string>& names, std::string_view name) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
}

}  // namespace

void attribution::use(std::string_view source) { append_once(sources, source); }

void leftover::attribute(std::string_view source) {
  attributed = true;
  append_once(sources, source);
}

nlohmann::json to_json(const run_report& report) {
  nlohmann::json phases = nlohmann::json::array();
  for (const auto& p : report.phases) {
    nlohmann::json j{{"name", p.name}, {"begin_ms", p.begin_ms}};
    j["end_ms"] = p.end_ms ? nlohmann::json(*p.end_ms) : nlohmann::json(nullptr);
    phases.push_back(j);
  }
  nlohmann::json survivors = nlohmann::json::array();
  for (const auto& s : report.survivors) survivors.push_back(survivor_json(s));
  nlohmann::json held = nlohmann::json::array();
  for (const auto& h : report.held) held.push_back(held_json(h));
  nlohmann::json leftovers = nlohmann::json::array();
  for (const auto& l : report.leftovers) leftovers.push_back(leftover_json(l));
  nlohmann::json expectations = nlohmann::json::array();
  for (const auto& e : report.expectations)
    expectations.push_back({{"expr", e.expr}, {"met", e.met}, {"actual", e.actual}});
  return {
      {"schema", "afterlife.report/1"},
      {"run_id", report.run_id},
      {"command", report.command},
      {"mode", std::string(to_string(report.mode))},
      {"trigger", report.trigger},
      {"trigger_fired", report.trigger_fired},
      {"action", report.action},
      {"killed_after", report.killed_after},
      {"containment", {{"mechanism", report.containment}, {"detail", report.containment_detail}}},
      {"timed_out", report.timed_out},
      {"interrupted", report.interrupted},
      {"exit", exit_json(report.exit)},
      {"duration_ms", report.duration_ms},
      {"max_rss_kib", report.max_rss_kib},
      {"phases", phases},
      {"survivors", survivors},
      {"held", held},
      {"leftovers", leftovers},
      {"attribution", attribution_json(report.sight)},
      {"expectations", expectations},
      {"malformed_messages", report.malformed_messages},
      {"notes", report.notes},
      {"verdict", report.pass ? "pass" : "fail"},
  };
}

void write_text(std::ostream& out, const run_report& report) {
  out << fmt::format("afterlife run: {}\n", command_line(report.command));
  out << fmt::format("  mode      {}{}\n", to_string(report.mode),
                     report.mode == exit_mode::natural
                         ? std::string{}
                         : fmt::format(" at {} ({})", report.trigger,
                                       report.trigger_fired ? report.action
                                                            : "trigger never fired"));
  if (!report.containment.empty())
    out << fmt::format("  contained {}\n", report.containment_detail);
  out << fmt::format("  ended     pid {} {} after {:.1f} ms{}\n", report.exit.pid,
                     how_it_ended(report), report.duration_ms,
                     report.interrupted ? " — INTERRUPTED, the whole tree was killed"
                     : report.timed_out ? " — TIMED OUT, the whole tree was killed"
                                        : "");
  out << fmt::format("  max rss   {} KiB\n", report.max_rss_kib);
  if (report.phases.empty()) {
    out << "  phases    none reported\n";
  } else {
    out << "  phases   ";
    for (const auto& p : report.phases)
      out << fmt::format(" {}{}", p.name, p.end_ms ? "" : "(unfinished)");
    out << "\n";
  }
  if (report.survivors.empty()) {
    out << "  survivors none\n";
  } else {
    out << fmt::format("  survivors {} (killed after the grace period)\n", report.survivors.size());
    for (const auto& s : report.survivors) {
      out << fmt::format("    {}\n", survivor_title(s));
      for (const auto& fd : s.fds)
        out << fmt::format("      fd {} -> {}{}\n", fd.fd, fd.target,
                           fd.listening_port ? "   <- LISTENING: holds the port" : "");
      for (const auto& m : s.maps)
        if (m.shared) out << fmt::format("      maps {} ({} bytes, shared)\n", m.path, m.size);
    }
  }
  bool any_held = false;
  for (const auto& h : report.held) {
    if (h.read_at.empty()) continue;
    std::vector<std::string> lines;
    for (const auto& fd : h.fds)
      if (fd.counts_as_held()) lines.push_back(fmt::format("      fd {} -> {}", fd.fd, fd.target));
    for (const auto& m : h.maps)
      if (m.shared) lines.push_back(fmt::format("      maps {} ({} bytes, shared)", m.path, m.size));
    if (!any_held) out << "  held      what each process held when it ended (files, sockets, shared maps)\n";
    any_held = true;
    out << fmt::format("    pid {}  {}  {}, read {}{}\n", h.pid,
                       h.command.empty() ? "[" + h.comm + "]" : h.command, how_it_ended(h),
                       h.read_at, lines.empty() ? ": nothing" : "");
    for (const auto& line : lines) out << line << "\n";
  }
  auto attributed = std::count_if(report.leftovers.begin(), report.leftovers.end(),
                                  [](const leftover& l) { return l.attributed; });
  if (report.leftovers.empty()) {
    out << "  leftovers none\n";
  } else {
    auto outside = std::count_if(report.leftovers.begin(), report.leftovers.end(),
                                 [](const leftover& l) { return l.attributed && l.outside; });
    out << fmt::format("  leftovers {} ({} created by this run{}, {} by someone else)\n",
                       report.leftovers.size(), attributed,
                       outside == 0 ? std::string()
                                    : fmt::format(", {} of them outside the listed places: "
                                                  "judged only with --strict", outside),
                       static_cast<long>(report.leftovers.size()) - attributed);
    for (const auto& l : report.leftovers) {
      out << fmt::format("    {:<9} {}  {} bytes", l.kind, l.name, l.size);
      bool by_evidence = !l.sources.empty() && l.sources.front() == attribution_source::process;
      if (l.creator && by_evidence)
        out << fmt::format("  the run's: pid {} {}", l.creator->pid, l.creator->site);
      else if (l.creator)
        out << fmt::format("  created by pid {} at {}", l.creator->pid, l.creator->site);
      else if (l.attributed)
        out << "  created by this run";
      else
        out << "  not created by this run";
      if (!l.sources.empty()) out << fmt::format("  [{}]", fmt::join(l.sources, ", "));
      out << "\n";
      if (!l.moved_from.empty()) out << fmt::format("      renamed or linked from {}\n", l.moved_from);
      if (l.creator && !l.creator->callers.empty())
        out << fmt::format("      called from {}\n", fmt::join(l.creator->callers, " <- "));
      std::string state = l.reaped ? "reaped"
                          : !l.reap_error.empty() ? "not reaped: " + l.reap_error
                          : !l.kept.empty()       ? "kept: " + l.kept
                                                  : "left in place";
      out << fmt::format("      remove: {}   [{}]\n", l.cleanup, state);
    }
  }
  if (!report.sight.sources.empty())
    out << fmt::format("  attribution {}\n", fmt::join(report.sight.sources, ", "));
  for (const auto& b : report.sight.blind) out << fmt::format("  BLIND     {}: {}\n", b.what, b.why);
  if (report.malformed_messages > 0)
    out << fmt::format("  control   {} malformed messages\n", report.malformed_messages);
  for (const auto& note : report.notes) out << fmt::format("  note      {}\n", note);
  out << "  expect\n";
  for (const auto& e : report.expectations)
    out << fmt::format("    {} {}  ({})\n", e.met ? "ok  " : "FAIL", e.expr, e.actual);
  out << fmt::format("  verdict   {}\n", report.pass ? "pass" : "FAIL");
}

void write_junit(std::ostream& out, const run_report& report,
                 std::chrono::system_clock::time_point started) {
  // The program's name is the class (dots would split it into Jenkins packages); each
  // expectation is a case.
  std::string program = report.command.empty()
                            ? "unknown"
                            : std::filesystem::path(report.command.front()).filename().string();
  std::replace(program.begin(), program.end(), '.', '_');
  junit::test_suite suite;
  suite.name = "afterlife run " + command_line(report.command);
  suite.seconds = report.duration_ms / 1000.0;
  suite.started = started;
  std::ostringstream log;
  write_text(log, report);
  if (!report.stdout_text.empty()) log << "\n--- the program's stdout ---\n" << report.stdout_text;
  if (!report.stderr_text.empty()) log << "\n--- the program's stderr ---\n" << report.stderr_text;
  suite.system_out = log.str();
  std::string body = junit::failure_body(to_json(report));
  for (const auto& e : report.expectations) {
    junit::test_case c;
    c.classname = "afterlife.run." + program;
    c.name = fmt::format("{} {}", to_string(report.mode), e.expr);
    c.seconds = suite.seconds;
    if (!e.met) {
      c.result = junit::outcome::failed;
      c.message = fmt::format("{}: {}", e.expr, e.actual);
      c.body = body;
    }
    suite.cases.push_back(std::move(c));
  }
  out << junit::to_xml(suite);
}

}  // namespace afterlife

#include "afterlife/harness/expectations.hpp"

#include "afterlife/harness/run.hpp"

#include <afterlife/protocol.hpp>
#include <fmt/core.h>

#include "text_pattern.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <csignal>
#include <stdexcept>

namespace afterlife {

namespace {

constexpr std::array<std::pair<int, std::string_view>, 20> signal_names{{
    {SIGHUP, "HUP"},   {SIGINT, "INT"},   {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"}, {SIGBUS, "BUS"},   {SIGFPE, "FPE"},
    {SIGKILL, "KILL"}, {SIGUSR1, "USR1"}, {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGTERM, "TERM"}, {SIGCHLD, "CHLD"},
    {SIGCONT, "CONT"}, {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"}, {SIGSYS, "SYS"},
}};

long parse_count(std::string_view text, std::string_view whole) {
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0)
    throw std::invalid_argument(fmt::format("bad expectation '{}': '{}' is not a count", whole, text));
  return value;
}

// output~REGEX is searched in the whole of stdout, then of stderr, so one pattern can check an
// order across lines (`first[\s\S]*second`); its syntax is text_pattern's, the one --at line:
// uses too.

std::string describe_exit(const exit_info& exit) {
  if (exit.exited) return fmt::format("exit {}", exit.code);
  if (exit.signal != 0) return fmt::format("signal {}", exit.signal_name);
  return "not reaped";
}

}  // namespace

int signal_number(std::string_view name) {
  if (name.starts_with("SIG")) name.remove_prefix(3);
  for (const auto& [number, text] : signal_names)
    if (text == name) return number;
  return 0;
}

std::string signal_name(int number) {
  for (const auto& [candidate, text] : signal_names)
    if (candidate == number) return std::string(text);
  return fmt::format("{}", number);
}

expectation parse_expectation(std::string_view text) {
  expectation result;
  result.text = std::string(text);
  if (text == "clean") {
    result.what = expectation::kind::clean;
    return result;
  }
  if (text.starts_with("output~")) {
    result.what = expectation::kind::output;
    result.subject = std::string(text.substr(7));
    try {
      (void)detail::text_pattern(result.subject);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("bad expectation '{}': {}", text, e.what()));
    }
    return result;
  }
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size())
    throw std::invalid_argument(fmt::format(
        "bad expectation '{}' (clean, exit=N, signal=NAME, KIND=N, leftovers=N, survivors=N, "
        "held_fds=N, phase=NAME, phases=N, output~REGEX)", text));
  std::string_view key = text.substr(0, eq);
  std::string_view value = text.substr(eq + 1);
  if (key == "exit") {
    result.what = expectation::kind::exit_code;
    result.number = parse_count(value, text);
  } else if (key == "signal") {
    result.what = expectation::kind::signal;
    result.number = signal_number(value);
    if (result.number == 0)
      throw std::invalid_argument(fmt::format("bad expectation '{}': unknown signal", text));
    result.subject = signal_name(static_cast<int>(result.number));
  } else if (key == "leftovers" || key == "survivors" || key == "held_fds" || key == "phases") {
    result.what = key == "leftovers"   ? expectation::kind::leftovers
                  : key == "survivors" ? expectation::kind::survivors
                  : key == "held_fds"  ? expectation::kind::held_fds
                                       : expectation::kind::phases;
    result.number = parse_count(value, text);
  } else if (key == "phase") {
    result.what = expectation::kind::phase;
    result.subject = std::string(value);
  } else if (protocol::is_kind(key)) {
    result.what = expectation::kind::leftover_kind;
    result.subject = std::string(key);
    result.number = parse_count(value, text);
  } else {
    throw std::invalid_argument(fmt::format("bad expectation '{}': unknown key '{}'", text, key));
  }
  return result;
}

expectation_result judge(const expectation& expected, const run_report& report, bool strict) {
  // What `clean` and `leftovers=N` count: the run's leftovers in the listed places, and under
  // --strict also those outside them and those of someone else.
  auto attributed = std::count_if(report.leftovers.begin(), report.leftovers.end(),
                                  [strict](const leftover& l) {
                                    return l.attributed && (strict || !l.outside);
                                  });
  long unattributed = std::count_if(report.leftovers.begin(), report.leftovers.end(),
                                    [](const leftover& l) { return !l.attributed; });
  long survivors = static_cast<long>(report.survivors.size());
  expectation_result result{expected.text, false, {}};
  switch (expected.what) {
    case expectation::kind::clean:
      result.met = attributed == 0 && survivors == 0 && (!strict || unattributed == 0);
      result.actual = fmt::format("{} leftovers, {} survivors{}", attributed, survivors,
                                  strict ? fmt::format(", {} unattributed", unattributed) : "");
      break;
    case expectation::kind::exit_code:
      result.met = report.exit.exited && report.exit.code == expected.number;
      result.actual = describe_exit(report.exit);
      break;
    case expectation::kind::signal:
      result.met = !report.exit.exited && report.exit.signal == expected.number;
      result.actual = describe_exit(report.exit);
      break;
    case expectation::kind::leftover_kind: {
      auto count = std::count_if(report.leftovers.begin(), report.leftovers.end(),
                                 [&](const leftover& l) {
                                   return l.attributed && l.kind == expected.subject;
                                 });
      result.met = count == expected.number;
      result.actual = fmt::format("{} {}", count, expected.subject);
      break;
    }
    case expectation::kind::leftovers:
      result.met = attributed == expected.number;
      result.actual = fmt::format("{} leftovers", attributed);
      break;
    case expectation::kind::survivors:
      result.met = survivors == expected.number;
      result.actual = fmt::format("{} survivors", survivors);
      break;
    case expectation::kind::held_fds: {
      long count = 0;
      for (const auto& h : report.held)
        count += std::count_if(h.fds.begin(), h.fds.end(),
                               [](const survivor_fd& fd) { return fd.counts_as_held(); });
      result.met = count == expected.number;
      result.actual = fmt::format("{} held fds", count);
      break;
    }
    case expectation::kind::phase: {
      result.met = std::any_of(report.phases.begin(), report.phases.end(), [&](const phase_record& p) {
        return p.name == expected.subject && p.end_ms.has_value();
      });
      result.actual = result.met ? "began and ended" : "not completed";
      break;
    }
    case expectation::kind::phases: {
      auto done = std::count_if(report.phases.begin(), report.phases.end(),
                                [](const phase_record& p) { return p.end_ms.has_value(); });
      result.met = done == expected.number;
      result.actual = fmt::format("{} phases completed", done);
      break;
    }
    case expectation::kind::output: {
      try {
        detail::text_pattern pattern(expected.subject);
        result.met = pattern.search(report.stdout_text) || pattern.search(report.stderr_text);
        result.actual = result.met ? "matched" : "no match in stdout or stderr";
      } catch (const std::exception& e) {  // boost::regex_error: too complex to match
        result.met = false;
        result.actual = fmt::format("could not be matched: {}", e.what());
      }
      break;
    }
  }
  return result;
}

}  // namespace afterlife

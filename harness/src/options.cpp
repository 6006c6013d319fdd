// Parsing of run options given as text: durations, modes, triggers.
#include "afterlife/harness/run.hpp"

#include "text_pattern.hpp"

#include <fmt/core.h>

#include <array>
#include <charconv>
#include <cmath>

namespace afterlife {

// A decimal number of DIGITS[.DIGITS] followed by its unit. Read by hand with integer
// from_chars: from_chars for double is missing from libc++ before 20 (macOS, clang -stdlib=libc++),
// and strtod would follow the C locale's decimal point.
std::chrono::milliseconds parse_duration(std::string_view text) {
  const char* const first = text.data();
  const char* const last = first + text.size();
  const auto bad = [&] {
    return std::invalid_argument(fmt::format("bad duration '{}' (e.g. 500ms, 2s, 1.5m)", text));
  };
  long long whole = 0;
  auto [end, ec] = std::from_chars(first, last, whole);
  if (ec != std::errc{} || whole < 0) throw bad();
  double value = static_cast<double>(whole);
  if (end != last && *end == '.') {
    double place = 0.1;
    for (++end; end != last && *end >= '0' && *end <= '9'; ++end, place /= 10)
      value += (*end - '0') * place;
  }
  std::string_view unit(end, static_cast<std::size_t>(last - end));
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "ms") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60000;
  else if (unit == "h") scale = 3600000;
  if (scale == 0) throw bad();
  // Added to the clock's now, a longer one would overflow and fire at once.
  if (value * scale > static_cast<double>(duration_max.count()))
    throw std::invalid_argument(
        fmt::format("duration '{}' is longer than the longest, 100 days", text));
  return std::chrono::milliseconds(static_cast<long long>(std::llround(value * scale)));
}

exit_mode parse_mode(std::string_view text) {
  for (const run_mode_info& m : run_modes)
    if (m.name == text) return m.mode;
  throw std::invalid_argument(fmt::format("bad mode '{}' ({})", text, mode_names(run_modes)));
}

std::string_view to_string(exit_mode mode) {
  for (const run_mode_info& m : run_modes)
    if (m.mode == mode) return m.name;
  return "natural";
}

std::string_view to_string(reap_policy policy) {
  switch (policy) {
    case reap_policy::none: return "none";
    case reap_policy::ipc: return "ipc";
    case reap_policy::files: return "files";
    case reap_policy::all: return "all";
  }
  return "ipc";
}

std::optional<reap_policy> parse_reap_policy(std::string_view text) {
  for (auto policy : {reap_policy::none, reap_policy::ipc, reap_policy::files, reap_policy::all})
    if (to_string(policy) == text) return policy;
  return std::nullopt;
}

trigger parse_trigger(std::string_view text) {
  trigger result;
  auto colon = text.find(':');
  std::string_view what = text.substr(0, colon);
  std::string argument =
      colon == std::string_view::npos ? std::string{} : std::string(text.substr(colon + 1));
  if (what == "checkpoint") {
    result.what = trigger::kind::checkpoint;
    result.argument = argument;
    return result;
  }
  if (colon == std::string_view::npos || argument.empty())
    throw std::invalid_argument(fmt::format(
        "bad trigger '{}' (checkpoint[:NAME], line:REGEX, delay:DURATION, file:PATH)", text));
  result.argument = argument;
  if (what == "line") {
    result.what = trigger::kind::line;
    try {
      (void)detail::text_pattern(argument);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("bad regex in trigger '{}': {}", text, e.what()));
    }
  } else if (what == "delay") {
    result.what = trigger::kind::delay;
    result.delay = parse_duration(argument);
  } else if (what == "file") {
    result.what = trigger::kind::file;
  } else {
    throw std::invalid_argument(fmt::format(
        "bad trigger '{}' (checkpoint[:NAME], line:REGEX, delay:DURATION, file:PATH)", text));
  }
  return result;
}

std::string trigger::text() const {
  switch (what) {
    case kind::checkpoint: return argument.empty() ? "checkpoint" : "checkpoint:" + argument;
    case kind::line: return "line:" + argument;
    case kind::delay: return "delay:" + argument;
    case kind::file: return "file:" + argument;
  }
  return {};
}

}  // namespace afterlife

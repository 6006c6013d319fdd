// Parsing of run options given as text: durations, modes, triggers.
#include "afterlife/harness/run.hpp"

#include <fmt/core.h>

#include <array>
#include <charconv>
#include <cmath>
#include <regex>

namespace afterlife {

namespace {

constexpr std::array<std::pair<exit_mode, std::string_view>, 8> mode_names{{
    {exit_mode::natural, "natural"},
    {exit_mode::sigterm, "sigterm"},
    {exit_mode::sigint, "sigint"},
    {exit_mode::sigkill, "sigkill"},
    {exit_mode::abort, "abort"},
    {exit_mode::group_kill, "group-kill"},
    {exit_mode::tree_kill, "tree-kill"},
    {exit_mode::child_death, "child-death"},
}};

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "ms") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60000;
  else if (unit == "h") scale = 3600000;
  if (text.empty() || ec != std::errc{} || scale == 0 || value < 0 || !std::isfinite(value))
    throw std::invalid_argument(fmt::format("bad duration '{}' (e.g. 500ms, 2s, 1.5m)", text));
  return std::chrono::milliseconds(static_cast<long long>(std::llround(value * scale)));
}

exit_mode parse_mode(std::string_view text) {
  for (const auto& [mode, name] : mode_names)
    if (name == text) return mode;
  throw std::invalid_argument(fmt::format(
      "bad mode '{}' (natural, sigterm, sigint, sigkill, abort, group-kill, tree-kill, "
      "child-death)", text));
}

std::string_view to_string(exit_mode mode) {
  for (const auto& [candidate, name] : mode_names)
    if (candidate == mode) return name;
  return "natural";
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
      std::regex check(argument);
    } catch (const std::regex_error& e) {
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

// What the resource scenarios share: their options and an unbuffered way to say things.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "scenario.hpp"

namespace resource_scenario {

// The value after `flag` in the scenario's own arguments, else `fallback`.
inline std::string option(const scenario::options& opts, std::string_view flag,
                          std::string fallback) {
  for (std::size_t i = 0; i + 1 < opts.rest.size(); ++i) {
    if (opts.rest[i] == flag) return opts.rest[i + 1];
  }
  return fallback;
}

inline bool has_flag(const scenario::options& opts, std::string_view flag) {
  for (const auto& arg : opts.rest) {
    if (arg == flag) return true;
  }
  return false;
}

inline std::string tmp_dir() { return scenario::tmp_dir(); }

// A default name unique to this process.
inline std::string default_ipc_name(std::string_view prefix) {
  return "/" + std::string(prefix) + "_" + std::to_string(getpid());
}

using scenario::say;

}  // namespace resource_scenario

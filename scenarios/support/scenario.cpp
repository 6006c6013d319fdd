#include "scenario.hpp"

#include <afterlife/control_client.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace scenario {

namespace {

constexpr std::string_view mode_names[] = {"normal", "error", "exception", "immediate", "abort", "wait"};

[[noreturn]] void usage_error(const char* program, const std::string& what) {
  std::fprintf(stderr, "%s: %s (usage: --exit normal|error|exception|immediate|abort|wait)\n",
               program, what.c_str());
  std::exit(2);
}

}  // namespace

std::string_view to_string(exit_mode mode) { return mode_names[static_cast<int>(mode)]; }

options parse(int argc, char** argv) {
  options opts;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg != "--exit") {
      opts.rest.emplace_back(arg);
      continue;
    }
    if (i + 1 >= argc) usage_error(argv[0], "--exit needs a mode");
    std::string_view value = argv[++i];
    bool known = false;
    for (int m = 0; m < static_cast<int>(std::size(mode_names)); ++m) {
      if (value == mode_names[m]) {
        opts.exit = static_cast<exit_mode>(m);
        known = true;
      }
    }
    if (!known) usage_error(argv[0], "unknown exit mode '" + std::string(value) + "'");
  }
  return opts;
}

void ready(const options& opts) {
  // The checkpoint blocks until the harness answers; under `wait` the harness ends us instead.
  afterlife_checkpoint("ready");
  if (opts.exit == exit_mode::wait) {
    // Answered without being ended (or not under the harness): wait for a signal.
    for (;;) pause();
  }
}

void finish(const options& opts) {
  switch (opts.exit) {
    case exit_mode::normal:
      std::exit(0);
    case exit_mode::error:
      std::exit(1);
    case exit_mode::exception:
      throw std::runtime_error("scenario: the exception --exit exception asked for");
    case exit_mode::immediate:
      _exit(0);
    case exit_mode::abort:
      std::abort();
    case exit_mode::wait:
      for (;;) pause();
  }
  std::abort();
}

}  // namespace scenario

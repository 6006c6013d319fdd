#include "scenario.hpp"

#include <afterlife/control_client.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "lifecycle/exit.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/threads.hpp"

namespace scenario {

namespace {

constexpr std::string_view mode_names[] = {"normal",    "error", "exception",
                                           "immediate", "abort", "wait"};

[[noreturn]] void usage_error(const char* program, const std::string& what) {
  std::fprintf(stderr, "%s: %s (usage: --exit normal|error|exception|immediate|abort|wait)\n",
               program, what.c_str());
  std::exit(2);
}

}  // namespace

void write_line(int fd, std::string_view text) noexcept {
  std::string line;
  try {
    line = std::string(text) + "\n";
  } catch (...) {
    return;
  }
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

void say(std::string_view text) noexcept { write_line(STDOUT_FILENO, text); }

std::string tmp_dir() {
  const char* dir = std::getenv("TMPDIR");
  return (dir != nullptr && dir[0] != '\0') ? dir : "/tmp";
}

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
  if (!lifecycle::is_initialized()) lifecycle::initialize();
  return opts;
}

[[noreturn]] void wait_for_the_end() {
  // Interruptible: a SIGINT becomes lifecycle::keyboard_interrupt here (all phases, then the
  // process dies of SIGINT); SIGTERM and SIGKILL keep their default action.
  for (;;) lifecycle::sleep_for(std::chrono::hours(1));
}

void ready(const options& opts) {
  // The checkpoint blocks in the control client, which retries its read on EINTR; on a daemon
  // thread, it leaves the main thread free to take a SIGINT sent at the checkpoint as
  // KeyboardInterrupt (join is interruptible), as CPython's main thread does while another
  // thread blocks in C.
  lifecycle::start_thread(
      "checkpoint ready", [] { afterlife_checkpoint("ready"); }, true)
      .join();
  // Answered without being ended (or not under the harness): wait for a signal.
  if (opts.exit == exit_mode::wait) wait_for_the_end();
}

void finish(const options& opts) {
  switch (opts.exit) {
    case exit_mode::normal:
      lifecycle::exit(0);
    case exit_mode::error:
      lifecycle::exit(1);
    case exit_mode::exception:
      // Nothing catches it: the runtime prints the traceback, runs every phase, exits 1.
      throw std::runtime_error("scenario: the exception --exit exception asked for");
    case exit_mode::immediate:
      lifecycle::immediate_exit(0);
    case exit_mode::abort:
      lifecycle::fatal_error("scenario: --exit abort");
    case exit_mode::wait:
      wait_for_the_end();
  }
  std::abort();
}

}  // namespace scenario

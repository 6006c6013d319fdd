// What the runtime scenarios (gc, finalizers, atexit, threads, exit paths) share: an unbuffered
// way to say things, the phase the process is in when a finalizer runs, and a count of the
// warnings it printed. Everything is constinit plain data: these programs study exit, so they
// must not depend on static constructors or destructors themselves.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <string_view>

#include "lifecycle/phases.hpp"
#include "lifecycle/warnings.hpp"
#include "scenario.hpp"

namespace runtime_scenario {

// One line with one write(2): nothing waits in a stdio buffer that _exit would lose, and lines
// written by finalizers keep their order with the runtime's own reports.
inline void write_line(int fd, std::string_view text) noexcept {
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

inline void say(std::string_view text) noexcept { write_line(STDOUT_FILENO, text); }

// ---- the phase finalization is in ------------------------------------------------------------

namespace detail {
inline constinit std::atomic<int> current_phase{-1};  // -1: not finalizing
inline void note_phase(void*, lifecycle::phase p, lifecycle::phase_event e) noexcept {
  if (e == lifecycle::phase_event::begin) current_phase.store(static_cast<int>(p));
}
}  // namespace detail

// Observes the phases of this runtime cycle (call after initialize, i.e. after scenario::parse).
inline void track_phases() { lifecycle::add_phase_observer(&detail::note_phase, nullptr); }

// "running" before finalization, else the name of the phase that began last.
inline std::string_view phase_now() noexcept {
  int p = detail::current_phase.load();
  return p < 0 ? std::string_view("running")
               : lifecycle::phase_name(static_cast<lifecycle::phase>(p));
}

// ---- warnings --------------------------------------------------------------------------------

namespace detail {
inline constinit std::atomic<int> warnings_seen{0};
inline void counting_sink(lifecycle::warning_category category, std::string_view text) noexcept {
  warnings_seen.fetch_add(1);
  lifecycle::write_warning_to_stderr(category, text);
}
}  // namespace detail

// Counts every warning lifecycle prints (still printing it), so a scenario can say at the very
// end how many there were: the harness can only look for lines, not for their absence.
inline void count_warnings() noexcept { lifecycle::set_warning_sink(&detail::counting_sink); }
inline int warnings_seen() noexcept { return detail::warnings_seen.load(); }

}  // namespace runtime_scenario

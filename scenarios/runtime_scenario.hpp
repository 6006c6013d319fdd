// What the runtime scenarios (gc, finalizers, atexit, threads, exit paths) share: an unbuffered
// way to say things, the phase the process is in when a finalizer runs, and a count of the
// warnings it printed. Everything is constinit plain data: these programs study exit, so they
// must not depend on static constructors or destructors themselves.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <cerrno>
#include <string>
#include <string_view>

#include "lifecycle/atexit.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/resources.hpp"
#include "lifecycle/warnings.hpp"
#include "scenario.hpp"

namespace runtime_scenario {

using scenario::say;
using scenario::write_line;

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

// ---- a segment an atexit callback unlinks --------------------------------------------------------

namespace detail {
// On the heap: an exception escaping main does not unwind main's frames, and the callback owns
// the segment's end.
inline constinit lifecycle::shared_memory* atexit_segment = nullptr;
inline void unlink_segment() {
  std::string name = atexit_segment->name();
  atexit_segment->unlink();
  atexit_segment->close();
  delete atexit_segment;
  atexit_segment = nullptr;
  say("atexit: unlinked " + name);
}
}  // namespace detail

// Creates a 4 KiB POSIX shared memory segment holding `content` and registers the atexit
// callback `unlink_segment` that unlinks it: whether it is left behind tells whether atexit ran.
inline void create_segment_unlinked_at_exit(const std::string& name, std::string_view content) {
  detail::atexit_segment = new lifecycle::shared_memory(lifecycle::create, name, 4096);
  std::memcpy(detail::atexit_segment->data().data(), content.data(), content.size());
  lifecycle::atexit::register_callback("unlink_segment", &detail::unlink_segment);
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

namespace detail {
inline constinit const char* warnings_reporter = "";
inline void report_warnings() {
  say(fmt::format("{}: warnings={}", warnings_reporter, warnings_seen.load()));
}
}  // namespace detail

// Counts warnings from now on and prints `PROGRAM: warnings=N` after every phase (from a
// low-level exit function), so the catalog can check that a tidy program printed none.
inline void report_warnings_at_exit(const char* program) noexcept {
  count_warnings();
  detail::warnings_reporter = program;
  (void)lifecycle::register_low_level_exit(&detail::report_warnings);
}

}  // namespace runtime_scenario

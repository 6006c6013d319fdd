// The ten finalization phases (DESIGN.md "The finalization sequence") and the observers that
// hear `phase NAME begin|end`. The names are a contract: reports, the harness and tests read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lifecycle {

// In the order finalize() runs them.
enum class phase : std::uint8_t {
  wait_for_threads,
  atexit,
  mark_finalizing,
  flush_streams,
  collect,
  finalize_modules,
  clear_objects,
  stop_tracer,
  release_allocator,
  low_level_exit,
};
inline constexpr std::size_t phase_count = 10;

enum class phase_event : std::uint8_t { begin, end };

// "wait_for_threads", "atexit", ... (the contract names).
std::string_view phase_name(phase p) noexcept;
std::string_view phase_event_name(phase_event e) noexcept;

// Called on the finalizing thread, in order, for every phase begin and end. Must not throw.
using phase_observer = void (*)(void* context, phase p, phase_event e) noexcept;

inline constexpr std::size_t max_phase_observers = 8;

// Observers belong to one runtime cycle: initialize() installs the built-in ones the
// environment asks for (LIFECYCLE_TRACE=1: a stderr line `lifecycle: phase NAME begin`;
// AFTERLIFE_SOCKET: `phase NAME begin|end` to the harness), finalize() forgets them all after
// the last phase. Throws std::length_error past max_phase_observers and std::logic_error when
// the runtime is not initialized.
void add_phase_observer(phase_observer observer, void* context);
// Returns whether it was registered.
bool remove_phase_observer(phase_observer observer, void* context) noexcept;

}  // namespace lifecycle

// The finalization phases (docs/architecture.md, "The finalization phases") and the observers
// that hear `phase NAME begin|end`. The names are a contract: reports, the harness and tests
// read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lifecycle {

// The one declaration of the phases, in the order finalize() runs them: X(name, what it does).
// Everything else comes from it: the enum, phase_count, the contract names (phase_name), and a
// test holds the phase table of lifecycle/README.md and docs/architecture.md to it. A new phase
// is one line here, its step in finalize() (runtime.cpp) and its rows in those tables.
#define LIFECYCLE_PHASES(X)                                                       \
  X(wait_for_threads, "join non-daemon threads")                                  \
  X(atexit, "atexit callbacks, last registered first")                            \
  X(mark_finalizing, "is_finalizing() true; other threads stop at the lock")      \
  X(flush_streams, "flush stdout and stderr; signal handlers restored")           \
  X(collect, "a full collection with the gc callbacks")                           \
  X(finalize_modules, "module globals cleared in CPython's order")                \
  X(clear_objects, "sys and builtins released; gc.garbage reported")              \
  X(stop_tracer, "the tracer stops recording, keeps the live traces")             \
  X(release_allocator, "arenas unmapped; leaked blocks listed")                   \
  X(low_level_exit, "C-level exit functions, last registered first")

enum class phase : std::uint8_t {
#define LIFECYCLE_PHASE_ENUMERATOR(name, what) name,
  LIFECYCLE_PHASES(LIFECYCLE_PHASE_ENUMERATOR)
#undef LIFECYCLE_PHASE_ENUMERATOR
};
#define LIFECYCLE_PHASE_ONE(name, what) +1
inline constexpr std::size_t phase_count = 0 LIFECYCLE_PHASES(LIFECYCLE_PHASE_ONE);
#undef LIFECYCLE_PHASE_ONE

enum class phase_event : std::uint8_t { begin, end };

// "wait_for_threads", "atexit", ... (the contract names: the enumerators' own).
std::string_view phase_name(phase p) noexcept;
// What the phase does, in a few words (the registry's second column).
std::string_view phase_summary(phase p) noexcept;
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

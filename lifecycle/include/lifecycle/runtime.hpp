// Runtime init and finalization: Py_InitializeEx / Py_FinalizeEx for lifecycle programs.
//
// initialize() → work → finalize() may repeat in one process (the embedding case); each cycle
// gives back its fds, mappings, threads that ended and allocator blocks. finalize() runs the
// ten phases of docs/architecture.md in CPython's order (see lifecycle/README.md); exit.hpp has
// the ways a process ends, which call it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lifecycle/allocator.hpp"

namespace lifecycle {

struct runtime_config {
  // CPython's default: SIGINT becomes KeyboardInterrupt (lifecycle::keyboard_interrupt).
  bool install_signal_handlers = true;
  // Arena and pool sizes for this cycle (allocator_init). Objects left from a previous cycle
  // make initialize() throw std::logic_error: they would outlive their arenas.
  allocator_config allocator = {};
};

// Starts a runtime cycle: the allocator, the tracer when LIFECYCLE_TRACEMALLOC=N asks for it,
// phase observers from the environment, the sys, builtins and __main__ modules, signal
// handlers, the handler for exceptions that escape main. Throws std::logic_error when
// already initialized and std::system_error when a system resource cannot be created.
void initialize(const runtime_config& config = {});

// Returning from main() or std::exit() with the runtime initialized finalizes it too (a normal
// exit, as the end of a Python script); use lifecycle::exit (exit.hpp) to choose the status.

// Runs the ten phases and ends the cycle. 0, or -1 when a step failed (stdout or stderr
// could not be flushed: CPython's only failing step). Harmless when not initialized (returns 0)
// and when called again from inside finalization (a callback calling finalize: returns 0).
int finalize() noexcept;

bool is_initialized() noexcept;

// What the last finalize() found still alive after clear_objects: uncollectable garbage and
// leaks. The embedding case checks these stay at zero cycle after cycle. Leaked objects are
// invalid after finalize() (their arenas are unmapped): a handle to one must be release()d,
// never reset.
//
// Reports at finalization (stderr): a non-empty gc.garbage gives CPython's `ResourceWarning: gc:
// N uncollectable objects at shutdown...`; LIFECYCLE_SHOWREFCOUNT=1 prints `[N refs, M blocks]`
// (-X showrefcount); with the tracer on, blocks still in use are listed by allocation site.
struct finalize_stats {
  std::size_t leftover_objects = 0;  // objects the collector still tracked
  std::intptr_t leftover_refs = 0;   // references they held among themselves and from outside
  std::size_t blocks_in_use = 0;     // allocator blocks never freed (the exact leak figure)
};
finalize_stats last_finalize_stats() noexcept;

// sys.is_finalizing(): true from the `mark_finalizing` phase on (so false in atexit callbacks).
bool is_finalizing() noexcept;

}  // namespace lifecycle

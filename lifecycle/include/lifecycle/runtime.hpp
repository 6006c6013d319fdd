// Runtime init and finalization: Py_InitializeEx / Py_FinalizeEx for lifecycle programs.
//
// initialize() → work → finalize() may repeat in one process (the embedding case); each cycle
// gives back its fds, mappings, threads that ended and allocator blocks. finalize() runs the
// ten phases of DESIGN.md in CPython's order (see lifecycle/README.md); exit.hpp has the ways a
// process ends, which call it.
#pragma once

namespace lifecycle {

struct runtime_config {
  // CPython's default: SIGINT becomes KeyboardInterrupt (lifecycle::keyboard_interrupt).
  bool install_signal_handlers = true;
};

// Starts a runtime cycle: phase observers from the environment, the sys and builtins modules,
// signal handlers, the handler for exceptions that escape main. Throws std::logic_error when
// already initialized and std::system_error when a system resource cannot be created.
void initialize(const runtime_config& config = {});

// Runs the ten phases and ends the cycle. 0, or -1 when a step failed (stdout or stderr
// could not be flushed: CPython's only failing step). Harmless when not initialized (returns 0)
// and when called again from inside finalization (a callback calling finalize: returns 0).
int finalize() noexcept;

bool is_initialized() noexcept;

// sys.is_finalizing(): true from the `mark_finalizing` phase on (so false in atexit callbacks).
bool is_finalizing() noexcept;

}  // namespace lifecycle

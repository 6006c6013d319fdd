// The ways a lifecycle process ends (docs/architecture.md "What each way of dying leaves"),
// as CPython's:
//
//   lifecycle::exit(n)            Py_Exit / sys.exit: all ten phases, streams flushed, status n
//                                 (120 when finalization failed)
//   throw lifecycle::system_exit  the same, after unwinding, when nothing catches it
//   an uncaught exception         traceback on stderr, all phases, status 1
//   SIGINT                        keyboard_interrupt at the next check_signals() / sleep_for() on
//                                 the main thread; uncaught: traceback, all phases, then SIGINT is
//                                 re-raised with its default action (status "killed by SIGINT")
//   SIGTERM                       the default action (no phase) unless enable_orderly_sigterm()
//   immediate_exit(n)             os._exit: no phase, buffered output lost
//   fatal_error(msg)              Py_FatalError: message, abort(), no phase
#pragma once

#include <chrono>
#include <exception>
#include <string_view>

namespace lifecycle {

// SystemExit. Like Python's, not a std::exception: `catch (const std::exception&)` does not
// swallow it.
struct system_exit {
  int code = 0;
};

// KeyboardInterrupt, raised on the main thread for a SIGINT. Not a std::exception either.
struct keyboard_interrupt {};

[[noreturn]] void exit(int status) noexcept;
[[noreturn]] void immediate_exit(int status) noexcept;
[[noreturn]] void fatal_error(std::string_view message) noexcept;

// What the runtime does with an exception nothing caught (Py_RunMain's error path). Exceptions
// escaping main() reach it on their own once the runtime is initialized (a std::terminate
// handler); a program with its own top-level catch may call it directly.
[[noreturn]] void exit_from_exception(std::exception_ptr error) noexcept;

// PyErr_CheckSignals: on the main thread, throws keyboard_interrupt for a pending SIGINT and
// system_exit{128 + SIGTERM} for a pending SIGTERM under enable_orderly_sigterm(). Elsewhere a
// no-op: as in CPython, only the main thread handles signals.
void check_signals();

// Sleeps without holding the runtime lock; on the main thread it wakes for a signal and calls
// check_signals(), like time.sleep.
void sleep_for(std::chrono::milliseconds duration);

// Opts into an orderly SIGTERM for this runtime cycle: instead of the default action, SIGTERM
// becomes system_exit{143} on the main thread, so every phase runs and the status is exit 143
// (Python: signal.signal(SIGTERM, lambda *_: sys.exit(143))). Throws std::logic_error when the
// runtime is not initialized.
void enable_orderly_sigterm();

}  // namespace lifecycle

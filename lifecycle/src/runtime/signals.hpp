// Signal handling for the runtime, one implementation per OS family (signals_posix.cpp).
// The handlers only record the signal and write one byte to a wake-up pipe: everything else
// happens on the main thread at check_signals(), as CPython's trip_signal / PyErr_CheckSignals.
#pragma once

#include <chrono>

namespace lifecycle::detail {

// SIGINT → pending (KeyboardInterrupt). Throws std::system_error when the pipe or sigaction fails.
void install_signal_handlers();
// SIGTERM → pending (orderly exit) instead of its default action.
void install_orderly_sigterm_handler();
// Previous dispositions back, pipe closed, nothing pending (CPython's finalize step 8).
void restore_signal_handlers() noexcept;

// The pending signal number (SIGINT before SIGTERM), cleared; 0 when none.
int take_pending_signal() noexcept;
// Waits up to `timeout` for a signal; true when one is pending.
bool wait_for_signal(std::chrono::milliseconds timeout) noexcept;

// Runtime threads leave SIGINT and SIGTERM to the main thread.
void block_runtime_signals_in_this_thread() noexcept;

// SIGINT with its default action, sent to ourselves (CPython's exit_sigint); if we survive it,
// exit status 128 + SIGINT.
[[noreturn]] void reraise_sigint() noexcept;

}  // namespace lifecycle::detail

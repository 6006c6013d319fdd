// What the runtime's files share internally: one cycle's state and the steps finalize() calls.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "common/write_stderr.hpp"
#include "lifecycle/phases.hpp"

namespace lifecycle::detail {

// --- runtime.cpp
bool runtime_active() noexcept;  // initialized and not yet past finalize()
bool on_main_thread() noexcept;  // the thread that called initialize()
// A step of finalization failed: finalize() returns -1, exit statuses become 120.
void record_finalize_failure() noexcept;

// --- phases.cpp
void install_environment_observers();
void forget_phase_observers() noexcept;
void emit_phase(phase p, phase_event e) noexcept;

// --- atexit.cpp
void run_low_level_exit_functions() noexcept;

// --- threads.cpp (the lock outlives cycles: hung threads still wait on it)
void open_thread_cycle();                 // initialize: threads may start, the lock is free
void join_non_daemon_threads() noexcept;  // phase 1, lock not held
void close_thread_cycle() noexcept;       // mark_finalizing: the lock stops everyone else
void end_thread_cycle() noexcept;         // end of finalize: forget records, release the lock

// --- module.cpp
void init_modules();               // sys, builtins, __main__
void finalize_modules() noexcept;  // phase 6, steps (a)..(j) of CPython's finalize_modules
void release_modules() noexcept;   // sys and builtins go (phase 7)

// --- exit.cpp (write_stderr is common/write_stderr.hpp's)
// "Traceback (most recent call last):\n" ... "Type: message\n" for any exception.
std::string format_traceback(const std::exception_ptr& error) noexcept;
// Through lifecycle's unraisable hook: "Exception ignored in <where>\nType: message\n".
void report_unraisable(std::string_view where, const std::exception_ptr& error) noexcept;
void install_terminate_handler() noexcept;
void restore_terminate_handler() noexcept;

}  // namespace lifecycle::detail

#include "lifecycle/exit.hpp"

#include <cxxabi.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <thread>
#include <typeinfo>
#include <vector>

#include "lifecycle/frames.hpp"
#include "lifecycle/object.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/threads.hpp"
#include "lifecycle/unraisable.hpp"
#include "runtime/runtime_internal.hpp"
#include "runtime/signals.hpp"

namespace lifecycle {

namespace {

constinit std::terminate_handler previous_terminate = nullptr;

// The dynamic type of the exception being handled, demangled ("std::runtime_error").
std::string current_exception_type_name() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (type == nullptr) return "unknown exception";
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(type->name(), nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type->name());
}

// An exception that escaped main(): the runtime ends the process as Python does.
// Anything else that reaches std::terminate is fatal, as a crash inside CPython is.
[[noreturn]] void on_terminate() noexcept {
  std::exception_ptr error = std::current_exception();
  if (error && detail::runtime_active() && detail::on_main_thread()) exit_from_exception(error);
  if (error) {
    // Outside the runtime's main thread, or with no runtime to finalize.
    fatal_error("std::terminate called after an uncaught exception:\n" +
                detail::format_traceback(error));
  }
  fatal_error("std::terminate called without an active exception");
}

}  // namespace

namespace detail {

// The runtime frames open on this thread, oldest first, as traceback lines. For an exception
// escaping main() the stack was never unwound, so they are the frames it was thrown through.
std::string format_open_frames() {
  std::vector<const scoped_frame*> frames;
  for (const scoped_frame* f = lifecycle::detail::frame_stack_top; f != nullptr; f = f->parent()) {
    frames.push_back(f);
  }
  std::string out;
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    out += fmt::format("  File \"{}\", line {}, in {}\n", (*it)->file(), (*it)->line(),
                       (*it)->function());
  }
  return out;
}

std::string format_traceback(const std::exception_ptr& error) noexcept {
  try {
    std::string out = "Traceback (most recent call last):\n" + format_open_frames();
    try {
      std::rethrow_exception(error);
    } catch (const keyboard_interrupt&) {
      out += "KeyboardInterrupt\n";
    } catch (const system_exit& exit) {
      out += fmt::format("SystemExit: {}\n", exit.code);
    } catch (const python_error& e) {
      out += fmt::format("{}: {}\n", e.type_name(), e.what());
    } catch (const std::exception& e) {
      out += fmt::format("{}: {}\n", current_exception_type_name(), e.what());
    } catch (...) {
      out += current_exception_type_name() + "\n";
    }
    return out;
  } catch (...) {
    return "Traceback (most recent call last):\n<the traceback could not be formatted>\n";
  }
}

void report_unraisable(std::string_view where, const std::exception_ptr& error) noexcept {
  try {
    lifecycle::report_unraisable(error, fmt::format("Exception ignored in {}", where), nullptr);
  } catch (...) {
    write_stderr("Exception ignored (the report could not be formatted)\n");
  }
}

void install_terminate_handler() noexcept { previous_terminate = std::set_terminate(on_terminate); }

void restore_terminate_handler() noexcept {
  std::set_terminate(previous_terminate);
  previous_terminate = nullptr;
}

}  // namespace detail

void exit(int status) noexcept {
  // Py_Exit: a failed finalization turns any status into 120, a value unlikely to be confused
  // with the program's own.
  if (finalize() < 0) status = 120;
  std::exit(status);
}

void immediate_exit(int status) noexcept { _exit(status); }

void fatal_error(std::string_view message) noexcept {
  // Straight to fd 2 and abort(): no phase, stdout's buffer is not flushed (Py_FatalError only
  // flushes stderr, which is unbuffered here).
  detail::write_stderr("Fatal runtime error: ");
  detail::write_stderr(message);
  detail::write_stderr("\n");
  std::abort();
}

void exit_from_exception(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const system_exit& request) {
    lifecycle::exit(request.code);
  } catch (const keyboard_interrupt&) {
    // Traceback first, then every phase (atexit included), then die of SIGINT so the parent
    // sees the real cause (CPython's exit_sigint); a failed finalization changes nothing.
    detail::write_stderr(detail::format_traceback(error));
    (void)finalize();
    detail::reraise_sigint();
  } catch (...) {
    detail::write_stderr(detail::format_traceback(error));
    lifecycle::exit(1);
  }
  std::abort();  // unreachable: every branch above ends the process
}

void check_signals() {
  if (!detail::on_main_thread()) return;
  switch (detail::take_pending_signal()) {
    case SIGINT:
      throw keyboard_interrupt{};
    case SIGTERM:
      throw system_exit{128 + SIGTERM};
    default:
      return;
  }
}

void sleep_for(std::chrono::milliseconds duration) {
  runtime_unlocked unlocked;
  if (!detail::on_main_thread()) {
    std::this_thread::sleep_for(duration);
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + duration;
  check_signals();
  for (auto now = std::chrono::steady_clock::now(); now < deadline;
       now = std::chrono::steady_clock::now()) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    if (detail::wait_for_signal(left)) check_signals();
  }
}

void enable_orderly_sigterm() {
  if (!detail::runtime_active()) {
    throw std::logic_error("lifecycle::enable_orderly_sigterm: the runtime is not initialized");
  }
  detail::install_orderly_sigterm_handler();
}

}  // namespace lifecycle

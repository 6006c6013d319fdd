// One real child process per exit path: `lifecycle_child CASE`. tests/lifecycle/exit_paths_test
// runs each case and asserts its exit status, output and phase trace (LIFECYCLE_TRACE=1).
// Events go to stderr through write(2) so that they interleave exactly with the phase trace.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "lifecycle/frames.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/module.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/threads.hpp"
#include "lifecycle/types.hpp"

namespace {

void event(const std::string& text) {
  std::string line = "event " + text + "\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

void say(int n) { event(fmt::format("atexit {}", n)); }
void say_pair(int n, std::string word) { event(fmt::format("atexit {} {}", n, word)); }
void fail() {
  event("atexit failing");
  throw std::runtime_error("boom in atexit");
}
void finalizing_state() {
  event(fmt::format("atexit is_finalizing={}", lifecycle::is_finalizing()));
}

// Buffered stdout (not flushed by hand): present after a normal exit, lost after an immediate one.
void buffered_stdout() { std::fputs("buffered output\n", stdout); }

int exit_normal() {
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  lifecycle::exit(0);
}

int exit_error() {
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  lifecycle::exit(1);
}

// stdout cannot be flushed at exit: CPython's `print(...)` with fd 1 closed gives status 120.
int flush_failure() {
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  ::close(STDOUT_FILENO);
  lifecycle::exit(0);
}

int uncaught() {
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  throw std::runtime_error("boom from main");
}

int uncaught_system_exit() {
  lifecycle::atexit::register_callback("say", &say, 1);
  throw lifecycle::system_exit{3};
}

int immediate() {
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  lifecycle::immediate_exit(4);
}

int fatal() {
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  lifecycle::fatal_error("boom");
}

int sigint() {
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  ::kill(::getpid(), SIGINT);
  lifecycle::sleep_for(std::chrono::seconds(20));
  event("sleep ended without KeyboardInterrupt");
  return 0;
}

int sigterm_default() {
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  ::kill(::getpid(), SIGTERM);
  lifecycle::sleep_for(std::chrono::seconds(20));
  event("survived SIGTERM");
  return 0;
}

int sigterm_orderly() {
  lifecycle::enable_orderly_sigterm();
  lifecycle::atexit::register_callback("say", &say, 1);
  buffered_stdout();
  ::kill(::getpid(), SIGTERM);
  lifecycle::sleep_for(std::chrono::seconds(20));
  event("sleep ended without SystemExit");
  return 0;
}

int atexit_order() {
  lifecycle::atexit::register_callback("say", &say, 1);
  lifecycle::atexit::register_callback("fail", &fail);
  lifecycle::atexit::register_callback("say_pair", &say_pair, 2, std::string("two"));
  lifecycle::atexit::register_callback("finalizing_state", &finalizing_state);
  lifecycle::atexit::register_callback("say", &say, 3);
  event("main done");
  lifecycle::exit(0);
}

void low_level(int n) { event(fmt::format("low-level {}", n)); }
template <int N>
void low_level_n() {
  low_level(N);
}

template <int... N>
int register_low_level(std::integer_sequence<int, N...>) {
  return (0 + ... + (lifecycle::register_low_level_exit(&low_level_n<N>) ? 1 : 0));
}

int low_level_exit() {
  int accepted = register_low_level(std::make_integer_sequence<int, 33>{});
  event(fmt::format("low-level accepted {}", accepted));
  lifecycle::atexit::register_callback("say", &say, 1);
  lifecycle::exit(0);
}

std::atomic<bool> daemon_go{false};
std::atomic<bool> daemon_waiting{false};
void release_daemon() {
  event("atexit releases daemon");
  daemon_go = true;
  // Spin without giving up the runtime lock (a sleep_for would give it up, as time.sleep
  // releases the GIL) until the daemon is about to ask for it.
  while (!daemon_waiting) std::this_thread::yield();
}

// A non-daemon worker finishes before atexit; a daemon released by an atexit callback stops at
// the runtime lock and never prints; a thread started during finalization is refused.
int threads_at_exit() {
  auto worker = lifecycle::start_thread("worker", [] {
    lifecycle::sleep_for(std::chrono::milliseconds(200));
    event("worker done");
  });
  auto daemon = lifecycle::start_thread(
      "daemon",
      [] {
        event("daemon started");
        while (!daemon_go) lifecycle::sleep_for(std::chrono::milliseconds(5));
        event("daemon asks for the runtime lock");
        daemon_waiting = true;
        lifecycle::runtime_lock_guard lock;
        event("daemon ran after atexit");
      },
      true);
  lifecycle::add_phase_observer(
      [](void*, lifecycle::phase p, lifecycle::phase_event e) noexcept {
        if (p != lifecycle::phase::collect || e != lifecycle::phase_event::begin) return;
        try {
          lifecycle::start_thread("late", [] {});
          event("late thread started");
        } catch (const std::runtime_error& error) {
          event(fmt::format("late thread refused: {}", error.what()));
        }
      },
      nullptr);
  lifecycle::sleep_for(std::chrono::milliseconds(50));
  lifecycle::atexit::register_callback("release_daemon", &release_daemon);
  event("main done");
  lifecycle::exit(0);
}

int thread_exception() {
  auto worker = lifecycle::start_thread("failing worker", [] { throw std::logic_error("boom"); });
  worker.join();
  event(fmt::format("joined alive={}", worker.is_alive()));
  lifecycle::exit(0);
}

// A self-cycle whose class has a legacy finalizer (tp_del): uncollectable, so gc.garbage holds
// it at shutdown.
void make_uncollectable_cycle() {
  auto legacy =
      lifecycle::new_class("Legacy", {.del = {}, .legacy_del = [](lifecycle::object*) {}});
  auto instance = lifecycle::new_instance(legacy);
  instance->set_attr("self", instance);
  lifecycle::main_module()->dict->set("legacy", instance);
}

int garbage_default() {
  make_uncollectable_cycle();
  lifecycle::exit(0);
}

int garbage_uncollectable() {
  lifecycle::gc::set_debug(lifecycle::gc::debug_uncollectable);
  make_uncollectable_cycle();
  lifecycle::exit(0);
}

int garbage_saveall() {
  lifecycle::gc::set_debug(lifecycle::gc::debug_saveall);
  make_uncollectable_cycle();
  lifecycle::exit(0);
}

int clean() {
  lifecycle::main_module()->dict->set("data", lifecycle::new_list());
  lifecycle::exit(0);
}

// An instance nobody owns any more (one reference too many): a leak the tracer can place.
void leak_an_instance() {
  lifecycle::scoped_frame frame("leak_an_instance");
  auto cls = lifecycle::new_class("Leaky");
  auto instance = lifecycle::new_instance(cls);
  instance->set_attr("payload", lifecycle::new_str("kept forever"));
  lifecycle::incref(instance.get());
}

int leak() {
  leak_an_instance();
  lifecycle::exit(0);
}

[[noreturn]] void parse_config() {
  lifecycle::scoped_frame frame("parse_config");
  throw lifecycle::python_error("ValueError", "bad config");
}

void load() {
  lifecycle::scoped_frame frame("load");
  parse_config();
}

// The traceback of an exception escaping main lists the runtime frames it went through.
int uncaught_in_frames() {
  lifecycle::scoped_frame frame("main");
  load();
  return 0;
}

// SIGINT while the main thread waits in join: KeyboardInterrupt there, then finalization waits
// for the (non-daemon) worker in its first phase, then the process dies of SIGINT.
int sigint_in_join() {
  auto worker = lifecycle::start_thread("worker", [] {
    ::kill(::getpid(), SIGINT);  // runtime threads block SIGINT: it goes to the main thread
    lifecycle::sleep_for(std::chrono::milliseconds(300));
    event("worker done");
  });
  worker.join();
  event("join returned");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<int()>> cases = {
      {"exit_normal", exit_normal},
      {"exit_error", exit_error},
      {"flush_failure", flush_failure},
      {"uncaught", uncaught},
      {"uncaught_system_exit", uncaught_system_exit},
      {"immediate", immediate},
      {"fatal", fatal},
      {"sigint", sigint},
      {"sigterm_default", sigterm_default},
      {"sigterm_orderly", sigterm_orderly},
      {"atexit_order", atexit_order},
      {"low_level_exit", low_level_exit},
      {"threads_at_exit", threads_at_exit},
      {"thread_exception", thread_exception},
      {"garbage_default", garbage_default},
      {"garbage_uncollectable", garbage_uncollectable},
      {"garbage_saveall", garbage_saveall},
      {"clean", clean},
      {"leak", leak},
      {"uncaught_in_frames", uncaught_in_frames},
      {"sigint_in_join", sigint_in_join},
  };
  auto found = argc == 2 ? cases.find(argv[1]) : cases.end();
  if (found == cases.end()) {
    std::fprintf(stderr, "usage: lifecycle_child CASE\n");
    return 2;
  }
  lifecycle::initialize();
  return found->second();
}

// A daemon thread that is still running at exit is not joined: it keeps working through
// `wait_for_threads`, stops when the finalizing thread takes the runtime lock for the atexit
// phase, and from `mark_finalizing` on it waits at that lock forever (CPython 3.14; 3.11 ended
// it with pthread_exit). The program counts its ticks (each under the runtime lock): a
// low-level exit function, after every phase, sees no tick since the atexit callback, the thread
// still alive, and it among the runtime lock's waiters (blocked, never ended):
//   daemon: ticks before exit>0: yes
//   daemon: ticks since atexit=0, alive=true, waiting at the runtime lock=1
// _exit, abort and signals without phases just end it with the process.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "lifecycle/threads.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constinit std::atomic<long> ticks{0};
constinit std::atomic<long> ticks_at_atexit{-1};
constinit lifecycle::thread* ticker = nullptr;

void daemon_body() {
  for (;;) {
    {
      runtime_lock_guard lock;  // touches managed state: needs the lock
      ticks.fetch_add(1);
    }
    lifecycle::sleep_for(std::chrono::milliseconds(1));
  }
}

void note_ticks() {
  ticks_at_atexit.store(ticks.load());
  runtime_scenario::say(
      fmt::format("daemon: ticks before exit>0: {}", ticks.load() > 0 ? "yes" : "no"));
}

// Runs after every phase. The daemon is blocked at the runtime lock, not merely descheduled:
// it is counted among the lock's waiters (waited for, bounded, since it may still be on its
// way from its last sleep).
void report() {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (lifecycle::detail::runtime_lock_waiters() == 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  runtime_scenario::say(fmt::format(
      "daemon: ticks since atexit={}, alive={}, waiting at the runtime lock={}",
      ticks.load() - ticks_at_atexit.load(), ticker->is_alive(), lifecycle::detail::runtime_lock_waiters()));
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  (void)register_low_level_exit(&report);
  ticker = new lifecycle::thread(start_thread("ticker", &daemon_body, /*daemon=*/true));
  atexit::register_callback("note_ticks", &note_ticks);
  // Let it tick before the program ends, so "stopped" means something.
  while (ticks.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  scenario::ready(opts);
  scenario::finish(opts);
}

// Runtime threads and the runtime lock, in this process. (A daemon thread stopping at the lock
// for good is tested in a child: exit_paths_test.)
#include "lifecycle/threads.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/runtime.hpp"

namespace {

using namespace lifecycle;
using namespace std::chrono_literals;

std::atomic<bool> worker_finished{false};
std::vector<std::string>* event_log = nullptr;

void check_worker() {
  event_log->push_back(worker_finished ? "atexit: worker finished" : "atexit: worker running");
}

}  // namespace

TEST_CASE("non-daemon threads are joined in the first phase, before atexit") {
  std::vector<std::string> seen;
  event_log = &seen;
  worker_finished = false;
  initialize();
  start_thread("worker", [] {
    sleep_for(150ms);
    worker_finished = true;
  });
  atexit::register_callback("check_worker", &check_worker);
  CHECK(active_thread_count() == 1);
  REQUIRE(finalize() == 0);
  CHECK(seen == std::vector<std::string>{"atexit: worker finished"});
}

TEST_CASE("starting a thread from mark_finalizing on fails cleanly") {
  std::string refused;
  initialize();
  add_phase_observer(
      [](void* context, phase p, phase_event e) noexcept {
        if (p != phase::mark_finalizing || e != phase_event::end) return;
        try {
          start_thread("late", [] {});
        } catch (const std::runtime_error& error) {
          *static_cast<std::string*>(context) = error.what();
        }
      },
      &refused);
  REQUIRE(finalize() == 0);
  CHECK(refused == "can't create new thread at interpreter shutdown");
  CHECK_THROWS_AS(start_thread("no runtime", [] {}), std::logic_error);
}

TEST_CASE("thread handles: name, daemon flag, join, is_alive") {
  initialize();
  std::atomic<bool> release{false};
  auto t = start_thread(
      "named",
      [&] {
        while (!release) sleep_for(1ms);
      },
      true);
  CHECK(t.name() == "named");
  CHECK(t.daemon());
  CHECK(t.is_alive());
  release = true;
  t.join();
  CHECK_FALSE(t.is_alive());
  CHECK(active_thread_count() == 0);
  thread empty;
  CHECK_THROWS_AS(empty.join(), std::logic_error);
  CHECK_FALSE(empty.is_alive());
  REQUIRE(finalize() == 0);
}

TEST_CASE("the runtime lock is recursive for its owner and excludes other threads") {
  initialize();
  acquire_runtime_lock();
  acquire_runtime_lock();
  CHECK(runtime_lock_held());
  std::atomic<bool> entered{false};
  auto t = start_thread("contender", [&] {
    runtime_lock_guard lock;
    entered = true;
  });
  t.join();        // join gives the lock up while it waits, as Thread.join gives up the GIL...
  CHECK(entered);  // ...so the contender got in and left
  entered = false;
  auto blocked = start_thread("contender", [&] {
    runtime_lock_guard lock;
    entered = true;
  });
  // The contender is provably waiting at the lock (not merely not scheduled yet) and stays out:
  // the owner's plain sleep keeps the lock.
  auto give_up = std::chrono::steady_clock::now() + 10s;
  while (detail::runtime_lock_waiters() != 1 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(1ms);
  REQUIRE(detail::runtime_lock_waiters() == 1);
  std::this_thread::sleep_for(20ms);
  CHECK(detail::runtime_lock_waiters() == 1);
  CHECK_FALSE(entered);
  release_runtime_lock();
  CHECK(runtime_lock_held());  // still once
  {
    runtime_unlocked unlocked;  // gives up both levels for a blocking wait
    CHECK_FALSE(runtime_lock_held());
    blocked.join();
  }
  CHECK(entered);
  CHECK(runtime_lock_held());
  release_runtime_lock();
  CHECK_FALSE(runtime_lock_held());
  REQUIRE(finalize() == 0);
}

TEST_CASE("an exception escaping a thread ends that thread only") {
  initialize();
  auto t = start_thread("thrower", [] { throw std::runtime_error("boom"); });
  t.join();
  CHECK_FALSE(t.is_alive());
  REQUIRE(finalize() == 0);
}

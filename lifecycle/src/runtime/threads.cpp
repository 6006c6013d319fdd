#include "lifecycle/threads.hpp"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "lifecycle/exit.hpp"
#include "runtime/runtime_internal.hpp"
#include "runtime/signals.hpp"

namespace lifecycle {

namespace detail {

struct thread_record {
  std::string name;
  bool daemon = false;
  std::uint64_t cycle = 0;
  std::thread::id id;
  bool done = false;  // guarded by the shared state's mutex
  // Non-daemon threads are joined for real by finalization, so a finished cycle leaves no OS
  // thread (nor its stack mapping) behind; daemon threads are detached at once.
  std::thread native;
};

namespace {

enum class stage : std::uint8_t { stopped, running, finalizing };

// The lock and the thread list. Created on first use and never freed: daemon threads hung at
// the lock keep waiting on this mutex and condition variable until the process ends, across
// runtime cycles, so it must outlive every cycle (and every static destructor).
struct shared_state {
  std::mutex mutex;
  std::condition_variable changed;  // lock released, a thread ended, the stage moved
  stage current = stage::stopped;
  std::uint64_t cycle = 0;  // incremented by each initialize()
  std::thread::id owner;
  unsigned depth = 0;
  unsigned waiters = 0;  // threads blocked in acquire()
  std::thread::id finalizer;
  std::vector<std::shared_ptr<thread_record>> threads;
};

constinit shared_state* shared = nullptr;
constinit std::once_flag shared_once;

// The cycle the calling runtime thread was started in; 0 for the main thread and foreign ones.
constinit thread_local std::uint64_t my_cycle = 0;

shared_state& state() {
  std::call_once(shared_once, [] { shared = new shared_state; });
  return *shared;
}

// Whether the calling thread may take the lock now (the mutex is held).
bool may_enter(const shared_state& s, std::thread::id me) {
  bool stale = my_cycle != 0 && my_cycle != s.cycle;
  return !stale && (s.current == stage::running || s.finalizer == me);
}

// Takes the lock; blocks forever if the caller is not allowed to run any more.
void acquire(shared_state& s, unsigned depth) {
  auto me = std::this_thread::get_id();
  std::unique_lock lock(s.mutex);
  if (s.owner == me) {
    s.depth += depth;
    return;
  }
  if (s.current == stage::stopped && my_cycle == 0) {
    throw std::logic_error("lifecycle: the runtime lock needs an initialized runtime");
  }
  ++s.waiters;
  s.changed.wait(lock, [&] { return s.owner == std::thread::id{} && may_enter(s, me); });
  --s.waiters;
  s.owner = me;
  s.depth = depth;
}

// Frees the lock whatever its depth; returns the depth it had (0 when not held).
unsigned release_all(shared_state& s) noexcept {
  std::lock_guard lock(s.mutex);
  if (s.owner != std::this_thread::get_id()) return 0;
  unsigned depth = s.depth;
  s.owner = {};
  s.depth = 0;
  s.changed.notify_all();
  return depth;
}

void thread_main(std::shared_ptr<thread_record> record, std::function<void()> body) {
  block_runtime_signals_in_this_thread();
  my_cycle = record->cycle;
  try {
    body();
  } catch (...) {
    write_stderr("Exception in thread " + record->name + ":\n" +
                 format_traceback(std::current_exception()));
  }
  // A thread must not end holding the lock: nobody could ever take it again.
  auto& s = state();
  release_all(s);
  std::lock_guard lock(s.mutex);
  record->done = true;
  s.changed.notify_all();
}

void wait_until_done(shared_state& s, const std::shared_ptr<thread_record>& record) {
  std::unique_lock lock(s.mutex);
  s.changed.wait(lock, [&] { return record->done; });
}

}  // namespace

void open_thread_cycle() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.current = stage::running;
  ++s.cycle;
  s.finalizer = {};
}

void join_non_daemon_threads() noexcept {
  auto& s = state();
  auto me = std::this_thread::get_id();
  // threading._shutdown: a joined thread may have started others, so look again until none.
  for (;;) {
    std::shared_ptr<thread_record> next;
    {
      std::lock_guard lock(s.mutex);
      for (const auto& record : s.threads) {
        if (!record->daemon && !record->done && record->id != me) {
          next = record;
          break;
        }
      }
    }
    if (!next) return;
    wait_until_done(s, next);
    // `done` is set just before the thread returns: this join is short.
    if (next->native.joinable()) next->native.join();
  }
}

void close_thread_cycle() noexcept {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.current = stage::finalizing;
  s.finalizer = std::this_thread::get_id();
}

void end_thread_cycle() noexcept {
  auto& s = state();
  std::vector<std::shared_ptr<thread_record>> records;
  {
    std::lock_guard lock(s.mutex);
    records.swap(s.threads);
  }
  // Non-daemon threads started after the first phase (by atexit callbacks) were never joined:
  // the finished ones are joined now, the others (stopped at the lock) are let go.
  for (auto& record : records) {
    if (!record->native.joinable()) continue;
    bool done = false;
    {
      std::lock_guard lock(s.mutex);
      done = record->done;
    }
    if (done) {
      record->native.join();
    } else {
      record->native.detach();
    }
  }
  std::lock_guard lock(s.mutex);
  // Threads still running keep their own record; the cycle forgets them. Those waiting at the
  // lock re-check and keep waiting: their cycle is over.
  s.current = stage::stopped;
  s.finalizer = {};
  s.owner = {};
  s.depth = 0;
  s.changed.notify_all();
}

}  // namespace detail

const std::string& thread::name() const {
  if (!record_) throw std::logic_error("lifecycle::thread: empty handle");
  return record_->name;
}

bool thread::daemon() const {
  if (!record_) throw std::logic_error("lifecycle::thread: empty handle");
  return record_->daemon;
}

bool thread::is_alive() const noexcept {
  if (!record_) return false;
  auto& s = detail::state();
  std::lock_guard lock(s.mutex);
  return !record_->done;
}

void thread::join() {
  if (!record_) throw std::logic_error("lifecycle::thread::join: empty handle");
  if (record_->id == std::this_thread::get_id()) {
    throw std::logic_error("lifecycle::thread::join: cannot join the current thread");
  }
  auto& s = detail::state();
  runtime_unlocked unlocked;
  if (!detail::on_main_thread()) {
    detail::wait_until_done(s, record_);
    return;
  }
  // Thread.join() on the main thread: short waits with a signal check in between.
  for (;;) {
    {
      std::unique_lock lock(s.mutex);
      if (s.changed.wait_for(lock, std::chrono::milliseconds(20), [&] { return record_->done; })) {
        return;
      }
    }
    check_signals();
  }
}

thread start_thread(std::string name, std::function<void()> body, bool daemon) {
  auto& s = detail::state();
  auto record = std::make_shared<detail::thread_record>();
  record->name = std::move(name);
  record->daemon = daemon;
  std::lock_guard lock(s.mutex);
  if (s.current == detail::stage::stopped) {
    throw std::logic_error("lifecycle::start_thread: the runtime is not initialized");
  }
  if (s.current == detail::stage::finalizing) {
    throw std::runtime_error("can't create new thread at interpreter shutdown");
  }
  record->cycle = s.cycle;
  // Daemon threads are detached at once: one stopped at the lock must not make anything wait
  // for it. Users' join() waits on `done`; only finalization joins the std::thread.
  std::thread worker(detail::thread_main, record, std::move(body));
  record->id = worker.get_id();
  if (daemon) {
    worker.detach();
  } else {
    record->native = std::move(worker);
  }
  s.threads.push_back(record);
  return thread(record);
}

std::size_t active_thread_count() noexcept {
  auto& s = detail::state();
  std::lock_guard lock(s.mutex);
  std::size_t alive = 0;
  for (const auto& record : s.threads) alive += record->done ? 0 : 1;
  return alive;
}

void acquire_runtime_lock() { detail::acquire(detail::state(), 1); }

void release_runtime_lock() noexcept {
  auto& s = detail::state();
  std::lock_guard lock(s.mutex);
  if (s.owner != std::this_thread::get_id()) return;
  if (--s.depth == 0) {
    s.owner = {};
    s.changed.notify_all();
  }
}

unsigned detail::runtime_lock_waiters() noexcept {
  auto& s = detail::state();
  std::lock_guard lock(s.mutex);
  return s.waiters;
}

bool runtime_lock_held() noexcept {
  auto& s = detail::state();
  std::lock_guard lock(s.mutex);
  return s.owner == std::this_thread::get_id();
}

runtime_unlocked::runtime_unlocked() noexcept : depth_(detail::release_all(detail::state())) {}

runtime_unlocked::~runtime_unlocked() {
  if (depth_ > 0) detail::acquire(detail::state(), depth_);
}

}  // namespace lifecycle

// Runtime threads (threading.Thread) and the runtime lock (the GIL, as a plain lock).
//
// Non-daemon threads are joined in the first phase, before atexit. From `mark_finalizing` on,
// any thread other than the finalizing one that asks for the runtime lock blocks there forever
// (CPython 3.14; 3.11 ended such threads with pthread_exit, which unwinds C++ frames under our
// feet, so we hang them instead): that is how daemon threads stop. Starting a thread from
// mark_finalizing on throws std::runtime_error.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace lifecycle {

namespace detail {
struct thread_record;
// How many threads are blocked waiting for the runtime lock right now (tests and scenarios use
// it to know a thread is waiting, rather than inferring it from a sleep).
unsigned runtime_lock_waiters() noexcept;
}  // namespace detail

// A handle to a runtime thread; copies refer to the same thread. Finalization joins the OS
// threads of non-daemon ones (so a cycle leaves none behind); daemon threads are detached.
class thread {
 public:
  thread() = default;
  const std::string& name() const;
  bool daemon() const;
  bool is_alive() const noexcept;
  // Waits for the end of the thread without holding the runtime lock. On the main thread it
  // is interruptible like Thread.join(): a SIGINT raises keyboard_interrupt while waiting.
  // Throws std::logic_error for an empty handle or when a thread joins itself.
  void join();

 private:
  friend thread start_thread(std::string, std::function<void()>, bool);
  explicit thread(std::shared_ptr<detail::thread_record> record) : record_(std::move(record)) {}
  std::shared_ptr<detail::thread_record> record_;
};

// Starts body on a new thread. An exception escaping body is reported as
// `Exception in thread NAME:` with its traceback (threading.excepthook) and ends the thread.
// SIGINT and SIGTERM are blocked in runtime threads, so they reach the main thread.
// Throws std::runtime_error("can't create new thread at interpreter shutdown") from
// mark_finalizing on, std::logic_error when the runtime is not initialized.
thread start_thread(std::string name, std::function<void()> body, bool daemon = false);

// Runtime threads started in this cycle and not yet ended.
std::size_t active_thread_count() noexcept;

// The runtime lock: hold it while touching managed objects from more than one thread. It is
// recursive for its owner. Finalization takes it before the atexit phase and keeps it.
void acquire_runtime_lock();
void release_runtime_lock() noexcept;
bool runtime_lock_held() noexcept;  // by the calling thread

class runtime_lock_guard {
 public:
  runtime_lock_guard() { acquire_runtime_lock(); }
  ~runtime_lock_guard() { release_runtime_lock(); }
  runtime_lock_guard(const runtime_lock_guard&) = delete;
  runtime_lock_guard& operator=(const runtime_lock_guard&) = delete;
};

// Py_BEGIN_ALLOW_THREADS / Py_END_ALLOW_THREADS: gives the lock up entirely (whatever the
// recursion depth) for a blocking wait and takes it back afterwards; nothing when not held.
class runtime_unlocked {
 public:
  runtime_unlocked() noexcept;
  ~runtime_unlocked();
  runtime_unlocked(const runtime_unlocked&) = delete;
  runtime_unlocked& operator=(const runtime_unlocked&) = delete;

 private:
  unsigned depth_ = 0;
};

}  // namespace lifecycle

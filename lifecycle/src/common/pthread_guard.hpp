// Holds a pthread mutex for a scope. lifecycle's process-wide locks are statically initialised
// pthread mutexes (PTHREAD_MUTEX_INITIALIZER, constinit, never destroyed): they work before any
// constructor runs and after every static destructor, when allocations, frees and resource
// cleanup still happen, and fork handlers can take them.
#pragma once

#include <pthread.h>

namespace lifecycle::detail {

class pthread_guard {
 public:
  explicit pthread_guard(pthread_mutex_t& mutex) noexcept : mutex_(mutex) {
    pthread_mutex_lock(&mutex_);
  }
  ~pthread_guard() { pthread_mutex_unlock(&mutex_); }
  pthread_guard(const pthread_guard&) = delete;
  pthread_guard& operator=(const pthread_guard&) = delete;

 private:
  pthread_mutex_t& mutex_;
};

}  // namespace lifecycle::detail

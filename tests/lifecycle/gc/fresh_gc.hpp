// A test fixture for the object, gc and weakref tests: every test starts and ends with an empty
// collector in its default configuration.
#pragma once

#include "gc/gc_shutdown.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"

struct fresh_gc {
  fresh_gc() { reset(); }
  ~fresh_gc() { reset(); }
  fresh_gc(const fresh_gc&) = delete;
  fresh_gc& operator=(const fresh_gc&) = delete;
  static void reset() {
    lifecycle::gc::garbage()->clear();
    lifecycle::gc::detail::collect_no_fail();
    lifecycle::gc::detail::reset_state();
  }
};

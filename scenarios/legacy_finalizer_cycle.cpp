// A cycle through objects with a legacy finalizer (tp_del, Python 2's __del__): the collector
// cannot know a safe order to call them, so it calls none, keeps the whole cycle alive and
// appends the legacy objects to gc.garbage. An explicit gc.collect() before checkpoint `ready`
// shows it; at exit the clear_objects phase reports the garbage as CPython's shutdown does:
//   ResourceWarning: gc: 2 uncollectable objects at shutdown; use
//   gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them
// and the legacy finalizers are never called (low_level_exit prints the count, 0). No phase
// runs on _exit, abort or default-action signals, so nothing is reported there.
#include <fmt/format.h>

#include <atomic>

#include "lifecycle/atexit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constinit std::atomic<int> legacy_calls{0};

// a.other = b; b.other = a; del a, b — with tp_del on the class.
void build_and_drop_cycle() {
  auto legacy =
      new_class("Legacy", {.del = {}, .legacy_del = [](object*) { legacy_calls.fetch_add(1); }});
  auto a = new_instance(legacy);
  auto b = new_instance(legacy);
  a->set_attr("other", b);
  b->set_attr("other", a);
}

void collect_into_garbage() {
  std::size_t found = gc::collect();
  runtime_scenario::say(
      fmt::format("gc.collect() -> {} unreachable, len(gc.garbage)={}, legacy finalizer calls={}",
                  found, gc::garbage()->size(), legacy_calls.load()));
}

void report_calls() {
  runtime_scenario::say(
      fmt::format("legacy_finalizer_cycle: legacy finalizer calls={}", legacy_calls.load()));
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  (void)register_low_level_exit(&report_calls);
  build_and_drop_cycle();
  collect_into_garbage();
  scenario::ready(opts);
  scenario::finish(opts);
}

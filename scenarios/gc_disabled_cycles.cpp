// gc.disable(): cycles are no longer collected automatically, however many pile up —
// gc.get_count()[0] climbs far past threshold 700 — but gc.collect() still works. Before
// checkpoint `ready` the program makes 1000 garbage cycles, shows the count and the tracked
// objects, collects them by hand, then makes 500 more (each with a __del__) and leaves them.
// At exit (CPython 3.11's Py_FinalizeEx): the `collect` phase does nothing while gc is
// disabled; the collections inside finalize_modules (_PyGC_CollectNoFail) ignore the switch,
// so the 1000 finalizers (two per cycle) all run there:
//   gc_disabled_cycles: finalizers in collect=0, in finalize_modules=1000, elsewhere=0
// (printed by a low-level exit function, after every phase). No phase, no finalizer on _exit,
// abort and default-action signals.
#include <fmt/format.h>

#include <atomic>

#include "lifecycle/atexit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constinit std::atomic<int> finalized_in_collect{0};
constinit std::atomic<int> finalized_in_finalize_modules{0};
constinit std::atomic<int> finalized_elsewhere{0};

void pair_del(object*) {
  auto phase = runtime_scenario::phase_now();
  if (phase == "collect") {
    finalized_in_collect.fetch_add(1);
  } else if (phase == "finalize_modules") {
    finalized_in_finalize_modules.fetch_add(1);
  } else {
    finalized_elsewhere.fetch_add(1);
  }
}

// n times: a = Pair(); b = Pair(); a.other = b; b.other = a; del a, b
void make_cycles(const handle<class_object>& cls, int n) {
  for (int i = 0; i < n; ++i) {
    auto a = new_instance(cls);
    auto b = new_instance(cls);
    a->set_attr("other", b);
    b->set_attr("other", a);
  }
}

// Figures relative to the start, so the runtime's own objects do not matter.
struct figures {
  std::size_t gen0_count;
  std::size_t tracked;
  std::size_t collections;
};

figures now() {
  return {gc::get_count()[0], gc::detail::tracked_count(), gc::get_stats()[0].collections};
}

void show(std::string_view when, const figures& start) {
  figures f = now();
  runtime_scenario::say(fmt::format(
      "{}: gc.isenabled()={} get_count()[0] {:+} (threshold {}), tracked {:+}, automatic "
      "collections {}",
      when, gc::is_enabled(), static_cast<long>(f.gen0_count) - static_cast<long>(start.gen0_count),
      gc::get_threshold().threshold0,
      static_cast<long>(f.tracked) - static_cast<long>(start.tracked),
      f.collections - start.collections));
}

void report() {
  runtime_scenario::say(fmt::format(
      "gc_disabled_cycles: finalizers in collect={}, in finalize_modules={}, elsewhere={}",
      finalized_in_collect.load(), finalized_in_finalize_modules.load(),
      finalized_elsewhere.load()));
}

void pile_up_cycles() {
  gc::disable();
  figures start = now();
  make_cycles(new_class("Pair"), 1000);
  show("after 1000 cycles", start);
  runtime_scenario::say(fmt::format("gc.collect() -> {} unreachable", gc::collect()));
  start = now();
  make_cycles(new_class("Pair", {.del = &pair_del, .legacy_del = {}}), 500);
  show("after 500 more with __del__", start);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  runtime_scenario::track_phases();
  (void)register_low_level_exit(&report);
  pile_up_cycles();
  scenario::ready(opts);
  scenario::finish(opts);
}

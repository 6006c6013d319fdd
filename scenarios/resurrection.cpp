// Resurrection (PEP 442): a finalizer stores its object in a global, so the collected cycle
// comes back to life. Before checkpoint `ready`: a self-cycle with such a __del__ is
// collected; the finalizer runs once, the object survives (resurrected objects are not counted
// as collected), and a weakref made before is nonetheless dead (weakrefs to garbage are
// cleared before finalizers run). The program then drops the resurrected object again and
// collects: it is freed this time, and its finalizer is not called again (finalized once):
//   first collect: finalizer calls=1, survived=true, old weakref alive=false
//   second collect: finalizer calls=1, freed=true
// With phases, a low-level exit function confirms nothing called it since:
//   resurrection: finalizer calls=1, freed=1, still saved=false
#include <fmt/format.h>

#include <atomic>

#include "lifecycle/atexit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "lifecycle/weakref.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constinit std::atomic<int> finalizer_calls{0};
constinit std::atomic<int> freed{0};
// The global the finalizer stores its object into (a strong reference; nullptr when empty).
constinit object* saved = nullptr;

void phoenix_del(object* self) {
  finalizer_calls.fetch_add(1);
  incref(self);  // saved = self
  saved = self;
}

handle<instance_object> phoenix(const handle<class_object>& cls) {
  auto p = new_instance(cls);
  p->set_attr("self", p);  // a cycle: only the collector can find it dead
  return p;
}

// A weakref whose callback counts the object's real death.
handle<weakref_object> watch(const ref& target) {
  return new_weakref(target, [](const handle<weakref_object>&) { freed.fetch_add(1); });
}

void resurrect_then_free(const handle<class_object>& cls) {
  handle<weakref_object> before_death;
  {
    auto p = phoenix(cls);
    before_death = new_weakref(p);
  }
  gc::collect();
  runtime_scenario::say(
      fmt::format("first collect: finalizer calls={}, survived={}, old weakref alive={}",
                  finalizer_calls.load(), saved != nullptr, before_death->alive()));
  auto back = ref::steal(std::exchange(saved, nullptr));
  auto death = watch(back);
  back.reset();  // del saved: garbage again, still a cycle
  gc::collect();
  runtime_scenario::say(fmt::format("second collect: finalizer calls={}, freed={}",
                                    finalizer_calls.load(), freed.load() == 1));
}

void report() {
  runtime_scenario::say(fmt::format("resurrection: finalizer calls={}, freed={}, still saved={}",
                                    finalizer_calls.load(), freed.load(), saved != nullptr));
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  (void)register_low_level_exit(&report);
  auto cls = new_class("Phoenix", {.del = &phoenix_del, .legacy_del = {}});
  resurrect_then_free(cls);
  cls.reset();
  scenario::ready(opts);
  scenario::finish(opts);
}

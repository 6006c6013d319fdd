// An exception raised in a finalizer (__del__) cannot propagate: it is reported as
// "Exception ignored in: <Node object at 0x...>" / "ValueError: ..." and whatever ran the
// finalizer goes on. Before checkpoint `ready`: a 3-cycle a -> b -> c -> a whose middle node's
// __del__ raises; gc.collect() still finalizes all three and frees the cycle:
//   gc.collect() -> 6 unreachable, finalizers run=3
// At exit: __main__.last holds one more raising node, which dies in finalize_modules; the
// report is printed, every phase completes and the exit status is the one asked for (0, 1,
// SIGINT) — a low-level exit function confirms: finalizer_exception: finalizers run=4.
#include <fmt/format.h>

#include <atomic>

#include "lifecycle/atexit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/module.hpp"
#include "lifecycle/types.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constinit std::atomic<int> finalizers_run{0};

std::string name_of(object* self) {
  ref name = static_cast<instance_object*>(self)->get_attr("name");
  return name ? std::string(static_cast<str_object*>(name.get())->view()) : "?";
}

void node_del(object* self) {
  finalizers_run.fetch_add(1);
  ref raises = static_cast<instance_object*>(self)->get_attr("raises");
  if (raises && !is_none(raises.get())) {
    throw python_error("ValueError", fmt::format("boom in __del__ of {}", name_of(self)));
  }
}

handle<instance_object> node(const handle<class_object>& cls, std::string_view name, bool raises) {
  auto n = new_instance(cls);
  n->set_attr("name", new_str(name));
  n->set_attr("raises", raises ? ref(new_int(1)) : none());
  return n;
}

void collect_raising_cycle(const handle<class_object>& cls) {
  {
    auto a = node(cls, "a", false);
    auto b = node(cls, "b", true);
    auto c = node(cls, "c", false);
    a->set_attr("next", b);
    b->set_attr("next", c);
    c->set_attr("next", a);
  }
  std::size_t found = gc::collect();
  runtime_scenario::say(fmt::format("gc.collect() -> {} unreachable, finalizers run={}, garbage={}",
                                    found, finalizers_run.load(), gc::garbage()->size()));
}

void report() {
  runtime_scenario::say(
      fmt::format("finalizer_exception: finalizers run={}", finalizers_run.load()));
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  (void)register_low_level_exit(&report);
  auto cls = new_class("Node", {.del = &node_del, .legacy_del = {}});
  collect_raising_cycle(cls);
  main_module()->dict->set("last", node(cls, "last", true));
  cls.reset();
  scenario::ready(opts);
  scenario::finish(opts);
}

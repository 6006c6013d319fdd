// The articles' fix for the Node cycle: children point at their parent through a weakref, so
// the tree has no cycle and refcounting alone frees it. With gc disabled, `del root` still
// runs every finalizer at once, root first (then its list drops the children last to first), before
// checkpoint `ready`:
//   strong parents, gc disabled: del root -> finalizers run=0, tracked +N
//   weak parents, gc disabled: del root -> finalizers run=4 (root, c, b, a), tracked +0
// The strong-parent tree is the contrast: it waits for a collection. At exit the `collect`
// phase skips it (gc disabled) and the collection inside finalize_modules frees it:
//   weak_parent_gc_disabled: strong tree finalized in phase finalize_modules: 4
#include <fmt/format.h>

#include <atomic>
#include <string>

#include "lifecycle/atexit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "lifecycle/weakref.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constinit std::atomic<int> weak_finalized{0};
constinit std::atomic<int> strong_finalized{0};
constinit std::atomic<int> strong_finalized_in_finalize_modules{0};
// Names in the order the weak tree's finalizers ran (a fixed buffer: no static constructor).
constinit char weak_order[64] = {};

std::string name_of(object* self) {
  ref name = static_cast<instance_object*>(self)->get_attr("name");
  return name ? std::string(static_cast<str_object*>(name.get())->view()) : "?";
}

void weak_del(object* self) {
  weak_finalized.fetch_add(1);
  std::string order = std::string(weak_order) + (weak_order[0] != '\0' ? ", " : "") + name_of(self);
  order.copy(weak_order, sizeof weak_order - 1);
}

void strong_del(object*) {
  strong_finalized.fetch_add(1);
  if (runtime_scenario::phase_now() == "finalize_modules")
    strong_finalized_in_finalize_modules.fetch_add(1);
}

// root with children a, b, c; each child's parent is a weakref (weak) or the root itself.
void build_and_drop(const handle<class_object>& cls, bool weak_parents) {
  auto root = new_instance(cls);
  root->set_attr("name", new_str("root"));
  auto children = new_list();
  root->set_attr("children", children);
  for (const char* name : {"a", "b", "c"}) {
    auto child = new_instance(cls);
    child->set_attr("name", new_str(name));
    child->set_attr("parent", weak_parents ? ref(new_weakref(root)) : ref(root));
    children->append(child);
  }
}

void show(std::string_view what, const handle<class_object>& cls, bool weak_parents,
          const std::atomic<int>& finalized) {
  std::size_t tracked = gc::detail::tracked_count();
  build_and_drop(cls, weak_parents);
  long growth = static_cast<long>(gc::detail::tracked_count()) - static_cast<long>(tracked);
  runtime_scenario::say(
      fmt::format("{} parents, gc disabled: del root -> finalizers run={}{}, tracked +{}", what,
                  finalized.load(), weak_parents ? fmt::format(" ({})", weak_order) : "", growth));
}

void report() {
  runtime_scenario::say(
      fmt::format("weak_parent_gc_disabled: strong tree finalized in phase finalize_modules: {}",
                  strong_finalized_in_finalize_modules.load()));
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  runtime_scenario::track_phases();
  (void)register_low_level_exit(&report);
  gc::disable();
  show("strong", new_class("StrongNode", {.del = &strong_del, .legacy_del = {}}), false,
       strong_finalized);
  show("weak", new_class("WeakNode", {.del = &weak_del, .legacy_del = {}}), true, weak_finalized);
  scenario::ready(opts);
  scenario::finish(opts);
}

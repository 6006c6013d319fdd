// The articles' Node tree: a parent holds its children in a list and every child points back at
// its parent, so `del root` leaves a reference cycle that refcounting never frees. Node has a
// PEP 442 finalizer (__del__). The cycle is garbage before checkpoint `ready`, and gc never runs
// on its own here (3 nodes are far below threshold 700): the `collect` phase of finalization is
// what frees it, each finalizer running exactly once. _exit, abort and default-action signals
// run no phase, so the finalizers never run.
// Expected on normal, error, exception, SIGINT:
//   Node.__del__ root|left|right in phase collect    (stdout, once each)
//   cycle_with_finalizer: finalizer calls=3           (stdout, low_level_exit: after everything)
#include <fmt/format.h>

#include <atomic>

#include "lifecycle/atexit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constinit std::atomic<int> finalizer_calls{0};

std::string name_of(object* self) {
  ref name = static_cast<instance_object*>(self)->get_attr("name");
  return name ? std::string(static_cast<str_object*>(name.get())->view()) : "?";
}

void node_del(object* self) {
  finalizer_calls.fetch_add(1);
  runtime_scenario::say(
      fmt::format("Node.__del__ {} in phase {}", name_of(self), runtime_scenario::phase_now()));
}

handle<instance_object> new_node(const handle<class_object>& node_class, std::string_view name) {
  auto node = new_instance(node_class);
  node->set_attr("name", new_str(name));
  node->set_attr("children", new_list());
  node->set_attr("parent", none());
  return node;
}

void add_child(const handle<instance_object>& parent, const handle<instance_object>& child) {
  static_cast<list_object*>(parent->get_attr("children").get())->append(child);
  child->set_attr("parent", parent);  // the back reference that makes the cycle
}

// root = Node('root'); root.add(Node('left')); root.add(Node('right')); del root
void build_and_drop_tree() {
  auto node_class = new_class("Node", {.del = &node_del, .legacy_del = {}});
  auto root = new_node(node_class, "root");
  add_child(root, new_node(node_class, "left"));
  add_child(root, new_node(node_class, "right"));
  runtime_scenario::say(fmt::format("tree built: root refcount={} (1 name + 2 parent pointers)",
                                    refcount(root.get())));
}

void report_calls() {
  runtime_scenario::say(
      fmt::format("cycle_with_finalizer: finalizer calls={}", finalizer_calls.load()));
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  runtime_scenario::track_phases();
  (void)register_low_level_exit(&report_calls);
  build_and_drop_tree();
  runtime_scenario::say(fmt::format("after del root: finalizer calls={}, gc.get_count()[0]={}",
                                    finalizer_calls.load(), gc::get_count()[0]));
  scenario::ready(opts);
  scenario::finish(opts);
}

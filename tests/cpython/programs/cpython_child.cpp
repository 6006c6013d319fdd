// The CPython tests that run a Python child (script_helper.assert_python_ok, subprocess) run
// `cpython_child CASE [ARG]`: each case is the child's script, written with lifecycle.
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/module.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/types.hpp"

namespace {

using namespace lifecycle;

void print(const std::string& line) { std::printf("%s\n", line.c_str()); }

// class C: def __del__(self): print('__del__ called')
handle<class_object> class_printing_del(const char* name) {
  return new_class(name, {.del = [](object*) { print("__del__ called"); }, .legacy_del = {}});
}

// l = [C()]; l.append(l) in `globals`.
void list_cycle_holding_finalizable(dict_object& globals) {
  auto l = new_list();
  l->append(new_instance(class_printing_del("C")));
  l->append(l);
  globals.set("l", l);
}

// test_gc.GCTests.test_garbage_at_shutdown: X has a tp_del; x.x = x, x.y = X('second');
// del x; gc.set_debug(FLAGS).
int garbage_at_shutdown(const std::string& debug) {
  auto x_class = new_class("X", {.del = {}, .legacy_del = [](object*) {}});
  auto x = new_instance(x_class);
  x->set_attr("name", new_str("first"));
  x->set_attr("x", x);
  auto y = new_instance(x_class);
  y->set_attr("name", new_str("second"));
  x->set_attr("y", y);
  y.reset();
  x.reset();
  if (debug == "DEBUG_UNCOLLECTABLE") gc::set_debug(gc::debug_uncollectable);
  if (debug == "DEBUG_SAVEALL") gc::set_debug(gc::debug_saveall);
  return 0;
}

int main_module_cycle() {
  list_cycle_holding_finalizable(*main_module()->dict);
  return 0;
}

int ordinary_module_cycle() {
  define_module("gctest", [](module_object& module) { list_cycle_holding_finalizable(*module.dict); });
  import_module("gctest");
  return 0;
}

// a = ClassWithDel(); a.link = a; raise SystemExit(0)
int global_del_system_exit() {
  auto a = new_instance(class_printing_del("ClassWithDel"));
  a->set_attr("link", a);
  main_module()->dict->set("a", a);
  a.reset();  // only the global holds it (an uncaught exception does not unwind this frame)
  throw system_exit{0};
}

void print_message(std::string message) { print(message); }

// test_atexit.FunctionalTest.test_shutdown: atexit.register(f, "one"); atexit.register(f, "two")
int atexit_shutdown() {
  atexit::register_callback("f", &print_message, std::string("one"));
  atexit::register_callback("f", &print_message, std::string("two"));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<int()>> cases = {
      {"garbage_at_shutdown", [&] { return garbage_at_shutdown(argc > 2 ? argv[2] : "0"); }},
      {"main_module_cycle", main_module_cycle},
      {"ordinary_module_cycle", ordinary_module_cycle},
      {"global_del_system_exit", global_del_system_exit},
      {"atexit_shutdown", atexit_shutdown},
  };
  auto found = argc > 1 ? cases.find(argv[1]) : cases.end();
  if (found == cases.end()) {
    std::fprintf(stderr, "usage: cpython_child CASE [ARG]\n");
    return 2;
  }
  initialize();
  return found->second();
}

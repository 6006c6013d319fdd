// The modules of module_teardown_order, built the same way by the scenario (scenarios/) and by
// its CPython twin (tests/differential/programs/twins.cpp, module_clear_order.py), so that the
// differential test checks the very objects the scenario shows:
//   kept     — held by sys as well as sys.modules: its globals b, __c, _a, d (in that insertion
//              order) are Noisy instances whose finalizer reports whether the global `b` is
//              already None
//   dropped  — only in sys.modules: y and _x, Noisy too
//   __main__ — holds a self-cycle with a finalizer
// Each finalizer calls `report` with "del NAME b=None|set" or "del cycle". Every handle made
// here is gone when build() returns: only modules hold the objects.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "lifecycle/module.hpp"
#include "lifecycle/types.hpp"

namespace module_teardown {

using reporter = void (*)(const std::string& text);
// Finalizers are plain function pointers: they find the reporter here.
inline reporter report_to = nullptr;

inline std::string name_of(lifecycle::object* self) {
  using namespace lifecycle;
  ref name = static_cast<instance_object*>(self)->get_attr("name");
  return std::string(static_cast<str_object*>(name.get())->view());
}

inline void noisy_del(lifecycle::object* self) {
  using namespace lifecycle;
  // What the Python finalizer reaches through its function's __globals__.
  ref globals = static_cast<instance_object*>(self)->get_attr("globals");
  ref b = static_cast<dict_object*>(globals.get())->get("b");
  report_to(fmt::format("del {} b={}", name_of(self), is_none(b.get()) ? "None" : "set"));
}

inline lifecycle::handle<lifecycle::instance_object> noisy(
    const lifecycle::handle<lifecycle::class_object>& cls, std::string_view name,
    const lifecycle::handle<lifecycle::dict_object>& globals) {
  using namespace lifecycle;
  auto instance = new_instance(cls);
  instance->set_attr("name", new_str(name));
  instance->set_attr("globals", globals);
  return instance;
}

inline void build(reporter report) {
  using namespace lifecycle;
  report_to = report;
  define_module("kept", [](module_object& kept) {
    auto cls = new_class("Noisy", {.del = &noisy_del, .legacy_del = {}});
    kept.dict->set("Noisy", cls);
    for (const char* name : {"b", "__c", "_a", "d"}) {
      kept.dict->set(name, noisy(cls, name, kept.dict));
    }
  });
  auto kept = import_module("kept");
  sys_module()->dict->set("kept_alive", kept);

  auto dropped = new_module("dropped");
  auto cls = handle_cast<class_object>(kept->dict->get("Noisy"));
  dropped->dict->set("y", noisy(cls, "y", kept->dict));
  dropped->dict->set("_x", noisy(cls, "_x", kept->dict));
  add_module(dropped);

  auto cycle_class =
      new_class("Cycle", {.del = [](object*) { report_to("del cycle"); }, .legacy_del = {}});
  auto cycle = new_instance(cycle_class);
  cycle->set_attr("self", cycle);
  main_module()->dict->set("cycle", cycle);
}

}  // namespace module_teardown

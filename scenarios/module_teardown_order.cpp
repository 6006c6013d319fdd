// module_teardown_order: what finalize_modules does to module globals, observable per exit
// mode. Three modules are built before checkpoint `ready`:
//   kept     — held by sys as well as sys.modules: survives until its globals are cleared,
//              `_a` first, then b, __c, d (insertion order b, __c, _a, d); each value's
//              finalizer prints whether the global `b` is already None
//   dropped  — only in sys.modules: dies when its entry is set to None (y, then _x)
//   __main__ — holds a self-cycle with a finalizer: collected right after the modules go
// Expected stderr on every exit that runs the phases (normal, error, exception, SIGINT):
//   teardown del y b=set / del _x b=set / del cycle / del _a b=set / del b b=None /
//   del __c b=None / del d b=None
// and nothing of it when no phase runs (immediate, abort, SIGTERM, SIGKILL).
#include <fmt/format.h>
#include <unistd.h>

#include "lifecycle/module.hpp"
#include "lifecycle/types.hpp"
#include "scenario.hpp"

namespace {

using namespace lifecycle;

void report(const std::string& text) {
  std::string line = "teardown " + text + "\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

std::string name_of(object* self) {
  ref name = static_cast<instance_object*>(self)->get_attr("name");
  return std::string(static_cast<str_object*>(name.get())->view());
}

void noisy_del(object* self) {
  ref globals = static_cast<instance_object*>(self)->get_attr("globals");
  ref b = static_cast<dict_object*>(globals.get())->get("b");
  report(fmt::format("del {} b={}", name_of(self), is_none(b.get()) ? "None" : "set"));
}

handle<instance_object> noisy(const handle<class_object>& cls, std::string_view name,
                              const handle<dict_object>& globals) {
  auto instance = new_instance(cls);
  instance->set_attr("name", new_str(name));
  instance->set_attr("globals", globals);
  return instance;
}

// Every handle made here is gone when it returns: only modules hold the objects.
void build_modules() {
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
      new_class("Cycle", {.del = [](object*) { report("del cycle"); }, .legacy_del = {}});
  auto cycle = new_instance(cycle_class);
  cycle->set_attr("self", cycle);
  main_module()->dict->set("cycle", cycle);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  build_modules();
  scenario::ready(opts);
  scenario::finish(opts);
}

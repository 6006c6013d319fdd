// Modules, the sys.modules registry, builtins, the import API, and the module teardown of the
// finalize_modules phase (CPython's finalize_modules / _PyModule_ClearDict), in this process.
#include "lifecycle/module.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/types.hpp"

namespace {

using namespace lifecycle;

// Identity of two handles of possibly different types (gc's cross-type operator== does not
// compile: see the report).
bool same(const ref& a, const ref& b) { return a.get() == b.get(); }

std::vector<std::string> registry_names() {
  std::vector<std::string> names;
  auto registry = modules();
  std::size_t pos = 0;
  str_object* key = nullptr;
  object* value = nullptr;
  while (registry->next(pos, key, value)) names.emplace_back(key->view());
  return names;
}

// Events from finalizers, each tagged with the phase it happened in.
std::vector<std::string>* event_log = nullptr;
const char* current_phase = "main";

void log_phase(void*, phase p, phase_event e) noexcept {
  if (e == phase_event::begin) current_phase = phase_name(p).data();
}

std::string text_attr(const object* self, std::string_view name) {
  ref value = static_cast<const instance_object*>(self)->get_attr(name);
  return std::string(static_cast<str_object*>(value.get())->view());
}

// Logs "PHASE: del NAME (b=None|set)" reading global b from the dict in attribute "globals".
void logging_del(object* self) {
  ref globals = static_cast<instance_object*>(self)->get_attr("globals");
  std::string b = "-";
  if (globals)
    b = is_none(static_cast<dict_object*>(globals.get())->get("b").get()) ? "None" : "set";
  event_log->push_back(std::string(current_phase) + ": del " + text_attr(self, "name") + " b=" + b);
}

handle<instance_object> logged(const handle<class_object>& cls, std::string_view name,
                               const handle<dict_object>& globals = {}) {
  auto instance = new_instance(cls);
  instance->set_attr("name", new_str(name));
  if (globals) instance->set_attr("globals", globals);
  return instance;
}

handle<class_object> logging_class() {
  return new_class("Logged", {.del = &logging_del, .legacy_del = {}});
}

struct runtime_cycle {
  std::vector<std::string> events;
  runtime_cycle() {
    event_log = &events;
    current_phase = "main";
    initialize();
    add_phase_observer(&log_phase, nullptr);
  }
  ~runtime_cycle() { (void)finalize(); }
};

}  // namespace

TEST_CASE("sys, builtins and __main__ exist in that order, sys holds the registry") {
  runtime_cycle cycle;
  CHECK(registry_names() == std::vector<std::string>{"sys", "builtins", "__main__"});
  CHECK(same(sys_module()->dict->get("modules"), modules()));
  CHECK(same(main_module()->dict->get("__builtins__"), builtins_module()));
  auto name = main_module()->dict->get("__name__");
  CHECK(static_cast<str_object*>(name.get())->view() == "__main__");
  for (const char* key : {"__doc__", "__package__", "__loader__", "__spec__"}) {
    CHECK(is_none(main_module()->dict->get(key).get()));
  }
}

TEST_CASE("import_module: registered before init runs, in import order, once") {
  runtime_cycle cycle;
  int runs = 0;
  bool registered_during_init = false;
  define_module("first", [&](module_object& m) {
    ++runs;
    registered_during_init = modules()->contains("first");
    m.dict->set("value", new_int(1));
    import_module("second");  // a nested import lands after "first"
  });
  define_module("second", [](module_object&) {});
  auto first = import_module("first");
  CHECK(runs == 1);
  CHECK(registered_during_init);
  CHECK(same(import_module("first"), first));
  CHECK(runs == 1);
  CHECK(registry_names() ==
        std::vector<std::string>{"sys", "builtins", "__main__", "first", "second"});
  CHECK(same(first->dict->get("__builtins__"), builtins_module()));
  CHECK_THROWS_AS(define_module("first", [](module_object&) {}), std::invalid_argument);
}

TEST_CASE("import_module: unknown names and failing inits") {
  runtime_cycle cycle;
  try {
    import_module("nowhere");
    FAIL("import of an undefined module succeeded");
  } catch (const python_error& e) {
    CHECK(e.type_name() == "ModuleNotFoundError");
    CHECK(std::string(e.what()) == "No module named 'nowhere'");
  }
  define_module("broken", [](module_object&) { throw python_error("ValueError", "bad init"); });
  CHECK_THROWS_AS(import_module("broken"), python_error);
  // As CPython's import: a module whose body raised is not left in sys.modules.
  CHECK_FALSE(modules()->contains("broken"));
}

TEST_CASE("module API without a runtime throws") {
  CHECK_THROWS_AS(modules(), std::logic_error);
  CHECK_THROWS_AS(import_module("sys"), std::logic_error);
  CHECK_THROWS_AS(define_module("x", [](module_object&) {}), std::logic_error);
}

TEST_CASE("clear_module_dict: _private first, then the rest but __builtins__, values None") {
  runtime_cycle cycle;
  {
    auto cls = logging_class();
    auto globals = new_dict();
    for (const char* name : {"b", "__c", "_a", "d", "_", "__builtins__"}) {
      globals->set(name, logged(cls, name, globals));
    }
    clear_module_dict(*globals);
    CHECK(cycle.events == std::vector<std::string>{"main: del _a b=set", "main: del _ b=set",
                                                   "main: del b b=None", "main: del __c b=None",
                                                   "main: del d b=None"});
    // Values are replaced, never deleted; __builtins__ survives.
    CHECK(globals->size() == 6);
    CHECK(is_none(globals->get("d").get()));
    CHECK_FALSE(is_none(globals->get("__builtins__").get()));
    globals->clear();
  }
}

TEST_CASE("finalize_modules: dropped modules die with their entry, kept ones are cleared") {
  std::vector<std::string> events;
  {
    runtime_cycle cycle;
    {
      auto cls = logging_class();
      define_module("kept", [cls](module_object& m) {
        for (const char* name : {"b", "__c", "_a", "d"})
          m.dict->set(name, logged(cls, name, m.dict));
      });
      auto kept = import_module("kept");
      sys_module()->dict->set("kept_alive", kept);
      auto dropped = new_module("dropped");
      dropped->dict->set("y", logged(cls, "y"));
      dropped->dict->set("_x", logged(cls, "_x"));
      add_module(dropped);
      // Added to builtins after startup: gone when builtins are restored.
      builtins_module()->dict->set("extra", logged(cls, "extra"));
      // Dies in the `collect` phase already: garbage before finalization starts.
      auto cycle_obj = logged(cls, "early cycle");
      cycle_obj->set_attr("self", cycle_obj);
      // In __main__'s globals: dies in finalize_modules' collection.
      auto late = logged(cls, "main cycle");
      late->set_attr("self", late);
      main_module()->dict->set("late", late);
    }
    REQUIRE(finalize() == 0);
    events = cycle.events;
  }
  CHECK(events == std::vector<std::string>{
                      "collect: del early cycle b=-",
                      "finalize_modules: del y b=-",
                      "finalize_modules: del _x b=-",
                      "finalize_modules: del extra b=-",
                      "finalize_modules: del main cycle b=-",
                      "finalize_modules: del _a b=set",
                      "finalize_modules: del b b=None",
                      "finalize_modules: del __c b=None",
                      "finalize_modules: del d b=None",
                  });
  CHECK(last_finalize_stats().leftover_objects == 0);
  CHECK(last_finalize_stats().blocks_in_use == 0);
}

TEST_CASE("sys and builtins are cleared last, sys before builtins") {
  std::vector<std::string> events;
  {
    runtime_cycle cycle;
    {
      auto cls = logging_class();
      define_module("late_import",
                    [cls](module_object& m) { m.dict->set("v", logged(cls, "late_import.v")); });
      auto module = import_module("late_import");
      // Held by sys: cleared in step (g), before sys's own values go in step (h).
      sys_module()->dict->set("holder", module);
      sys_module()->dict->set("sys_value", logged(cls, "sys.sys_value"));
      builtins_module()->dict->set("extra", logged(cls, "builtins.extra"));
    }
    REQUIRE(finalize() == 0);
    events = cycle.events;
  }
  CHECK(events == std::vector<std::string>{
                      "finalize_modules: del builtins.extra b=-",
                      "finalize_modules: del late_import.v b=-",
                      "finalize_modules: del sys.sys_value b=-",
                  });
}

// Modules: a module object is a managed object with a dict of globals (its __dict__); the
// registry is CPython's sys.modules, an insertion-ordered dict, so its order is import order.
// sys, builtins and __main__ exist from initialize() on (in that order, as CPython's
// pycore_init / add_main_module make them). Modules defined in C++ are registered with
// define_module (PyImport_AppendInittab) and created by import_module.
//
// At finalization (phase `finalize_modules`) modules die in CPython's order, see
// lifecycle/README.md; a module that something else keeps alive has its globals set to None,
// `_private` names first.
//
// Everything here needs an initialized runtime (std::logic_error otherwise); the caller holds
// the runtime lock when other threads touch objects (see object.hpp).
#pragma once

#include <functional>
#include <string_view>

#include "lifecycle/object.hpp"
#include "lifecycle/types.hpp"

namespace lifecycle {

extern type_object module_type;  // gc-tracked, weakrefable

struct module_object : object {
  module_object(handle<str_object> module_name, handle<dict_object> globals) noexcept
      : name(std::move(module_name)), dict(std::move(globals)) {}
  handle<str_object> name;
  // The globals. Empty only after the collector cleared the module (tp_clear).
  handle<dict_object> dict;
};

// types.ModuleType(name): __name__ set, __doc__ / __package__ / __loader__ / __spec__ None. Not
// in sys.modules until add_module.
handle<module_object> new_module(std::string_view name);

// sys.modules itself (the dict, also sys's global "modules").
handle<dict_object> modules();
handle<module_object> sys_module();
handle<module_object> builtins_module();
// sys.modules["__main__"]; an empty handle once it is gone from there.
handle<module_object> main_module();

// sys.modules[name] = module (after any it already holds, i.e. in import order).
void add_module(const handle<module_object>& module);

// The body of a module defined in C++: fills the module's globals. May throw.
using module_init = std::function<void(module_object& module)>;

// Makes `name` importable. Throws std::invalid_argument when it is already defined.
void define_module(std::string_view name, module_init init);

// import name: the module from sys.modules, or a new one from its definition. As CPython's
// import, the module is in sys.modules (in import order) before its init runs, with
// __builtins__ set to the builtins module; if init throws, it is removed again and the
// exception propagates. Throws python_error("ModuleNotFoundError", "No module named 'x'").
handle<module_object> import_module(std::string_view name);

// _PyModule_ClearDict: every value to None (never deleted), pass 1 the names with exactly one
// leading underscore, pass 2 all others except "__builtins__"; each old value dies after its
// slot holds None, so a finalizer sees the globals already cleared as None.
void clear_module_dict(dict_object& dict) noexcept;

}  // namespace lifecycle

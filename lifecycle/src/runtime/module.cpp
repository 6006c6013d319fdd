#include "lifecycle/module.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "lifecycle/gc.hpp"
#include "lifecycle/unraisable.hpp"
#include "lifecycle/weakref.hpp"
#include "gc/gc_shutdown.hpp"
#include "runtime/runtime_internal.hpp"

namespace lifecycle {

namespace {

void module_traverse(object* self, visit_fn visit, void* arg) {
  auto* module = static_cast<module_object*>(self);
  if (module->dict) visit(module->dict.get(), arg);
}

void module_clear(object* self) noexcept { static_cast<module_object*>(self)->dict.reset(); }

void module_destroy(object* self) noexcept { static_cast<module_object*>(self)->~module_object(); }

std::string module_repr(const object* self) {
  const auto* module = static_cast<const module_object*>(self);
  return fmt::format("<module '{}'>", module->name ? module->name->view() : "?");
}

struct definition {
  std::string name;
  module_init init;
};

// One runtime cycle's module machinery (interp->sysdict, builtins, builtins_copy, modules).
// __main__ is deliberately not held here: like CPython's, it lives only in sys.modules.
struct module_state {
  handle<module_object> sys;
  handle<module_object> builtins;
  handle<dict_object> modules;
  handle<dict_object> builtins_copy;  // builtins' globals at startup, restored at finalization
  std::vector<definition> definitions;
};

constinit module_state* state = nullptr;

module_state& require_state(const char* what) {
  if (state == nullptr) {
    throw std::logic_error(fmt::format("lifecycle::{}: the runtime is not initialized", what));
  }
  return *state;
}

bool single_underscore(std::string_view name) {
  return name.size() >= 1 && name[0] == '_' && (name.size() == 1 || name[1] != '_');
}

void copy_dict(const dict_object& from, dict_object& to) {
  std::size_t pos = 0;
  str_object* key = nullptr;
  object* value = nullptr;
  while (from.next(pos, key, value)) to.set(handle<str_object>::borrow(key), ref::borrow(value));
}

}  // namespace

constinit type_object module_type{.name = "module",
                                  .flags = type_flags::gc | type_flags::weakrefable,
                                  .traverse = &module_traverse,
                                  .clear = &module_clear,
                                  .destroy = &module_destroy,
                                  .repr = &module_repr,
                                  .ready = true};

handle<module_object> new_module(std::string_view name) {
  auto module_name = new_str(name);
  auto globals = new_dict();
  globals->set("__name__", module_name);
  for (const char* key : {"__doc__", "__package__", "__loader__", "__spec__"}) {
    globals->set(key, none());
  }
  return new_object<module_object>(module_type, std::move(module_name), std::move(globals));
}

handle<dict_object> modules() { return require_state("modules").modules; }
handle<module_object> sys_module() { return require_state("sys_module").sys; }
handle<module_object> builtins_module() { return require_state("builtins_module").builtins; }

handle<module_object> main_module() {
  ref found = require_state("main_module").modules->get("__main__");
  if (!found || found->type != &module_type) return {};
  return handle_cast<module_object>(std::move(found));
}

void add_module(const handle<module_object>& module) {
  require_state("add_module").modules->set(module->name, module);
}

void define_module(std::string_view name, module_init init) {
  auto& s = require_state("define_module");
  for (const auto& d : s.definitions) {
    if (d.name == name) {
      throw std::invalid_argument(fmt::format("module '{}' is already defined", name));
    }
  }
  s.definitions.push_back({std::string(name), std::move(init)});
}

handle<module_object> import_module(std::string_view name) {
  auto& s = require_state("import_module");
  if (ref found = s.modules->get(name); found && found->type == &module_type) {
    return handle_cast<module_object>(std::move(found));
  }
  for (const auto& d : s.definitions) {
    if (d.name != name) continue;
    auto module = new_module(name);
    module->dict->set("__builtins__", s.builtins);
    add_module(module);
    module_init init = d.init;  // a copy: init may define more modules
    try {
      init(*module);
    } catch (...) {
      s.modules->erase(name);
      throw;
    }
    return module;
  }
  throw python_error("ModuleNotFoundError", fmt::format("No module named '{}'", name));
}

void clear_module_dict(dict_object& dict) noexcept {
  // The dict may lose its last other reference while its values die.
  auto keep = handle<dict_object>::borrow(&dict);
  for (int pass = 1; pass <= 2; ++pass) {
    std::size_t pos = 0;
    str_object* key = nullptr;
    object* value = nullptr;
    while (dict.next(pos, key, value)) {
      if (is_none(value)) continue;
      std::string_view text = key->view();
      bool clear = pass == 1 ? single_underscore(text) : text != "__builtins__";
      if (!clear) continue;
      try {
        dict.replace_at(pos, none());
      } catch (...) {
        write_unraisable(std::current_exception(), nullptr);
      }
    }
  }
}

namespace detail {

void init_modules() {
  auto fresh = new module_state;
  state = fresh;
  try {
    fresh->modules = new_dict();
    fresh->sys = new_module("sys");
    fresh->builtins = new_module("builtins");
    auto sys_globals = fresh->sys->dict;
    sys_globals->set("modules", fresh->modules);
    // What finalize_modules_delete_special sets to None (the ones a lifecycle program can have).
    sys_globals->set("argv", new_list());
    sys_globals->set("path", new_list());
    sys_globals->set("meta_path", new_list());
    sys_globals->set("path_hooks", new_list());
    sys_globals->set("path_importer_cache", new_dict());
    fresh->builtins->dict->set("None", none());
    add_module(fresh->sys);
    add_module(fresh->builtins);
    auto main = new_module("__main__");
    main->dict->set("__builtins__", fresh->builtins);
    add_module(main);
    fresh->builtins_copy = new_dict();
    copy_dict(*fresh->builtins->dict, *fresh->builtins_copy);
  } catch (...) {
    delete fresh;
    state = nullptr;
    throw;
  }
}

// (a) finalize_modules_delete_special: builtins._ and sys's interpreter-state names to None.
void delete_special_names(module_state& s) {
  s.builtins->dict->set("_", none());
  for (const char* name :
       {"path", "argv", "ps1", "ps2", "last_type", "last_value", "last_traceback", "path_hooks",
        "path_importer_cache", "meta_path", "__interactive_hook__"}) {
    s.sys->dict->set(name, none());
  }
}

// (b) finalize_remove_modules: a weakref to every module, in import order, and its
// sys.modules entry set to None: a module only sys.modules held dies right here.
std::vector<std::pair<handle<str_object>, handle<weakref_object>>> remove_modules(module_state& s) {
  std::vector<std::pair<handle<str_object>, handle<weakref_object>>> weaklist;
  std::size_t pos = 0;
  str_object* key = nullptr;
  object* value = nullptr;
  while (s.modules->next(pos, key, value)) {
    if (value->type != &module_type) continue;
    weaklist.emplace_back(handle<str_object>::borrow(key), new_weakref(ref::borrow(value)));
    s.modules->replace_at(pos, none());
  }
  return weaklist;
}

// (d) finalize_restore_builtins: what the program added to builtins goes now.
void restore_builtins(module_state& s) {
  s.builtins->dict->clear();
  copy_dict(*s.builtins_copy, *s.builtins->dict);
}

// (g) finalize_modules_clear_weaklist: later imports first; dead ones and sys/builtins skipped.
void clear_surviving_modules(
    module_state& s,
    const std::vector<std::pair<handle<str_object>, handle<weakref_object>>>& weaklist) {
  for (auto it = weaklist.rbegin(); it != weaklist.rend(); ++it) {
    ref alive = it->second->get();
    if (!alive) continue;
    auto* module = static_cast<module_object*>(alive.get());
    if (module == s.sys.get() || module == s.builtins.get() || !module->dict) continue;
    auto globals = module->dict;
    clear_module_dict(*globals);
  }
}

void finalize_modules() noexcept {
  if (state == nullptr) return;
  module_state& s = *state;
  try {
    delete_special_names(s);
    auto weaklist = remove_modules(s);
    // (c) then sys.modules itself is emptied.
    s.modules->clear();
    restore_builtins(s);
    // (e) cycles that held modules die while sys and builtins are intact.
    gc::detail::collect_no_fail();
    clear_surviving_modules(s, weaklist);
    weaklist.clear();
    // (h) sys's globals, then builtins' (finalize_clear_sys_builtins_dict).
    clear_module_dict(*s.sys->dict);
    clear_module_dict(*s.builtins->dict);
    // (j) the registry goes and one more collection takes what the clearing freed.
    s.modules.reset();
    s.builtins_copy.reset();
    gc::detail::collect_no_fail();
  } catch (...) {
    write_unraisable(std::current_exception(), nullptr);
  }
}

void release_modules() noexcept {
  delete state;
  state = nullptr;
}

}  // namespace detail

}  // namespace lifecycle

// Objects, handles, built-in types, user types and refcount death.
#include "catch.hpp"
#include "gc/fresh_gc.hpp"
#include "gc/gc_shutdown.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "lifecycle/unraisable.hpp"
#include "lifecycle/weakref.hpp"

#include <regex>
#include <string>
#include <vector>

namespace gc = lifecycle::gc;
using lifecycle::handle;
using lifecycle::instance_object;
using lifecycle::object;
using lifecycle::ref;
using lifecycle::type_flags;

namespace {


// A user C++ type with one strong reference.
struct node : object {
  ref next;
};

// Where the user types' hooks record what happened (set by each test; plain pointers, no
// static objects).
constinit std::vector<std::string>* event_log = nullptr;
constinit object* resurrect_into = nullptr;
constinit int finalize_calls = 0;
constinit bool resurrect_first_time = false;

void node_traverse(object* self, lifecycle::visit_fn visit, void* arg) {
  auto* n = static_cast<node*>(self);
  if (n->next) visit(n->next.get(), arg);
}
void node_clear(object* self) noexcept {
  if (event_log != nullptr) event_log->push_back("clear");
  static_cast<node*>(self)->next.reset();
}
void node_finalize(object* self) {
  ++finalize_calls;
  if (event_log != nullptr) event_log->push_back("finalize");
  if (resurrect_first_time && finalize_calls == 1) {
    lifecycle::incref(self);
    resurrect_into = self;
  }
}
void node_legacy_del(object*) {
  if (event_log != nullptr) event_log->push_back("legacy_del");
}

lifecycle::type_object node_type(type_flags flags) {
  auto type = lifecycle::make_type<node>("Node", flags);
  type.traverse = &node_traverse;
  type.clear = &node_clear;
  return type;
}

std::string text_of(const object* op) {
  return std::string(static_cast<const lifecycle::str_object*>(op)->view());
}

}  // namespace

TEST_CASE("handles: copy increments, destroy and reset decrement, move transfers") {
  fresh_gc fresh;
  auto l = lifecycle::new_list();
  CHECK(lifecycle::refcount(l.get()) == 1);
  {
    handle<lifecycle::list_object> copy = l;
    CHECK(lifecycle::refcount(l.get()) == 2);
    ref generic = copy;  // upcast copy
    CHECK(lifecycle::refcount(l.get()) == 3);
    ref moved = std::move(generic);
    CHECK(lifecycle::refcount(l.get()) == 3);
    CHECK_FALSE(generic);
    moved.reset();
    CHECK(lifecycle::refcount(l.get()) == 2);
  }
  CHECK(lifecycle::refcount(l.get()) == 1);
  object* raw = l.release();
  CHECK(lifecycle::refcount(raw) == 1);
  auto back = ref::steal(raw);
  CHECK(lifecycle::refcount(raw) == 1);
  auto borrowed = ref::borrow(raw);
  CHECK(lifecycle::refcount(raw) == 2);
}

TEST_CASE("assigning a handle drops the old referent only after holding the new one") {
  fresh_gc fresh;
  ref slot;
  object* seen_in_slot = nullptr;
  auto cls = lifecycle::new_class("Old", {.del = [&](object*) { seen_in_slot = slot.get(); }});
  slot = lifecycle::new_instance(cls);
  auto replacement = lifecycle::new_int(5);
  slot = replacement;
  CHECK(seen_in_slot == replacement.get());
}

TEST_CASE("repr is CPython-shaped") {
  fresh_gc fresh;
  CHECK(lifecycle::repr(lifecycle::none()) == "None");
  CHECK(lifecycle::repr(lifecycle::new_int(-42)) == "-42");
  CHECK(lifecycle::repr(lifecycle::new_str("hi")) == "'hi'");
  auto l = lifecycle::new_list();
  l->append(lifecycle::new_int(1));
  l->append(lifecycle::new_str("a"));
  l->append(lifecycle::none());
  CHECK(lifecycle::repr(l) == "[1, 'a', None]");
  auto d = lifecycle::new_dict();
  d->set("k", lifecycle::new_int(1));
  d->set("j", l);
  CHECK(lifecycle::repr(d) == "{'k': 1, 'j': [1, 'a', None]}");
  auto cls = lifecycle::new_class("Node");
  CHECK(lifecycle::repr(cls) == "<class 'Node'>");
  CHECK(std::regex_match(lifecycle::repr(lifecycle::new_instance(cls)),
                         std::regex("<Node object at 0x[0-9a-f]+>")));
}

TEST_CASE("None is a static singleton that survives any balanced use") {
  auto a = lifecycle::none();
  const auto before = lifecycle::refcount(a.get());
  {
    auto b = lifecycle::none();
    CHECK(lifecycle::refcount(a.get()) == before + 1);
    CHECK(lifecycle::is_none(b.get()));
  }
  CHECK(lifecycle::refcount(a.get()) == before);
  CHECK_FALSE(gc::is_tracked(a.get()));
}

TEST_CASE("list append, set, pop, at") {
  fresh_gc fresh;
  auto l = lifecycle::new_list();
  for (int i = 0; i < 100; ++i) l->append(lifecycle::new_int(i));
  CHECK(l->size() == 100);
  CHECK(static_cast<lifecycle::int_object*>(l->at(57))->value == 57);
  l->set(3, lifecycle::new_str("three"));
  CHECK(text_of(l->at(3)) == "three");
  auto last = l->pop();
  CHECK(static_cast<lifecycle::int_object*>(last.get())->value == 99);
  CHECK(l->size() == 99);
  CHECK_THROWS_AS(l->at(99), std::out_of_range);
  CHECK_THROWS_AS(l->set(99, lifecycle::none()), std::out_of_range);
  CHECK_THROWS_AS(l->append(ref{}), std::invalid_argument);
  CHECK(l->size() == 99);
  l->clear();
  CHECK(l->size() == 0);
  CHECK_THROWS_AS(l->pop(), std::out_of_range);
}

TEST_CASE("dict keeps insertion order through growth, erase and replacement") {
  fresh_gc fresh;
  auto d = lifecycle::new_dict();
  for (int i = 0; i < 1000; ++i) d->set("k" + std::to_string(i), lifecycle::new_int(i));
  CHECK(d->size() == 1000);
  for (int i = 0; i < 1000; i += 2) CHECK(d->erase("k" + std::to_string(i)));
  CHECK_FALSE(d->erase("k0"));
  CHECK(d->size() == 500);
  d->set("k1", lifecycle::new_int(-1));  // in place: stays first
  d->set("k0", lifecycle::new_int(0));   // re-inserted: last
  std::vector<std::string> keys;
  std::size_t pos = 0;
  lifecycle::str_object* key = nullptr;
  object* value = nullptr;
  while (d->next(pos, key, value)) keys.emplace_back(key->view());
  REQUIRE(keys.size() == 501);
  CHECK(keys.front() == "k1");
  CHECK(keys[1] == "k3");
  CHECK(keys[499] == "k999");
  CHECK(keys.back() == "k0");
  CHECK(static_cast<lifecycle::int_object*>(d->get("k1").get())->value == -1);
  CHECK(static_cast<lifecycle::int_object*>(d->get("k777").get())->value == 777);
  CHECK_FALSE(d->get("k778"));
  CHECK(d->contains("k0"));
  CHECK_FALSE(d->contains("missing"));
}

TEST_CASE("dict: module-style clearing replaces values with None in place, in CPython's order") {
  fresh_gc fresh;
  std::vector<std::string> died;
  auto cls = lifecycle::new_class("Value", {.del = [&](object* self) {
    died.push_back(text_of(static_cast<instance_object*>(self)->get_attr("name").get()));
  }});
  auto d = lifecycle::new_dict();
  for (const char* name : {"_a", "b", "__c", "d", "__builtins__"}) {
    auto v = lifecycle::new_instance(cls);
    v->set_attr("name", lifecycle::new_str(name));
    d->set(name, v);
  }
  // _PyModule_ClearDict: pass 1 single-underscore names, pass 2 everything but __builtins__.
  auto clear_pass = [&](bool underscore_pass) {
    std::size_t pos = 0;
    lifecycle::str_object* key = nullptr;
    object* value = nullptr;
    while (d->next(pos, key, value)) {
      const std::string_view k = key->view();
      const bool single = k.size() > 1 && k[0] == '_' && k[1] != '_';
      if (lifecycle::is_none(value)) continue;
      if (underscore_pass ? single : k != "__builtins__") d->replace_at(pos, lifecycle::none());
    }
  };
  clear_pass(true);
  clear_pass(false);
  CHECK(died == std::vector<std::string>{"_a", "b", "__c", "d"});
  CHECK(d->size() == 5);
  CHECK(lifecycle::is_none(d->get("_a").get()));
  CHECK_FALSE(lifecycle::is_none(d->get("__builtins__").get()));
}

TEST_CASE("instances: attributes, deletion, class reference") {
  fresh_gc fresh;
  auto cls = lifecycle::new_class("Point");
  auto p = lifecycle::new_instance(cls);
  CHECK(lifecycle::refcount(cls.get()) == 2);
  p->set_attr("x", lifecycle::new_int(1));
  CHECK(static_cast<lifecycle::int_object*>(p->get_attr("x").get())->value == 1);
  CHECK_FALSE(p->get_attr("y"));
  CHECK(p->del_attr("x"));
  CHECK_FALSE(p->del_attr("x"));
  CHECK(lifecycle::is_instance(p.get()));
  CHECK_FALSE(lifecycle::is_instance(cls.get()));
  CHECK(cls->name() == "Point");
  p.reset();
  CHECK(lifecycle::refcount(cls.get()) == 1);
}

TEST_CASE("user types must be registered explicitly and completely") {
  fresh_gc fresh;
  auto type = node_type(type_flags::gc);
  CHECK_THROWS_MATCHES(lifecycle::new_object<node>(type), std::logic_error,
                       Catch::Matchers::Message("type 'Node' is not registered"));
  auto no_traverse = lifecycle::make_type<node>("Bad", type_flags::gc);
  CHECK_THROWS_AS(lifecycle::register_type(no_traverse), std::invalid_argument);
  lifecycle::type_object no_destroy{.name = "Bad"};
  CHECK_THROWS_AS(lifecycle::register_type(no_destroy), std::invalid_argument);
  lifecycle::register_type(type);
  auto n = lifecycle::new_object<node>(type);
  CHECK(gc::is_tracked(n.get()));
  CHECK(gc::get_count()[0] == 1);
}

TEST_CASE("a user gc type's cycle is cleared through its clear hook") {
  fresh_gc fresh;
  std::vector<std::string> log;
  event_log = &log;
  auto type = node_type(type_flags::gc);
  lifecycle::register_type(type);
  {
    auto a = lifecycle::new_object<node>(type);
    auto b = lifecycle::new_object<node>(type);
    a->next = b;
    b->next = a;
  }
  CHECK(gc::collect() == 2);
  // delete_garbage clears the first; that frees the second, whose reference was the cycle.
  CHECK(log == std::vector<std::string>{"clear"});
  CHECK(gc::detail::tracked_count() == 0);
  event_log = nullptr;
}

TEST_CASE("refcount death: finalizer, weakref callbacks, legacy finalizer, then destroy") {
  fresh_gc fresh;
  std::vector<std::string> log;
  event_log = &log;
  finalize_calls = 0;
  resurrect_first_time = false;
  auto type = node_type(type_flags::gc | type_flags::weakrefable);
  type.finalize = &node_finalize;
  type.legacy_del = &node_legacy_del;
  lifecycle::register_type(type);
  auto n = lifecycle::new_object<node>(type);
  auto wr = lifecycle::new_weakref(n, [&](const auto&) { log.push_back("weakref"); });
  n.reset();
  CHECK(log == std::vector<std::string>{"finalize", "weakref", "legacy_del"});
  CHECK(gc::detail::tracked_count() == 1);  // only the weakref
  event_log = nullptr;
}

TEST_CASE("untracked types are finalized on every death, tracked ones once") {
  fresh_gc fresh;
  for (const bool tracked : {false, true}) {
    finalize_calls = 0;
    resurrect_first_time = true;
    resurrect_into = nullptr;
    auto type = node_type(tracked ? type_flags::gc : type_flags::none);
    type.finalize = &node_finalize;
    lifecycle::register_type(type);
    lifecycle::new_object<node>(type);  // dies at once; the finalizer resurrects it
    REQUIRE(resurrect_into != nullptr);
    CHECK(finalize_calls == 1);
    CHECK(gc::is_finalized(resurrect_into) == tracked);
    lifecycle::decref(resurrect_into);  // second death
    CHECK(finalize_calls == (tracked ? 1 : 2));
  }
  resurrect_first_time = false;
  resurrect_into = nullptr;
}

TEST_CASE("freeing a very deep chain does not recurse once per link") {
  fresh_gc fresh;
  constexpr int depth = 200000;
  {
    auto outer = lifecycle::new_list();
    handle<lifecycle::list_object> current = outer;
    for (int i = 0; i < depth; ++i) {
      auto inner = lifecycle::new_list();
      current->append(inner);
      current = inner;
    }
    CHECK(gc::detail::tracked_count() == depth + 1);
  }
  CHECK(gc::detail::tracked_count() == 0);
}

TEST_CASE("format_unraisable with and without an object") {
  lifecycle::unraisable_event with{"Exception ignored in", "<A object at 0x1>", "ValueError", "x"};
  CHECK(lifecycle::format_unraisable(with) ==
        "Exception ignored in: <A object at 0x1>\nValueError: x\n");
  lifecycle::unraisable_event without{"Exception ignored in atexit callback", "", "SystemExit", ""};
  CHECK(lifecycle::format_unraisable(without) ==
        "Exception ignored in atexit callback\nSystemExit\n");
}

TEST_CASE("a C++ exception is reported with its type name") {
  std::vector<lifecycle::unraisable_event> events;
  const auto previous = lifecycle::set_unraisable_hook(
      [](const lifecycle::unraisable_event& e, void* out) {
        static_cast<std::vector<lifecycle::unraisable_event>*>(out)->push_back(e);
      },
      &events);
  try {
    throw std::out_of_range("index 7");
  } catch (...) {
    lifecycle::write_unraisable(std::current_exception(), nullptr);
  }
  lifecycle::set_unraisable_hook(previous.hook, previous.context);
  REQUIRE(events.size() == 1);
  CHECK(events[0].exception_type == "std::out_of_range");
  CHECK(events[0].exception_value == "index 7");
  CHECK(events[0].object_repr.empty());
}

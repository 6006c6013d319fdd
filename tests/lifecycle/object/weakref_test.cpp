// Weak references at refcount death (the collector's side is in gc_test.cpp).
#include "catch.hpp"
#include "gc/fresh_gc.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "lifecycle/unraisable.hpp"
#include "lifecycle/weakref.hpp"

#include <regex>
#include <string>
#include <vector>

namespace gc = lifecycle::gc;
using lifecycle::handle;
using lifecycle::object;
using lifecycle::ref;
using lifecycle::weakref_object;

TEST_CASE("a weakref follows its referent and dies with it") {
  fresh_gc fresh;
  auto target = lifecycle::new_instance(lifecycle::new_class("Target"));
  auto wr = lifecycle::new_weakref(target);
  CHECK(wr->alive());
  CHECK(wr->get() == target);
  CHECK(lifecycle::refcount(target.get()) == 1);  // a weakref adds no reference
  CHECK(lifecycle::weakref_count(target.get()) == 1);
  CHECK(std::regex_match(lifecycle::repr(wr),
                         std::regex("<weakref at 0x[0-9a-f]+; to 'Target' at 0x[0-9a-f]+>")));
  target.reset();
  CHECK_FALSE(wr->alive());
  CHECK_FALSE(wr->get());
  CHECK(std::regex_match(lifecycle::repr(wr), std::regex("<weakref at 0x[0-9a-f]+; dead>")));
}

TEST_CASE("types without weakref support are refused") {
  fresh_gc fresh;
  CHECK_THROWS_MATCHES(lifecycle::new_weakref(lifecycle::new_int(1)), std::invalid_argument,
                       Catch::Matchers::Message("cannot create weak reference to 'int' object"));
  CHECK_THROWS_MATCHES(lifecycle::new_weakref(lifecycle::new_list()), std::invalid_argument,
                       Catch::Matchers::Message("cannot create weak reference to 'list' object"));
}

TEST_CASE("refcount-death callbacks run newest first, after every weakref is cleared") {
  fresh_gc fresh;
  auto target = lifecycle::new_instance(lifecycle::new_class("Target"));
  std::vector<std::string> log;
  std::vector<handle<weakref_object>> refs;
  auto all_dead = [&] {
    for (const auto& r : refs)
      if (r->alive()) return false;
    return true;
  };
  for (const char* name : {"first", "second", "third"}) {
    refs.push_back(lifecycle::new_weakref(target, [&, name](const handle<weakref_object>& wr) {
      log.push_back(std::string(name) + (wr->alive() ? ":alive" : ":dead") +
                    (all_dead() ? ":all-dead" : ":some-alive"));
    }));
  }
  auto plain = lifecycle::new_weakref(target);  // no callback, cleared too
  CHECK(lifecycle::weakref_count(target.get()) == 4);
  target.reset();
  CHECK(log == std::vector<std::string>{"third:dead:all-dead", "second:dead:all-dead",
                                        "first:dead:all-dead"});
  CHECK_FALSE(plain->alive());
}

TEST_CASE("at refcount death the finalizer runs before the weakref callbacks") {
  fresh_gc fresh;
  std::vector<std::string> log;
  auto cls = lifecycle::new_class("Target", {.del = [&](object*) { log.push_back("del"); }});
  auto target = lifecycle::new_instance(cls);
  auto wr = lifecycle::new_weakref(target, [&](const auto& r) {
    log.push_back(r->alive() ? "callback:alive" : "callback:dead");
  });
  target.reset();
  CHECK(log == std::vector<std::string>{"del", "callback:dead"});
}

TEST_CASE("a non-cyclic object resurrected at refcount death keeps its weakref") {
  fresh_gc fresh;
  int finalized = 0;
  int callbacks = 0;
  ref saved;
  auto cls = lifecycle::new_class("Phoenix", {.del = [&](object* self) {
    ++finalized;
    saved = ref::borrow(self);
  }});
  auto target = lifecycle::new_instance(cls);
  object* raw = target.get();
  auto wr = lifecycle::new_weakref(target, [&](const auto&) { ++callbacks; });
  target.reset();
  CHECK(finalized == 1);
  REQUIRE(saved.get() == raw);
  CHECK(wr->alive());
  CHECK(wr->get().get() == raw);
  CHECK(callbacks == 0);
  CHECK(gc::is_tracked(raw));

  saved.reset();  // dies for real: not finalized again (gc type), weakref cleared, callback runs
  CHECK(finalized == 1);
  CHECK_FALSE(wr->alive());
  CHECK(callbacks == 1);
}

TEST_CASE("a weakref that dies first leaves its referent's list") {
  fresh_gc fresh;
  auto target = lifecycle::new_instance(lifecycle::new_class("Target"));
  int called = 0;
  auto a = lifecycle::new_weakref(target, [&](const auto&) { ++called; });
  auto b = lifecycle::new_weakref(target, [&](const auto&) { ++called; });
  auto c = lifecycle::new_weakref(target, [&](const auto&) { ++called; });
  b.reset();  // the middle one
  CHECK(lifecycle::weakref_count(target.get()) == 2);
  c.reset();  // the head
  CHECK(lifecycle::weakref_count(target.get()) == 1);
  target.reset();
  CHECK(called == 1);
  CHECK_FALSE(a->alive());
}

TEST_CASE("an exception in a weakref callback is reported and the other callbacks still run") {
  fresh_gc fresh;
  std::vector<lifecycle::unraisable_event> events;
  const auto previous = lifecycle::set_unraisable_hook(
      [](const lifecycle::unraisable_event& e, void* out) {
        static_cast<std::vector<lifecycle::unraisable_event>*>(out)->push_back(e);
      },
      &events);
  auto target = lifecycle::new_instance(lifecycle::new_class("Target"));
  int ran = 0;
  auto quiet = lifecycle::new_weakref(target, [&](const auto&) { ++ran; });
  auto loud = lifecycle::new_weakref(target, [](const auto&) {
    throw lifecycle::python_error("KeyError", "'gone'");
  });
  target.reset();
  lifecycle::set_unraisable_hook(previous.hook, previous.context);
  CHECK(ran == 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].message == "Exception ignored in");
  CHECK(std::regex_match(events[0].object_repr, std::regex("<weakref at 0x[0-9a-f]+; dead>")));
  CHECK(events[0].exception_type == "KeyError");
  CHECK(events[0].exception_value == "'gone'");
}

TEST_CASE("weakrefs are tracked container objects") {
  fresh_gc fresh;
  auto target = lifecycle::new_instance(lifecycle::new_class("Target"));
  auto wr = lifecycle::new_weakref(target);
  CHECK(gc::is_tracked(wr.get()));
  CHECK(lifecycle::type_of(wr.get()).name == std::string("weakref"));
}

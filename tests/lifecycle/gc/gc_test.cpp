// The cycle collector against CPython 3.11's observable behaviour (gc module semantics).
// Counts: an instance is two gc objects (the instance and its __dict__), a list is one.
#include "catch.hpp"
#include "gc/fresh_gc.hpp"
#include "gc/gc_shutdown.hpp"
#include "lifecycle/allocator.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "lifecycle/unraisable.hpp"
#include "lifecycle/weakref.hpp"
#include "unraisable_capture.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

namespace gc = lifecycle::gc;
using lifecycle::handle;
using lifecycle::instance_object;
using lifecycle::object;
using lifecycle::ref;

namespace {


struct debug_capture {
  std::vector<std::string> lines;
  debug_capture() {
    gc::set_debug_sink(
        [](std::string_view line, void* self) {
          static_cast<debug_capture*>(self)->lines.emplace_back(line);
        },
        this);
  }
  ~debug_capture() { gc::set_debug_sink(nullptr, nullptr); }
};

// What a Python program does about gc.garbage: break the cycles by hand (clear each instance's
// __dict__), then empty the list, so the objects die by refcount.
void break_garbage_cycles() {
  auto garbage = gc::garbage();
  for (std::size_t i = 0; i < garbage->size(); ++i) {
    object* op = garbage->at(i);
    if (lifecycle::is_instance(op)) {
      auto* inst = static_cast<instance_object*>(op);
      if (inst->dict) inst->dict->clear();
    }
  }
  garbage->clear();
}

handle<instance_object> self_cycle(const handle<lifecycle::class_object>& cls) {
  auto a = lifecycle::new_instance(cls);
  a->set_attr("self", a);
  return a;
}

// "0x..." as CPython's %p and our repr print an address.
std::string fmt_address(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

handle<lifecycle::list_object> self_cycle_list() {
  auto l = lifecycle::new_list();
  l->append(l);
  return l;
}

// A non-gc object with a finalizer (run at every death): what it sees of the allocator.
struct token : lifecycle::object {};
constinit std::size_t blocks_seen_by_token = 0;
constinit lifecycle::type_object token_type = [] {
  auto type = lifecycle::make_type<token>("token", lifecycle::type_flags::none);
  type.finalize = [](object*) { blocks_seen_by_token = lifecycle::allocator_blocks_in_use(); };
  return type;
}();

// A token whose finalizer makes a list and drops it: the blocks in use around that.
struct churn_token : lifecycle::object {};
constinit std::size_t churn_blocks_before = 0;
constinit std::size_t churn_blocks_after = 0;
constinit lifecycle::type_object churn_token_type = [] {
  auto type = lifecycle::make_type<churn_token>("churn_token", lifecycle::type_flags::none);
  type.finalize = [](object*) {
    churn_blocks_before = lifecycle::allocator_blocks_in_use();
    { auto temporary = lifecycle::new_list(); }
    churn_blocks_after = lifecycle::allocator_blocks_in_use();
  };
  return type;
}();

// `lists` self-cycle lists (list and item buffer each), then a self-cycle list also holding the
// only reference to a new T. A collection clears them in that order (nothing has a gc
// finalizer, so no finalizer runs before): the T dies when the last list is cleared, once the
// lists before it are gone.
template <class T>
void self_cycles_then_holder_of(int lists, const lifecycle::type_object& type) {
  for (int i = 0; i < lists; ++i) self_cycle_list();
  auto holder = lifecycle::new_list();
  holder->append(lifecycle::new_object<T>(type));
  holder->append(holder);
}

}  // namespace

TEST_CASE("a self-cycle with a finalizer is collected and finalized exactly once") {
  fresh_gc fresh;
  int finalized = 0;
  auto cls = lifecycle::new_class("A", {.del = [&](object*) { ++finalized; }});
  self_cycle(cls);
  CHECK(finalized == 0);
  CHECK(gc::collect() == 2);
  CHECK(finalized == 1);
  CHECK(gc::collect() == 0);
  CHECK(finalized == 1);
}

TEST_CASE("a cycle with a chain hanging off it: every finalizer runs once, all collected") {
  fresh_gc fresh;
  std::vector<std::string> order;
  auto cls = lifecycle::new_class("Link", {.del = [&](object* self) {
    auto name = static_cast<instance_object*>(self)->get_attr("name");
    order.emplace_back(static_cast<lifecycle::str_object*>(name.get())->view());
  }});
  auto named = [&](const char* name) {
    auto x = lifecycle::new_instance(cls);
    x->set_attr("name", lifecycle::new_str(name));
    return x;
  };
  {
    auto a = named("a"), b = named("b"), c = named("c"), d = named("d");
    a->set_attr("next", b);
    b->set_attr("next", a);  // a <-> b
    b->set_attr("tail", c);  // b -> c -> d
    c->set_attr("next", d);
  }
  // Nothing died at refcount zero: c and d hang off the cycle.
  CHECK(order.empty());
  CHECK(gc::collect() == 8);
  std::sort(order.begin(), order.end());
  CHECK(order == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(gc::collect() == 0);
  CHECK(order.size() == 4);
}

TEST_CASE("a cyclic object resurrected by its finalizer survives with a dead weakref") {
  fresh_gc fresh;
  int finalized = 0;
  ref saved;
  auto cls = lifecycle::new_class("Phoenix", {.del = [&](object* self) {
    ++finalized;
    saved = ref::borrow(self);
  }});
  auto wr = lifecycle::new_weakref(self_cycle(cls));
  REQUIRE(wr->alive());

  // Resurrected objects are not counted; the outside weakref has no callback.
  CHECK(gc::collect() == 0);
  CHECK(finalized == 1);
  REQUIRE(saved);
  CHECK_FALSE(wr->alive());  // weakrefs are cleared before finalizers run
  CHECK(gc::is_finalized(saved.get()));
  CHECK(static_cast<instance_object*>(saved.get())->get_attr("self") == saved);

  saved.reset();  // garbage again; never finalized a second time
  CHECK(gc::collect() == 2);
  CHECK(finalized == 1);
}

TEST_CASE("resurrection does not block other garbage and is not counted") {
  fresh_gc fresh;
  ref saved;
  auto phoenix = lifecycle::new_class("Phoenix", {.del = [&](object* self) {
    saved = ref::borrow(self);
  }});
  auto plain = lifecycle::new_class("Plain");
  self_cycle(phoenix);
  auto plain_wr = lifecycle::new_weakref(self_cycle(plain));
  CHECK(gc::collect() == 2);  // Plain + its dict
  CHECK_FALSE(plain_wr->alive());
  REQUIRE(saved);
  CHECK(gc::get_stats()[2].collected == 2);
  saved.reset();
  CHECK(gc::collect() == 2);
}

TEST_CASE("legacy finalizer cycles land in gc.garbage uncalled") {
  fresh_gc fresh;
  int legacy_called = 0;
  auto legacy = lifecycle::new_class("Legacy", {.legacy_del = [&](object*) { ++legacy_called; }});
  auto plain = lifecycle::new_class("Plain");
  {
    auto a = lifecycle::new_instance(legacy);
    auto b = lifecycle::new_instance(legacy);
    auto c = lifecycle::new_instance(plain);
    a->set_attr("peer", b);
    b->set_attr("peer", a);
    a->set_attr("child", c);  // reachable from a legacy finalizer: uncollectable too
  }
  // a, b, c and their three dicts are unreachable and all uncollectable.
  CHECK(gc::collect() == 6);
  CHECK(legacy_called == 0);
  auto garbage = gc::garbage();
  REQUIRE(garbage->size() == 2);  // only the objects that have a legacy finalizer
  CHECK(garbage->at(0)->type->name == std::string("Legacy"));
  CHECK(garbage->at(1)->type->name == std::string("Legacy"));
  CHECK(gc::get_stats()[2] == gc::generation_stats{1, 0, 6});

  // Still uncollectable on the next run: they stay in garbage once, reported again.
  CHECK(gc::collect() == 0);  // gc.garbage keeps them reachable now
  garbage->clear();
  CHECK(gc::collect() == 6);
  CHECK(garbage->size() == 2);
  CHECK(legacy_called == 0);
  // Broken by hand, they die by refcount, where tp_del does run (once each).
  break_garbage_cycles();
  CHECK(legacy_called == 2);
  CHECK(gc::detail::tracked_count() == 1);  // gc.garbage itself
}

TEST_CASE("DEBUG_SAVEALL puts a plain self-cycle in gc.garbage") {
  fresh_gc fresh;
  gc::set_debug(gc::debug_saveall);
  auto plain = lifecycle::new_class("Plain");
  object* raw = self_cycle(plain).get();
  CHECK(gc::collect() == 2);
  auto garbage = gc::garbage();
  REQUIRE(garbage->size() == 2);
  // Unreachable order: the instance is tracked before its dict (new_instance).
  CHECK(garbage->at(0) == raw);
  CHECK(garbage->at(1)->type == &lifecycle::dict_type);
  CHECK(gc::is_tracked(raw));  // alive, kept by gc.garbage
  gc::set_debug(0);
}

TEST_CASE("counts trickle down after collect(0), collect(1), collect(2)") {
  fresh_gc fresh;
  std::vector<ref> keep;
  for (int i = 0; i < 5; ++i) keep.push_back(lifecycle::new_list());
  CHECK(gc::get_count() == std::array<std::size_t, 3>{5, 0, 0});
  keep.pop_back();
  keep.pop_back();
  CHECK(gc::get_count() == std::array<std::size_t, 3>{3, 0, 0});  // deallocations count down
  gc::collect(0);
  CHECK(gc::get_count() == std::array<std::size_t, 3>{0, 1, 0});
  gc::collect(0);
  CHECK(gc::get_count() == std::array<std::size_t, 3>{0, 2, 0});
  gc::collect(1);
  CHECK(gc::get_count() == std::array<std::size_t, 3>{0, 0, 1});
  gc::collect(2);
  CHECK(gc::get_count() == std::array<std::size_t, 3>{0, 0, 0});
  // Deallocations never take gen0 below zero.
  keep.clear();
  CHECK(gc::get_count() == std::array<std::size_t, 3>{0, 0, 0});
}

TEST_CASE("get_stats has three generations and counts per generation") {
  fresh_gc fresh;
  CHECK(gc::get_stats() == std::array<gc::generation_stats, 3>{});
  self_cycle_list();
  CHECK(gc::collect(0) == 1);
  self_cycle_list();
  self_cycle_list();
  CHECK(gc::collect(1) == 2);
  CHECK(gc::collect(2) == 0);
  const auto stats = gc::get_stats();
  CHECK(stats[0] == gc::generation_stats{1, 1, 0});
  CHECK(stats[1] == gc::generation_stats{1, 2, 0});
  CHECK(stats[2] == gc::generation_stats{1, 0, 0});
}

TEST_CASE("collect rejects an invalid generation") {
  fresh_gc fresh;
  CHECK_THROWS_MATCHES(gc::collect(3), std::invalid_argument,
                       Catch::Matchers::Message("invalid generation"));
  CHECK_THROWS_AS(gc::collect(-1), std::invalid_argument);
  CHECK(gc::get_stats() == std::array<gc::generation_stats, 3>{});
}

TEST_CASE("gc callbacks get one start and one stop with generation, collected, uncollectable") {
  fresh_gc fresh;
  struct call {
    gc::phase phase;
    int generation;
    std::size_t collected, uncollectable;
  };
  std::vector<call> calls;
  const auto id = gc::add_callback([&](gc::phase p, const gc::callback_info& info) {
    calls.push_back({p, info.generation, info.collected, info.uncollectable});
  });
  auto plain = lifecycle::new_class("Plain");
  auto legacy = lifecycle::new_class("Legacy", {.legacy_del = [](object*) {}});
  self_cycle(plain);
  self_cycle(legacy);
  CHECK(gc::collect(1) == 4);
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].phase == gc::phase::start);
  CHECK(calls[0].generation == 1);
  CHECK(calls[0].collected == 0);
  CHECK(calls[0].uncollectable == 0);
  CHECK(calls[1].phase == gc::phase::stop);
  CHECK(calls[1].generation == 1);
  CHECK(calls[1].collected == 2);
  CHECK(calls[1].uncollectable == 2);

  // The shutdown collection does not call them.
  gc::garbage()->clear();
  CHECK(gc::detail::collect_no_fail() == 2);
  CHECK(calls.size() == 2);
  break_garbage_cycles();
  CHECK(gc::remove_callback(id));
  CHECK_FALSE(gc::remove_callback(id));
  gc::collect();
  CHECK(calls.size() == 2);
}

TEST_CASE("an exception in a gc callback is reported and the other callbacks still run") {
  fresh_gc fresh;
  unraisable_capture unraisable;
  int second = 0;
  gc::add_callback([](gc::phase, const gc::callback_info&) {
    throw lifecycle::python_error("RuntimeError", "callback failed");
  });
  gc::add_callback([&](gc::phase, const gc::callback_info&) { ++second; });
  self_cycle_list();
  CHECK(gc::collect() == 1);
  CHECK(second == 2);
  REQUIRE(unraisable.events.size() == 2);
  CHECK(unraisable.events[0].message == "Exception ignored on calling gc callback");
  CHECK(unraisable.events[0].exception_type == "RuntimeError");
  CHECK(unraisable.events[0].exception_value == "callback failed");
}

TEST_CASE("a trash weakref's callback is suppressed while an outside weakref's runs") {
  fresh_gc fresh;
  std::vector<std::string> called;
  auto cls = lifecycle::new_class("Node");
  handle<lifecycle::weakref_object> outside;
  {
    auto a = lifecycle::new_instance(cls);
    auto b = lifecycle::new_instance(cls);
    a->set_attr("peer", b);
    b->set_attr("peer", a);
    // a holds a weakref to b: the weakref is garbage with them.
    a->set_attr("wr", lifecycle::new_weakref(b, [&](const auto&) { called.push_back("trash"); }));
    outside = lifecycle::new_weakref(a, [&](const auto& wr) {
      called.push_back(wr->alive() ? "outside-alive" : "outside");
    });
  }
  // 2 instances + 2 dicts + the trash weakref; the outside weakref survives (held here).
  CHECK(gc::collect() == 5);
  CHECK(called == std::vector<std::string>{"outside"});
  CHECK_FALSE(outside->alive());
}

TEST_CASE("an outside weakref freed by its own callback is counted") {
  fresh_gc fresh;
  auto cls = lifecycle::new_class("Node");
  ref holder;
  int called = 0;
  {
    auto a = self_cycle(cls);
    // Only the callback keeps the weakref alive through `holder`; it drops it.
    holder = lifecycle::new_weakref(a, [&](const auto&) {
      ++called;
      holder.reset();
    });
  }
  CHECK(gc::collect() == 3);
  CHECK(called == 1);
}

TEST_CASE("weakref callbacks and finalizers never see half-cleared objects") {
  fresh_gc fresh;
  std::vector<std::string> log;
  instance_object* a_raw = nullptr;
  instance_object* b_raw = nullptr;
  auto intact = [&] {
    return a_raw->get_attr("peer").get() == b_raw && b_raw->get_attr("peer").get() == a_raw &&
           a_raw->get_attr("tag") && b_raw->get_attr("tag");
  };
  auto cls = lifecycle::new_class("Node", {.del = [&](object*) {
    log.push_back(intact() ? "del:intact" : "del:cleared");
  }});
  handle<lifecycle::weakref_object> outside;
  {
    auto a = lifecycle::new_instance(cls);
    auto b = lifecycle::new_instance(cls);
    a_raw = a.get();
    b_raw = b.get();
    a->set_attr("peer", b);
    b->set_attr("peer", a);
    a->set_attr("tag", lifecycle::new_int(1));
    b->set_attr("tag", lifecycle::new_int(2));
    outside = lifecycle::new_weakref(b, [&](const auto&) {
      log.push_back(intact() ? "wr:intact" : "wr:cleared");
    });
  }
  CHECK(gc::collect() == 4);
  CHECK(log == std::vector<std::string>{"wr:intact", "del:intact", "del:intact"});
}

TEST_CASE("is_tracked and is_finalized") {
  fresh_gc fresh;
  auto i = lifecycle::new_int(3);
  auto s = lifecycle::new_str("x");
  auto l = lifecycle::new_list();
  auto d = lifecycle::new_dict();
  CHECK_FALSE(gc::is_tracked(i.get()));
  CHECK_FALSE(gc::is_tracked(s.get()));
  CHECK_FALSE(gc::is_tracked(lifecycle::none_object()));
  CHECK(gc::is_tracked(l.get()));
  CHECK_FALSE(gc::is_tracked(d.get()));  // CPython 3.11: gc.is_tracked({}) is False
  gc::untrack(l.get());
  CHECK_FALSE(gc::is_tracked(l.get()));
  gc::track(l.get());
  CHECK(gc::is_tracked(l.get()));

  ref saved;
  auto cls = lifecycle::new_class("Lazarus", {.del = [&](object* self) {
    saved = ref::borrow(self);
  }});
  auto x = lifecycle::new_instance(cls);
  CHECK_FALSE(gc::is_finalized(x.get()));
  object* raw = x.get();
  x.reset();  // refcount death: finalizer resurrects
  REQUIRE(saved.get() == raw);
  CHECK(gc::is_finalized(raw));
  CHECK_FALSE(gc::is_finalized(i.get()));
}

TEST_CASE("threshold 700 collects generation 0 at the 701st tracked allocation") {
  fresh_gc fresh;
  REQUIRE(gc::get_threshold() == gc::cpython_311_thresholds);
  std::vector<int> collections_at;
  int allocation = 0;
  gc::add_callback([&](gc::phase p, const gc::callback_info& info) {
    if (p == gc::phase::start) collections_at.push_back(allocation * 10 + info.generation);
  });
  std::vector<ref> keep;
  for (allocation = 1; allocation <= 1402; ++allocation) keep.push_back(lifecycle::new_list());
  // 701st: count 701 > 700 collects before the object exists, and the reset count does not
  // include it (as CPython's _PyObject_GC_Link); 701 more allocations reach 701 again: #1402.
  CHECK(collections_at == std::vector<int>{7010, 14020});
  CHECK(gc::get_count() == std::array<std::size_t, 3>{0, 2, 0});
}

TEST_CASE("the 3.13 preset thresholds") {
  fresh_gc fresh;
  gc::set_threshold(gc::cpython_313_thresholds);
  CHECK(gc::get_threshold() == gc::thresholds{2000, 10, 10});
  int collections = 0;
  gc::add_callback([&](gc::phase p, const gc::callback_info&) {
    if (p == gc::phase::start) ++collections;
  });
  std::vector<ref> keep;
  for (int i = 0; i < 2000; ++i) keep.push_back(lifecycle::new_list());
  CHECK(collections == 0);
  keep.push_back(lifecycle::new_list());
  CHECK(collections == 1);
}

// What CPython 3.11 prints for the same steps (MAINTAIN_TRACKING / _PyDict_MaybeUntrack).
TEST_CASE("a dict is tracked once it holds a gc object and untracked by full collections only") {
  fresh_gc fresh;
  auto d = lifecycle::new_dict();
  CHECK_FALSE(gc::is_tracked(d.get()));
  d->set("i", lifecycle::new_int(1));
  d->set("s", lifecycle::new_str("x"));
  d->set("n", lifecycle::none());
  CHECK_FALSE(gc::is_tracked(d.get()));  // atoms only
  d->set("l", lifecycle::new_list());
  CHECK(gc::is_tracked(d.get()));
  d->set("l", lifecycle::new_int(2));  // the list is gone, the dict stays tracked...
  CHECK(gc::is_tracked(d.get()));
  gc::collect(0);
  CHECK(gc::is_tracked(d.get()));
  gc::collect(1);
  CHECK(gc::is_tracked(d.get()));  // ... until a full collection finds only atoms in it
  CHECK(gc::get_objects(2).size() == 1);
  CHECK(gc::collect(2) == 0);
  CHECK_FALSE(gc::is_tracked(d.get()));
  CHECK(gc::get_objects().empty());

  // Any gc object counts, tracked or not: a dict holding an (untracked) empty dict stays tracked.
  auto outer = lifecycle::new_dict();
  outer->set("inner", lifecycle::new_dict());
  CHECK(gc::is_tracked(outer.get()));
  gc::collect();
  CHECK(gc::is_tracked(outer.get()));
  CHECK_FALSE(gc::is_tracked(outer->get("inner").get()));

  // Erasing the gc value or clearing does not untrack; the next full collection does.
  auto e = lifecycle::new_dict();
  e->set("l", lifecycle::new_list());
  CHECK(e->erase("l"));
  CHECK(gc::is_tracked(e.get()));
  auto c = lifecycle::new_dict();
  c->set("l", lifecycle::new_list());
  c->clear();
  CHECK(gc::is_tracked(c.get()));
  gc::collect();
  CHECK_FALSE(gc::is_tracked(e.get()));
  CHECK_FALSE(gc::is_tracked(c.get()));

  // Replacing a value in place (as module clearing does) tracks too.
  auto r = lifecycle::new_dict();
  r->set("k", lifecycle::none());
  std::size_t pos = 0;
  lifecycle::str_object* key = nullptr;
  object* value = nullptr;
  REQUIRE(r->next(pos, key, value));
  r->replace_at(pos, lifecycle::new_list());
  CHECK(gc::is_tracked(r.get()));
}

TEST_CASE("an untracked dict is not part of collections, and a tracked one in a cycle is") {
  fresh_gc fresh;
  {
    auto l = lifecycle::new_list();
    auto atoms = lifecycle::new_dict();
    atoms->set("i", lifecycle::new_int(1));
    l->append(atoms);
    l->append(l);  // a self-cycle holding an untracked dict
  }
  CHECK(gc::collect() == 1);  // the list only; the dict died by refcount with it
  {
    auto l = lifecycle::new_list();
    auto d = lifecycle::new_dict();
    d->set("back", l);
    l->append(d);  // list <-> dict
  }
  CHECK(gc::collect() == 2);
  // Surviving dicts of atoms leave the generations at the full collection.
  std::vector<handle<lifecycle::dict_object>> kept;
  for (int i = 0; i < 8; ++i) {
    kept.push_back(lifecycle::new_dict());
    kept.back()->set("l", lifecycle::new_list());
    kept.back()->set("l", lifecycle::none());
  }
  CHECK(gc::get_objects().size() == 8);
  CHECK(gc::collect() == 0);
  CHECK(gc::get_objects().empty());
}

TEST_CASE("an instance's attribute dict is tracked from its creation on, whatever it holds") {
  fresh_gc fresh;
  auto inst = lifecycle::new_instance(lifecycle::new_class("Plain"));
  inst->set_attr("i", lifecycle::new_int(1));
  CHECK(gc::is_tracked(inst->dict.get()));
  gc::collect();
  CHECK(gc::is_tracked(inst->dict.get()));
  CHECK(gc::get_objects().size() == 2);
}

TEST_CASE("the long-lived heuristic delays full collections") {
  fresh_gc fresh;
  std::vector<ref> keep;
  for (int i = 0; i < 100; ++i) keep.push_back(lifecycle::new_list());
  gc::collect();  // long_lived_total = 100, pending = 0
  gc::set_threshold({1, 0, 0});
  int first_full = 0;
  int allocation = 0;
  gc::add_callback([&](gc::phase p, const gc::callback_info& info) {
    if (p == gc::phase::start && info.generation == 2 && first_full == 0) first_full = allocation;
  });
  for (allocation = 1; allocation <= 40; ++allocation) keep.push_back(lifecycle::new_list());
  // Thresholds (1, 0, 0): every 2nd allocation collects; gen1 collections alternate with gen0
  // ones and each moves the 4 newest survivors toward gen2 (pending 3 after #4, +4 per 4
  // allocations). A full collection needs pending >= 100 / 4: 27 after #28, so #30.
  CHECK(first_full == 30);
}

TEST_CASE("an exception in a finalizer is reported and the collection completes") {
  fresh_gc fresh;
  unraisable_capture unraisable;
  auto cls = lifecycle::new_class("Boom", {.del = [](object*) {
    throw lifecycle::python_error("ValueError", "boom");
  }});
  self_cycle(cls);
  auto other = lifecycle::new_class("Other");
  auto wr = lifecycle::new_weakref(self_cycle(other));
  CHECK(gc::collect() == 4);
  CHECK_FALSE(wr->alive());
  REQUIRE(unraisable.events.size() == 1);
  const auto& e = unraisable.events[0];
  CHECK(e.message == "Exception ignored in");
  CHECK(std::regex_match(e.object_repr, std::regex("<Boom object at 0x[0-9a-f]+>")));
  CHECK(e.exception_type == "ValueError");
  CHECK(e.exception_value == "boom");
  CHECK(lifecycle::format_unraisable(e) ==
        "Exception ignored in: " + e.object_repr + "\nValueError: boom\n");
}

TEST_CASE("with gc disabled cycles accumulate and collect() still works") {
  fresh_gc fresh;
  gc::disable();
  CHECK_FALSE(gc::is_enabled());
  for (int i = 0; i < 1000; ++i) self_cycle_list();
  CHECK(gc::get_count()[0] == 1000);
  CHECK(gc::get_stats()[0].collections == 0);
  CHECK(gc::detail::tracked_count() == 1000);
  CHECK(gc::collect() == 1000);
  CHECK(gc::detail::tracked_count() == 0);
  gc::enable();
  CHECK(gc::is_enabled());
}

TEST_CASE("collect() from inside a finalizer returns 0") {
  fresh_gc fresh;
  std::size_t nested = 99;
  auto cls = lifecycle::new_class("Nested", {.del = [&](object*) { nested = gc::collect(); }});
  self_cycle(cls);
  CHECK(gc::collect() == 2);
  CHECK(nested == 0);
}

TEST_CASE("DEBUG_STATS, DEBUG_COLLECTABLE and DEBUG_UNCOLLECTABLE print CPython-shaped lines") {
  fresh_gc fresh;
  debug_capture debug;
  auto keep = lifecycle::new_list();
  auto cycle = self_cycle_list();
  const std::string address = fmt_address(cycle.get());
  cycle.reset();
  gc::set_debug(gc::debug_stats | gc::debug_collectable);
  CHECK(gc::collect(2) == 1);
  REQUIRE(debug.lines.size() == 5);
  CHECK(debug.lines[0] == "gc: collecting generation 2...");
  CHECK(debug.lines[1] == "gc: objects in each generation: 2 0 0");
  CHECK(debug.lines[2] == "gc: objects in permanent generation: 0");
  CHECK(debug.lines[3] == "gc: collectable <list " + address + ">");
  CHECK(std::regex_match(debug.lines[4],
                         std::regex(R"(gc: done, 1 unreachable, 0 uncollectable, \d+\.\d{4}s elapsed)")));

  debug.lines.clear();
  gc::set_debug(gc::debug_leak);
  auto legacy = lifecycle::new_class("Legacy", {.legacy_del = [](object*) {}});
  object* raw = self_cycle(legacy).get();
  CHECK(gc::collect() == 2);
  REQUIRE(debug.lines.size() == 2);
  CHECK(debug.lines[0] == "gc: uncollectable <Legacy " + fmt_address(raw) + ">");
  CHECK(debug.lines[1].rfind("gc: uncollectable <dict 0x", 0) == 0);
  gc::set_debug(0);
  break_garbage_cycles();
}

TEST_CASE("freeze moves everything to the permanent generation and unfreeze back to gen2") {
  fresh_gc fresh;
  auto a = lifecycle::new_list();
  auto b = lifecycle::new_list();
  gc::freeze();
  CHECK(gc::get_freeze_count() == 2);
  CHECK(gc::get_count()[0] == 0);
  CHECK(gc::get_objects().empty());
  CHECK(gc::get_referrers(a).empty());
  auto c = lifecycle::new_list();
  c->append(a);
  CHECK(gc::get_objects(0).size() == 1);
  // A frozen cycle is not collected.
  b->append(b);
  object* b_raw = b.get();
  b.reset();
  CHECK(gc::collect() == 0);
  gc::unfreeze();
  CHECK(gc::get_freeze_count() == 0);
  CHECK(gc::get_objects(2).size() == 3);  // a, b (still alive), c
  CHECK(gc::get_referrers(a).size() == 1);
  CHECK(gc::is_tracked(b_raw));
  CHECK(gc::collect() == 1);
}

TEST_CASE("get_referents, get_referrers and get_objects") {
  fresh_gc fresh;
  auto l = lifecycle::new_list();
  auto i = lifecycle::new_int(7);
  auto inner = lifecycle::new_list();
  l->append(i);
  l->append(inner);
  // Last item first, as CPython's gc.get_referents([i, inner]) == [inner, i].
  auto referents = gc::get_referents(l);
  REQUIRE(referents.size() == 2);
  CHECK(referents[0] == inner);
  CHECK(referents[1] == i);
  CHECK(gc::get_referents(i).empty());

  auto referrers = gc::get_referrers(inner);
  REQUIRE(referrers.size() == 1);
  CHECK(referrers[0] == l);

  CHECK(gc::get_objects().size() == 2);
  CHECK(gc::get_objects(0).size() == 2);
  gc::collect(0);
  CHECK(gc::get_objects(0).empty());
  CHECK(gc::get_objects(1).size() == 2);
  CHECK_THROWS_AS(gc::get_objects(3), std::invalid_argument);
  CHECK_THROWS_AS(gc::get_objects(-1), std::invalid_argument);
}

TEST_CASE("reset_state detaches survivors and restores the defaults") {
  gc::detail::collect_no_fail();
  gc::detail::reset_state();
  gc::set_threshold({5, 5, 5});
  gc::disable();
  auto kept = lifecycle::new_list();
  auto target = lifecycle::new_instance(lifecycle::new_class("Target"));
  int called = 0;
  auto wr = lifecycle::new_weakref(target, [&](const auto&) { ++called; });
  gc::collect(0);
  gc::set_debug(gc::debug_stats);
  CHECK(gc::detail::reset_state() == 4);  // kept, target and its dict, wr
  CHECK(gc::get_threshold() == gc::cpython_311_thresholds);
  CHECK(gc::get_debug() == 0);
  CHECK(gc::is_enabled());
  CHECK(gc::get_stats() == std::array<gc::generation_stats, 3>{});
  CHECK(gc::detail::tracked_count() == 0);
  CHECK_FALSE(wr->alive());  // detached, no callback
  target.reset();
  CHECK(called == 0);
  // Survivors die normally afterwards.
  kept.reset();
  wr.reset();
  CHECK(gc::get_count()[0] == 0);
}

TEST_CASE("garbage is found only by collections of its generation, across full collections") {
  fresh_gc fresh;
  auto root = lifecycle::new_list();  // an old object referring to young ones
  auto kept = self_cycle_list();
  root->append(self_cycle_list());
  // Young garbage referred to by nothing; young cycle kept alive only through `root`.
  CHECK(gc::collect(0) == 0);  // kept and root's cycle survive into gen1
  CHECK(gc::get_objects(1).size() == 3);
  CHECK(gc::collect(1) == 0);  // ... into gen2
  CHECK(gc::get_objects(2).size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(gc::collect(2) == 0);  // survivors stay put, full after full

  kept.reset();      // kept is now gen2 garbage
  root->clear();     // so is root's former cycle
  self_cycle_list(); // and one young cycle
  CHECK(gc::collect(0) == 1);  // the young one only
  CHECK(gc::collect(1) == 0);
  CHECK(gc::collect(2) == 2);
  CHECK(gc::get_objects().size() == 1);  // root

  // A young object survives through an old referrer; once unreferred it is garbage of gen2.
  root->append(self_cycle_list());
  gc::collect(2);
  CHECK(gc::get_objects(2).size() == 2);
  root->clear();
  CHECK(gc::collect(1) == 0);
  CHECK(gc::collect(2) == 1);
}

TEST_CASE("the shutdown report on gc.garbage follows _PyGC_DumpShutdownStats") {
  fresh_gc fresh;
  CHECK_FALSE(gc::detail::shutdown_garbage_report_text());
  auto legacy = lifecycle::new_class("Legacy", {.legacy_del = [](object*) {}});
  object* raw = self_cycle(legacy).get();
  CHECK(gc::collect() == 2);
  auto report = gc::detail::shutdown_garbage_report_text();
  REQUIRE(report);
  CHECK(report->warning ==
        "gc: 1 uncollectable objects at shutdown; use gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to "
        "list them");
  CHECK(report->listing.empty());
  gc::set_debug(gc::debug_uncollectable);
  report = gc::detail::shutdown_garbage_report_text();
  REQUIRE(report);
  CHECK(report->warning == "gc: 1 uncollectable objects at shutdown");
  CHECK(report->listing == "      [" + lifecycle::repr(raw) + "]");
  gc::set_debug(gc::debug_saveall);
  CHECK_FALSE(gc::detail::shutdown_garbage_report_text());
  gc::set_debug(0);
  break_garbage_cycles();
}

TEST_CASE("garbage freed before a finalizer runs is back in the allocator when it runs") {
  fresh_gc fresh;
  lifecycle::register_type(token_type);
  const std::size_t base = lifecycle::allocator_blocks_in_use();
  self_cycles_then_holder_of<token>(100, token_type);
  CHECK(lifecycle::allocator_blocks_in_use() == base + 2 * 100 + 3);
  blocks_seen_by_token = 0;
  CHECK(gc::collect() == 101);
  // Still allocated when the token's finalizer runs: the holder, its item buffer, the token.
  CHECK(blocks_seen_by_token == base + 3);
  CHECK(lifecycle::allocator_blocks_in_use() == base);
}

TEST_CASE("what dies inside a finalizer run by the collector's clearing is freed at once") {
  fresh_gc fresh;
  lifecycle::register_type(churn_token_type);
  const std::size_t base = lifecycle::allocator_blocks_in_use();
  self_cycles_then_holder_of<churn_token>(10, churn_token_type);
  churn_blocks_before = churn_blocks_after = 0;
  CHECK(gc::collect() == 11);
  // The finalizer ran while the collection was clearing: its own list came and went.
  CHECK(churn_blocks_before != 0);
  CHECK(churn_blocks_after == churn_blocks_before);
  CHECK(lifecycle::allocator_blocks_in_use() == base);
}

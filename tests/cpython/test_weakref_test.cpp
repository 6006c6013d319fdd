// The weakref-callback tests of CPython 3.11's Lib/test/test_weakref.py that apply to lifecycle
// (ReferencesTestCase), ported: each TEST_CASE is one test method, Class::method. A weakref
// callback here is a C++ callable the collector cannot see into (weakref.hpp); where the Python
// callback is a bound method of an object in the trash, the port's callback reaches that
// object through a borrowed pointer, which keeps nothing alive, as the trash does not.
#include <string>
#include <vector>

#include "catch.hpp"
#include "cpython_support.hpp"

namespace {

using namespace cpython_port;
namespace gc = lifecycle::gc;
using lifecycle::class_object;
using lifecycle::weakref_object;

struct weakref_test {
  fresh_gc fresh;
  int cbcalled = 0;
  // TestBase.callback
  lifecycle::weakref_callback callback() {
    return [this](const auto&) { ++cbcalled; };
  }
};

handle<class_object> plain_class(const char* name) { return lifecycle::new_class(name); }

}  // namespace

TEST_CASE("ReferencesTestCase::test_basic_ref") {
  // The class part (functions and bound methods are not objects here).
  weakref_test t;
  auto c = plain_class("C");
  auto o = lifecycle::new_instance(c);
  auto ref1 = lifecycle::new_weakref(o);
  CHECK(ref1->alive());  // weak reference to live object should be live
  CHECK(ref1->get() == o);  // <ref>() returns the original object while it lives
  CHECK_FALSE(lifecycle::repr(ref1).empty());
  o.reset();
  CHECK_FALSE(lifecycle::repr(ref1).empty());  // repr of a dead reference works too
}

TEST_CASE("ReferencesTestCase::test_basic_callback") {
  weakref_test t;
  auto c = plain_class("C");
  auto o = lifecycle::new_instance(c);
  auto ref1 = lifecycle::new_weakref(o, t.callback());
  o.reset();
  gc::collect();
  CHECK(t.cbcalled == 1);
  CHECK_FALSE(ref1->alive());
}

TEST_CASE("ReferencesTestCase::test_multiple_callbacks") {
  weakref_test t;
  auto c = plain_class("C");
  auto o = lifecycle::new_instance(c);
  auto ref1 = lifecycle::new_weakref(o, t.callback());
  auto ref2 = lifecycle::new_weakref(o, t.callback());
  o.reset();
  gc::collect();
  CHECK_FALSE(ref1->alive());
  CHECK_FALSE(ref2->alive());
  CHECK(t.cbcalled == 2);
}

TEST_CASE("ReferencesTestCase::test_multiple_selfref_callbacks") {
  // Every reference is invalidated before any callback runs: the callback of the newest ref
  // (run first) sees the older one already dead.
  weakref_test t;
  auto c = plain_class("C");
  handle<weakref_object> self_ref;
  std::vector<bool> seen_alive;
  auto callback = [&](const auto&) { seen_alive.push_back(self_ref->alive()); };
  auto o = lifecycle::new_instance(c);
  self_ref = lifecycle::new_weakref(o, callback);
  auto ref1 = lifecycle::new_weakref(o, callback);
  o.reset();
  CHECK(seen_alive == std::vector<bool>{false, false});
}

TEST_CASE("ReferencesTestCase::test_getweakrefcount") {
  // Proxies are not modelled: the refs only.
  weakref_test t;
  auto c = plain_class("C");
  auto o = lifecycle::new_instance(c);
  auto ref1 = lifecycle::new_weakref(o);
  auto ref2 = lifecycle::new_weakref(o, t.callback());
  CHECK(lifecycle::weakref_count(o.get()) == 2);
  ref1.reset();
  ref2.reset();
  gc::collect();
  CHECK(lifecycle::weakref_count(o.get()) == 0);  // unlinked from the referent when discarded
  CHECK(lifecycle::weakref_count(lifecycle::new_int(1).get()) == 0);  // ints: no weakrefs
}

namespace {
struct bogus_error {};
}  // namespace

TEST_CASE("ReferencesTestCase::test_callbacks_protected") {
  // SF bug #478534: a callback run while an exception propagates (the referent dies as the
  // frame unwinds) must not disturb that exception.
  weakref_test t;
  auto data = lifecycle::new_dict();
  auto function = plain_class("function");
  int removed = 0;
  auto encapsulate = [&] {
    auto f = lifecycle::new_instance(function);  // f = lambda: ()
    auto wr = lifecycle::new_weakref(f, [&](const auto&) {
      data->erase("key");  // remove(k): del data[k]
      ++removed;
    });
    data->set("key", wr);
    throw bogus_error{};
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool caught = false;
    try {
      encapsulate();
    } catch (const bogus_error&) {
      caught = true;
    }
    CHECK(caught);  // else "exception not properly restored"
  }
  CHECK(removed == 2);
  CHECK(data->size() == 0);
}

TEST_CASE("ReferencesTestCase::test_sf_bug_840829") {
  // "weakref callbacks and gc corrupt memory": callbacks that collect while the object whose
  // death runs them is being deallocated.
  weakref_test t;
  auto c_class = plain_class("C");
  int collections = 0;
  auto collect = [&](const auto&) {
    ++collections;
    gc::collect();
  };
  auto c = lifecycle::new_instance(c_class);
  auto wr = lifecycle::new_weakref(c, collect);
  c.reset();
  wr.reset();  // there endeth the first part
  auto c1 = lifecycle::new_instance(c_class);
  c1->set_attr("i", lifecycle::new_instance(c_class));
  wr = lifecycle::new_weakref(c1->get_attr("i"), collect);
  auto c2 = lifecycle::new_instance(c_class);
  c2->set_attr("c1", c1);
  c1.reset();  // still alive: c2 points to it
  c2.reset();
  CHECK(collections == 2);
  CHECK_FALSE(wr->alive());
  CHECK(gc::detail::tracked_count() == 1);  // the weakref itself
}

TEST_CASE("ReferencesTestCase::test_callback_in_cycle") {
  // I holds a strong and a weak reference to J, and the weakref's callback reads I.J; all of it
  // is trash. The weakref is trash too, so it is cleared without its callback: the callback can
  // never see I half-cleared.
  weakref_test t;
  auto ii = plain_class("II");
  auto j_class = plain_class("J");
  int called = 0;
  {
    auto j = lifecycle::new_instance(j_class);
    j->set_attr("__mro__", j);  // classes are in self-cycles in CPython
    auto i = lifecycle::new_instance(ii);
    i->set_attr("J", j);
    instance_object* self = i.get();
    i->set_attr("wr", lifecycle::new_weakref(j, [self, &called](const auto&) {
      ++called;
      (void)self->get_attr("J");  // self.J
    }));
  }
  gc::collect();
  CHECK(called == 0);
  CHECK(gc::detail::tracked_count() == 0);
}

namespace {

// test_callback_reachable_one_way / test_callback_different_classes: c2.wr = weakref(c1, c2.cb),
// c2 in a self-cycle and holding c1. The weakref is trash: no callback.
void check_callback_reachable_one_way(bool different_classes) {
  weakref_test t;
  auto c_class = plain_class("C");
  auto d_class = different_classes ? plain_class("D") : c_class;
  int called = 0;
  {
    auto c1 = lifecycle::new_instance(d_class);
    auto c2 = lifecycle::new_instance(c_class);
    c2->set_attr("me", c2);
    c2->set_attr("c1", c1);
    instance_object* self = c2.get();
    c2->set_attr("wr", lifecycle::new_weakref(c1, [self, &called](const auto&) {
      ++called;
      (void)self->get_attr("me"), (void)self->get_attr("c1"), (void)self->get_attr("wr");
    }));
  }
  c_class.reset();
  d_class.reset();
  gc::collect();
  CHECK(called == 0);
  CHECK(gc::detail::tracked_count() == 0);
}

}  // namespace

TEST_CASE("ReferencesTestCase::test_callback_reachable_one_way") {
  check_callback_reachable_one_way(false);
}

TEST_CASE("ReferencesTestCase::test_callback_different_classes") {
  check_callback_reachable_one_way(true);
}

TEST_CASE("ReferencesTestCase::test_callback_in_cycle_resurrection") {
  // Weakrefs that are part of cyclic trash are cleared without their callbacks (which would
  // resurrect trash); an outside weakref to the class the trash kept alive does get its callback.
  weakref_test t;
  std::vector<std::string> alist;
  auto c_class = plain_class("C");
  {
    auto c1 = lifecycle::new_instance(c_class);
    auto c2 = lifecycle::new_instance(c_class);
    c1->set_attr("attribute", lifecycle::new_int(1));
    c2->set_attr("attribute", lifecycle::new_int(2));
    c1->set_attr("c", c2);
    c2->set_attr("c", c1);
    auto acallback = [&alist](instance_object* self) {
      return [self, &alist](const auto&) {
        (void)self->get_attr("c");  // alist.append(self.c)
        alist.push_back("acallback");
      };
    };
    c1->set_attr("wr", lifecycle::new_weakref(c2, acallback(c1.get())));
    c2->set_attr("wr", lifecycle::new_weakref(c1, acallback(c2.get())));
  }
  auto wr = lifecycle::new_weakref(c_class, [&](const auto&) { alist.push_back("C went away"); });
  c_class.reset();  // del c1, c2, C: all trash
  CHECK(alist.empty());  // del isn't enough to reclaim anything
  gc::collect();
  CHECK(alist == std::vector<std::string>{"C went away"});
  CHECK_FALSE(wr->alive());
  alist.clear();
  gc::collect();
  CHECK(alist.empty());
}

TEST_CASE("ReferencesTestCase::test_gc_during_ref_creation") {
  // A collection triggered by making a weakref (threshold 1) sees a half-made cycle of trash
  // holding another weakref.
  weakref_test t;
  const auto thresholds = gc::get_threshold();
  gc::set_threshold({1, 1, 1});
  gc::collect();
  auto a_class = plain_class("A");
  int called = 0;
  auto referenced = lifecycle::new_instance(a_class);
  auto a = lifecycle::new_instance(a_class);
  a->set_attr("a", a);
  a->set_attr("wr", lifecycle::new_weakref(referenced));
  const auto collections = gc::get_stats()[0].collections;
  a = lifecycle::new_instance(a_class);  // now the object and its ref are cyclic trash
  auto wr = lifecycle::new_weakref(referenced, [&](const auto&) { ++called; });
  gc::set_threshold(thresholds);
  CHECK(gc::get_stats()[0].collections > collections);  // the creations did collect
  CHECK(referenced->get_attr("a").get() == nullptr);
  CHECK(called == 0);
  CHECK(wr->alive());
}

TEST_CASE("ReferencesTestCase::test_ref_created_during_del") {
  // Bug #1377858: a weakref made in __del__ to the dying object must not refer to freed memory.
  weakref_test t;
  handle<weakref_object> ref_from_del;
  auto target = lifecycle::new_class(
      "Target", {.del = [&](object* self) { ref_from_del = lifecycle::new_weakref(ref::borrow(self)); }});
  lifecycle::new_instance(target);  // w = Target(), gone at once
  REQUIRE(ref_from_del);
  CHECK_FALSE(ref_from_del->alive());
}

TEST_CASE("ReferencesTestCase::test_trashcan_16602") {
  // Issue #16602: a weakref whose target dies deep in a long deallocation chain (delayed by the
  // trashcan) must be cleared before outside code can see the target. Each C holds a weakref
  // to its parent whose callback dereferences a weakref to the C itself. `d` stands for the
  // WeakKeyDictionary d[parent] = child: the entry holds the child strongly, and a weakref to
  // the parent (made after the child's, as d[c] = C(c) makes it) drops the entry when the
  // parent dies. CPython 3.11 runs all 100 callbacks; only the last child, which the variable
  // `c` keeps, is still alive in its callback: the others died when their entry went, before
  // their own callback ran.
  weakref_test t;
  auto c_class = plain_class("C");
  auto d = lifecycle::new_dict();
  int callbacks = 0;
  int alive_in_callback = 0;
  auto root = lifecycle::new_instance(c_class);
  handle<instance_object> c = root;
  for (int n = 0; n < 100; ++n) {
    auto child = lifecycle::new_instance(c_class);
    auto wself = lifecycle::new_weakref(child);
    child->set_attr("wparent", lifecycle::new_weakref(c, [&, wself](const auto&) {
      ++callbacks;
      alive_in_callback += wself->alive() ? 1 : 0;  // o = wself()
    }));
    const std::string key = "c" + std::to_string(n);
    child->set_attr("key_ref", lifecycle::new_weakref(c, [d, key](const auto&) { d->erase(key); }));
    d->set(key, child);
    c = child;
  }
  root.reset();  // del root: the chain dies link by link
  gc::collect();
  CHECK(callbacks == 100);
  CHECK(alive_in_callback == 1);
  CHECK(d->size() == 0);
}

TEST_CASE("ReferencesTestCase::test_callback_attribute") {
  weakref_test t;
  auto object_class = plain_class("Object");
  auto x = lifecycle::new_instance(object_class);
  auto ref1 = lifecycle::new_weakref(x, [](const auto&) {});
  CHECK(static_cast<bool>(ref1->callback));  // ref1.__callback__ is callback
  auto ref2 = lifecycle::new_weakref(x);
  CHECK_FALSE(static_cast<bool>(ref2->callback));  // None
}

TEST_CASE("ReferencesTestCase::test_callback_attribute_after_deletion") {
  weakref_test t;
  auto object_class = plain_class("Object");
  auto x = lifecycle::new_instance(object_class);
  auto ref1 = lifecycle::new_weakref(x, t.callback());
  CHECK(static_cast<bool>(ref1->callback));
  x.reset();
  gc::collect();
  CHECK_FALSE(static_cast<bool>(ref1->callback));  // __callback__ is None once it ran
}

TEST_CASE("ReferencesTestCase::test_callback_gcs") {
  // A callback that collects, run by the death of an object with a finalizer.
  weakref_test t;
  int finalized = 0;
  auto with_del = lifecycle::new_class("ObjectWithDel", {.del = [&](object*) { ++finalized; }});
  int called = 0;
  auto x = lifecycle::new_instance(with_del);
  auto ref1 = lifecycle::new_weakref(x, [&](const auto&) {
    ++called;
    gc::collect();
  });
  x.reset();
  gc::collect();
  CHECK(finalized == 1);
  CHECK(called == 1);
}

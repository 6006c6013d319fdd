// CPython 3.11's Lib/test/test_finalization.py (PEP 442 finalization), ported to lifecycle.
// Each TEST_CASE is one test method, named Class::method. The classes of the Python file map
// to lifecycle classes whose __del__ (class_options::del) and __tp_del__ (legacy_del) record
// into the class-wide lists the Python tests use (del_calls, tp_del_calls, survivors, errors);
// NonGC is a C++ type without the gc flag (what _testcapi.without_gc makes).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "catch.hpp"
#include "cpython_support.hpp"

namespace {

using namespace cpython_port;
namespace gc = lifecycle::gc;
using lifecycle::class_object;
using lifecycle::list_object;

// NonGCSimpleBase's class attributes.
struct class_wide {
  handle<list_object> survivors = lifecycle::new_list();
  std::vector<std::uintptr_t> del_calls;
  std::vector<std::uintptr_t> tp_del_calls;
  std::vector<std::string> errors;
  bool cleaning = false;
};
constinit class_wide* shared = nullptr;

enum class side_effect { none, resurrect, suicide };

// What a class of the Python file is made of: its bases' check_sanity and its side_effect.
struct traits {
  bool self_cycle = false;  // SelfCycleBase: self.ref = self
  bool chained = false;     // ChainedBase: left/right neighbours
  bool legacy = false;      // LegacyBase: __del__ only records, __tp_del__ has the side effect
  side_effect effect = side_effect::none;
};

instance_object* as_instance(object* op) { return static_cast<instance_object*>(op); }

bool suicided(object* op) {
  auto flag = as_instance(op)->get_attr("suicided");
  return flag && static_cast<lifecycle::int_object*>(flag.get())->value != 0;
}

// SimpleBase/SelfCycleBase/ChainedBase.check_sanity; a failure is recorded, as the Python
// __del__ appends the AssertionError to `errors`.
void check_sanity(object* self, const traits& t) {
  auto* inst = as_instance(self);
  auto fail = [&](const std::string& what) { shared->errors.push_back(what); };
  auto id_attr = inst->get_attr("id_");
  if (!id_attr ||
      static_cast<std::uintptr_t>(static_cast<lifecycle::int_object*>(id_attr.get())->value) !=
          id(self))
    fail("id_ != id(self)");
  if (t.self_cycle && inst->get_attr("ref").get() != self) fail("self.ref is not self");
  if (t.chained) {
    if (suicided(self)) {
      if (!lifecycle::is_none(inst->get_attr("left").get())) fail("suicided, left not None");
      if (!lifecycle::is_none(inst->get_attr("right").get())) fail("suicided, right not None");
    } else {
      ref left = inst->get_attr("left");
      ref right = inst->get_attr("right");
      if (!left || !right) return fail("a neighbour is missing");
      object* left_right = as_instance(left.get())->get_attr("right").get();
      object* right_left = as_instance(right.get())->get_attr("left").get();
      if (suicided(left.get()) ? !lifecycle::is_none(left_right) : left_right != self)
        fail("left.right is wrong");
      if (suicided(right.get()) ? !lifecycle::is_none(right_left) : right_left != self)
        fail("right.left is wrong");
    }
  }
}

void run_side_effect(object* self, const traits& t) {
  auto* inst = as_instance(self);
  switch (t.effect) {
    case side_effect::none:
      break;
    case side_effect::resurrect:  // self.survivors.append(self)
      shared->survivors->append(ref::borrow(self));
      break;
    case side_effect::suicide:  // break the cycle explicitly
      if (t.chained) {
        inst->set_attr("suicided", lifecycle::new_int(1));
        inst->set_attr("left", lifecycle::none());
        inst->set_attr("right", lifecycle::none());
      } else {
        inst->set_attr("ref", lifecycle::none());
      }
      break;
  }
}

handle<class_object> make_class(const char* name, traits t) {
  lifecycle::class_options options;
  // NonGCSimpleBase.__del__ (or LegacyBase.__del__, which has no side effect).
  options.del = [t](object* self) {
    if (shared == nullptr || shared->cleaning) return;
    shared->del_calls.push_back(id(self));
    check_sanity(self, t);
    if (!t.legacy) run_side_effect(self, t);
  };
  if (t.legacy) {
    options.legacy_del = [t](object* self) {  // LegacyBase.__tp_del__
      if (shared == nullptr || shared->cleaning) return;
      shared->tp_del_calls.push_back(id(self));
      check_sanity(self, t);
      run_side_effect(self, t);
    };
  }
  return lifecycle::new_class(name, options);
}

// cls(): SimpleBase.__init__ (self.id_ = id(self)), then SelfCycleBase's self.ref = self.
handle<instance_object> construct(const handle<class_object>& cls, const traits& t) {
  auto s = lifecycle::new_instance(cls);
  s->set_attr("id_", lifecycle::new_int(static_cast<std::int64_t>(id(s))));
  if (t.self_cycle) s->set_attr("ref", s);
  return s;
}

// NonGC / NonGCResurrector: no gc flag, __slots__ = (), the finalizer of NonGCSimpleBase.
struct non_gc : object {};
constinit bool non_gc_resurrects = false;
constinit lifecycle::type_object non_gc_type = [] {
  auto type = lifecycle::make_type<non_gc>("NonGC", lifecycle::type_flags::none);
  type.finalize = [](object* self) {
    if (shared == nullptr || shared->cleaning) return;
    shared->del_calls.push_back(id(self));
    if (non_gc_resurrects) shared->survivors->append(ref::borrow(self));
  };
  return type;
}();

std::vector<std::uintptr_t> sorted(std::vector<std::uintptr_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

// One test: TestBase.setUp/tearDown around `with SimpleBase.test():` (gc disabled, the lists
// emptied; at the end, errors raised, then _cleanup with _cleaning set).
struct finalization_test {
  fresh_gc fresh;
  class_wide state;
  bool ended = false;

  finalization_test() {
    shared = &state;
    gc::disable();
  }
  // The end of the `with` block.
  void end_with() {
    ended = true;
    CHECK(state.errors == std::vector<std::string>{});
    state.cleaning = true;
    state.survivors->clear();
    state.errors.clear();
    gc::garbage()->clear();
    gc::collect();
    state.del_calls.clear();
    state.tp_del_calls.clear();
  }
  ~finalization_test() {
    if (!ended) end_with();
    CHECK(gc::garbage()->size() == 0);  // TestBase.tearDown: nothing put in gc.garbage
    shared = nullptr;
  }

  void assert_del_calls(const std::vector<std::uintptr_t>& ids) const {
    CHECK(sorted(state.del_calls) == sorted(ids));
  }
  void assert_tp_del_calls(const std::vector<std::uintptr_t>& ids) const {
    CHECK(sorted(state.tp_del_calls) == sorted(ids));
  }
  void assert_survivors(const std::vector<std::uintptr_t>& ids) const {
    std::vector<std::uintptr_t> got;
    for (std::size_t i = 0; i < state.survivors->size(); ++i)
      got.push_back(id(state.survivors->at(i)));
    CHECK(sorted(got) == sorted(ids));
  }
  void assert_garbage(const std::vector<std::uintptr_t>& ids) const {
    std::vector<std::uintptr_t> got;
    auto garbage = gc::garbage();
    for (std::size_t i = 0; i < garbage->size(); ++i) got.push_back(id(garbage->at(i)));
    CHECK(sorted(got) == sorted(ids));
  }
  void clear_survivors() { state.survivors->clear(); }
};

const traits simple{};
const traits simple_resurrector{.effect = side_effect::resurrect};
const traits simple_self_cycle{.self_cycle = true};
const traits self_cycle_resurrector{.self_cycle = true, .effect = side_effect::resurrect};
const traits suicidal_self_cycle{.self_cycle = true, .effect = side_effect::suicide};
const traits simple_chained{.chained = true};
const traits chained_resurrector{.chained = true, .effect = side_effect::resurrect};
const traits suicidal_chained{.chained = true, .effect = side_effect::suicide};
const traits legacy{.legacy = true};
const traits legacy_resurrector{.legacy = true, .effect = side_effect::resurrect};
const traits legacy_self_cycle{.self_cycle = true, .legacy = true};

// s = Cls(); ids = [id(s)]; wr = weakref.ref(s); del s; gc.collect(): how most tests start.
struct dropped {
  std::vector<std::uintptr_t> ids;
  handle<lifecycle::weakref_object> wr;
};
dropped make_drop_collect(const char* name, const traits& t) {
  auto s = construct(make_class(name, t), t);
  dropped d{{id(s)}, lifecycle::new_weakref(s)};
  s.reset();
  gc::collect();
  return d;
}

// The no-cycle and self-cycle tests share one shape: make one object, drop it, collect twice.
void check_single_object(const traits& t, bool weakref_survives_first_collect) {
  finalization_test test;
  auto [ids, wr] = make_drop_collect("Under", t);
  test.assert_del_calls(ids);
  const bool resurrects = t.effect == side_effect::resurrect;
  test.assert_survivors(resurrects ? ids : std::vector<std::uintptr_t>{});
  CHECK(wr->alive() == weakref_survives_first_collect);
  if (resurrects) test.clear_survivors();
  gc::collect();
  test.assert_del_calls(ids);  // never a second __del__
  test.assert_survivors({});
  CHECK_FALSE(wr->alive());
}

}  // namespace

TEST_CASE("SimpleFinalizationTest::test_simple") {
  check_single_object(simple, false);
}

TEST_CASE("SimpleFinalizationTest::test_simple_resurrect") {
  // Resurrected at refcount death, before its weakrefs were cleared: wr() is not None.
  finalization_test test;
  auto [ids, wr] = make_drop_collect("SimpleResurrector", simple_resurrector);
  test.assert_del_calls(ids);
  test.assert_survivors(ids);
  CHECK(wr->alive());
  test.clear_survivors();
  gc::collect();
  test.assert_del_calls(ids);
  test.assert_survivors({});
  test.end_with();
  CHECK_FALSE(wr->alive());
}

namespace {

// s = NonGC() (or NonGCResurrector()); untracked; ids = [id(s)]; del s; gc.collect()
std::vector<std::uintptr_t> make_non_gc_drop_collect(bool resurrector) {
  non_gc_resurrects = resurrector;
  lifecycle::register_type(non_gc_type);
  auto s = lifecycle::new_object<non_gc>(non_gc_type);
  CHECK_FALSE(gc::is_tracked(s.get()));
  std::vector<std::uintptr_t> ids{id(s)};
  s.reset();
  gc::collect();
  return ids;
}

}  // namespace

TEST_CASE("SimpleFinalizationTest::test_non_gc") {
  finalization_test test;
  auto ids = make_non_gc_drop_collect(false);
  test.assert_del_calls(ids);
  test.assert_survivors({});
  gc::collect();
  test.assert_del_calls(ids);
  test.assert_survivors({});
}

TEST_CASE("SimpleFinalizationTest::test_non_gc_resurrect") {
  // A non-gc object has no FINALIZED bit: every death runs its finalizer again.
  finalization_test test;
  auto ids = make_non_gc_drop_collect(true);
  test.assert_del_calls(ids);
  test.assert_survivors(ids);
  test.clear_survivors();
  gc::collect();
  test.assert_del_calls({ids[0], ids[0]});
  test.assert_survivors(ids);
  test.end_with();
  non_gc_resurrects = false;
}

TEST_CASE("SelfCycleFinalizationTest::test_simple") {
  check_single_object(simple_self_cycle, false);
}

TEST_CASE("SelfCycleFinalizationTest::test_simple_resurrect") {
  // Weakrefs to cyclic garbage are cleared before finalizers run, so the resurrected object's
  // weakref is dead ("XXX is this desirable?" in CPython's test).
  check_single_object(self_cycle_resurrector, false);
}

TEST_CASE("SelfCycleFinalizationTest::test_simple_suicide") {
  check_single_object(suicidal_self_cycle, false);
}

namespace {

// CycleChainFinalizationTest.build_chain: nodes[i].chain(nodes[i-1]) round the ring.
std::vector<handle<instance_object>> build_chain(const std::vector<traits>& kinds) {
  std::vector<handle<instance_object>> nodes;
  for (const auto& t : kinds) nodes.push_back(construct(make_class("Chained", t), t));
  const std::size_t n = nodes.size();
  for (std::size_t i = 0; i < n; ++i) {
    auto& left = nodes[(i + n - 1) % n];
    nodes[i]->set_attr("suicided", lifecycle::new_int(0));
    nodes[i]->set_attr("left", left);
    left->set_attr("right", nodes[i]);
  }
  return nodes;
}

void check_chain(const std::vector<traits>& kinds) {
  finalization_test test;
  auto nodes = build_chain(kinds);
  std::vector<std::uintptr_t> ids, survivor_ids;
  std::vector<handle<lifecycle::weakref_object>> wrs;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    ids.push_back(id(nodes[i]));
    if (kinds[i].effect == side_effect::resurrect) survivor_ids.push_back(id(nodes[i]));
    wrs.push_back(lifecycle::new_weakref(nodes[i]));
  }
  nodes.clear();
  gc::collect();
  test.assert_del_calls(ids);
  test.assert_survivors(survivor_ids);
  for (const auto& wr : wrs) CHECK_FALSE(wr->alive());  // "XXX desirable?"
  test.clear_survivors();
  gc::collect();
  test.assert_del_calls(ids);
  test.assert_survivors({});
}

std::vector<traits> repeat(std::vector<traits> pattern, int times) {
  std::vector<traits> out;
  for (int i = 0; i < times; ++i) out.insert(out.end(), pattern.begin(), pattern.end());
  return out;
}

std::vector<traits> concat(std::vector<traits> a, const std::vector<traits>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("CycleChainFinalizationTest::test_homogenous") {
  check_chain(repeat({simple_chained}, 3));
}

TEST_CASE("CycleChainFinalizationTest::test_homogenous_resurrect") {
  check_chain(repeat({chained_resurrector}, 3));
}

TEST_CASE("CycleChainFinalizationTest::test_homogenous_suicidal") {
  check_chain(repeat({suicidal_chained}, 3));
}

TEST_CASE("CycleChainFinalizationTest::test_heterogenous_suicidal_one") {
  check_chain(repeat({suicidal_chained, simple_chained}, 2));
}

TEST_CASE("CycleChainFinalizationTest::test_heterogenous_suicidal_two") {
  check_chain(concat(repeat({suicidal_chained}, 2), repeat({simple_chained}, 2)));
}

TEST_CASE("CycleChainFinalizationTest::test_heterogenous_resurrect_one") {
  check_chain(repeat({chained_resurrector, simple_chained}, 2));
}

TEST_CASE("CycleChainFinalizationTest::test_heterogenous_resurrect_two") {
  check_chain(repeat({chained_resurrector, simple_chained, suicidal_chained}, 2));
}

TEST_CASE("CycleChainFinalizationTest::test_heterogenous_resurrect_three") {
  check_chain(concat(concat(repeat({chained_resurrector}, 2), repeat({simple_chained}, 2)),
                     repeat({suicidal_chained}, 2)));
}

TEST_CASE("LegacyFinalizationTest::test_legacy") {
  finalization_test test;
  auto [ids, wr] = make_drop_collect("Legacy", legacy);
  test.assert_del_calls(ids);
  test.assert_tp_del_calls(ids);
  test.assert_survivors({});
  CHECK_FALSE(wr->alive());
  gc::collect();
  test.assert_del_calls(ids);
  test.assert_tp_del_calls(ids);
}

TEST_CASE("LegacyFinalizationTest::test_legacy_resurrect") {
  // tp_del runs at every death (it has no FINALIZED bit); __del__ only at the first.
  finalization_test test;
  auto [ids, wr] = make_drop_collect("LegacyResurrector", legacy_resurrector);
  test.assert_del_calls(ids);
  test.assert_tp_del_calls(ids);
  test.assert_survivors(ids);
  CHECK_FALSE(wr->alive());  // weakrefs are cleared before tp_del is called
  test.clear_survivors();
  gc::collect();
  test.assert_del_calls(ids);
  test.assert_tp_del_calls({ids[0], ids[0]});
  test.assert_survivors(ids);
  test.end_with();
  CHECK_FALSE(wr->alive());
}

TEST_CASE("LegacyFinalizationTest::test_legacy_self_cycle") {
  // Self-cycles with legacy finalizers end up in gc.garbage, no finalizer called.
  finalization_test test;
  auto [ids, wr] = make_drop_collect("LegacySelfCycle", legacy_self_cycle);
  test.assert_del_calls({});
  test.assert_tp_del_calls({});
  test.assert_survivors({});
  test.assert_garbage(ids);
  CHECK(wr->alive());
  // Break the cycle to allow collection: gc.garbage[0].ref = None.
  as_instance(gc::garbage()->at(0))->set_attr("ref", lifecycle::none());
  test.end_with();
  test.assert_garbage({});
  CHECK_FALSE(wr->alive());
}

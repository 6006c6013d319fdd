// The generational cycle collector, after CPython 3.11's Modules/gcmodule.c (gc_collect_main and
// its helpers). Differences are marked "Differs from CPython" and listed in lifecycle/README.md.
#include "lifecycle/gc.hpp"

#include "gc/gc_internal.hpp"
#include "lifecycle/allocator.hpp"
#include "lifecycle/unraisable.hpp"
#include "lifecycle/weakref.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

namespace lifecycle::gc {

namespace detail {

struct callback_table {
  std::vector<std::pair<callback_id, callback>> entries;
  callback_id next_id = 1;
};

namespace {
void write_line_to_stderr(std::string_view line, void*) {
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fputc('\n', stderr);
}
}  // namespace

constinit state the_state{
    .generation_heads = {},
    .permanent = {},
    .threshold = {cpython_311_thresholds.threshold0, cpython_311_thresholds.threshold1,
                  cpython_311_thresholds.threshold2},
    .count = {0, 0, 0},
    .stats = {},
    .long_lived_total = 0,
    .long_lived_pending = 0,
    .enabled = true,
    .collecting = false,
    .debug = 0,
    .gen2_tag = tag_gen2_a,
    .free_cursor = nullptr,
    .free_batch = {},
    .sink = &write_line_to_stderr,
    .sink_context = nullptr,
    .garbage = nullptr,
    .callbacks = nullptr,
};

void flush_frees() noexcept {
  object** const first = the_state.free_batch;
  const auto count = static_cast<std::size_t>(the_state.free_cursor - first);
  if (count == 0) return;
  the_state.free_cursor = first;
  object_free_many(reinterpret_cast<void* const*>(first), count);
}

std::size_t list_size(const object* head) noexcept {
  std::size_t n = 0;
  for (const object* op = head->gc_next; op != head; op = op->gc_next) ++n;
  return n;
}

namespace {

state& st() noexcept { return the_state; }
object* generation_head(int generation) noexcept { return &the_state.generation_heads[generation]; }

// ---- debug output ----

void debug_line(std::string_view line) noexcept {
  try {
    st().sink(line, st().sink_context);
  } catch (...) {
  }
}

template <class... Args>
void debug_print(fmt::format_string<Args...> format, Args&&... args) noexcept {
  try {
    debug_line(fmt::format(format, std::forward<Args>(args)...));
  } catch (...) {
  }
}

void debug_cycle(const char* message, const object* op) noexcept {
  debug_print("gc: {} <{} {}>", message, op->type->name, static_cast<const void*>(op));
}

void show_stats_each_generation() noexcept {
  debug_print("gc: objects in each generation: {} {} {}", list_size(generation_head(0)),
              list_size(generation_head(1)), list_size(generation_head(2)));
  debug_print("gc: objects in permanent generation: {}", list_size(&st().permanent));
}

// ---- step 1: which objects are unreachable from outside the collected set ----

// One collection's view of the set being collected: the tags it covers, the tag its survivors
// get (outside the set, so "already scanned" needs no flag of its own), and what
// move_unreachable learnt on the way.
struct scan {
  unsigned young_tags;  // the tags of the collected set, OR-ed
  unsigned survivor_tag;
  object* young;
  std::size_t objects;      // in the set (count_internal_refs)
  bool touched;             // the last traverse of count_internal_refs met an object of the set
  std::size_t saturated;    // objects whose every reference is internal (count_internal_refs)
  std::size_t unreachable;  // objects in the unreachable list
  bool special;  // some object of the set needs finalizer, weakref or legacy handling
  // Full collections only: reachable dicts holding nothing that may be tracked are untracked
  // (CPython's untrack_dicts / _PyDict_MaybeUntrack), and counted here.
  bool untrack_dicts;
  std::size_t untracked;
};

inline bool in_set(std::uint64_t bits, unsigned young_tags) noexcept {
  return (bits & young_tags) != 0;
}

void visit_count_internal(object* op, void* arg) {
  auto* s = static_cast<scan*>(arg);
  std::uint64_t bits = op->gc_bits;
  // Objects outside the set (older generations, untracked and non-gc objects: tag 0) are
  // ignored with one test.
  if (!in_set(bits, s->young_tags)) return;
  s->touched = true;  // a plain store: no chain of increments through memory across visits
  bits += one_ref;
  op->gc_bits = bits;
  // Internal references never exceed the refcount (traverse visits each reference once), so
  // this is the moment op's last outside reference is accounted for.
  if ((bits >> refs_shift) == static_cast<std::uint64_t>(op->refcnt)) ++s->saturated;
}

// ---- big containers, traversed in step with the scan ----
// Both passes walk the set in list order and traverse each object as they reach it. A list or
// dict with many items read at once reads the header of every item, most of them far from
// where the walk is; the walk reads each of those headers again when it reaches the item. When
// the items follow their container in the list, in the same order (a list filled with new
// objects, the common case), visiting each item when the walk reaches it reads each header
// once. So a big container's traversal is deferred and advances with the walk: it awaits the
// next item of the set and visits it when the walk is there, passing over slots outside the
// set on the way (erased dict entries; items whose visit would do nothing), and over an item
// of the set when the walk is at the item after it (kept and visited when the traversal
// finishes: a dict's first value, for one, is tracked before the dict). A traversal finishes
// by visiting what is left at once: once it has awaited an item for max_stalled_steps steps
// (checked every max_stalled_steps steps: its items are not where the walk goes), at the end
// of count_internal_refs, and in move_unreachable as soon as the result could depend on it
// (see there). A deferred traversal visits a list's items first to last, where list_traverse
// goes last to first (as CPython's): it runs only where the order of visits cannot change the
// result (the counts; move_unreachable before anything is tentatively unreachable).
inline constexpr std::size_t defer_min_slots = 256;
inline constexpr unsigned max_deferred = 4;
inline constexpr unsigned max_passed_over = 8;
inline constexpr unsigned max_stalled_steps = 16;

struct deferred_traversal {
  object* container;  // a list or a dict
  std::size_t next;   // the next slot to visit
  std::size_t end;    // slot count
  object* awaited;        // the item at `next`, of the set
  object* after_awaited;  // the item at `next + 1` (nullptr if none)
  std::size_t awaited_since;  // deferred_traversals::steps when it began to await
  bool touched;           // count_internal_refs: an item visited so far is in the set
  unsigned passed_over_count;
  object* passed_over[max_passed_over];  // items of the set passed over, to visit at the end
};

struct deferred_traversals {
  deferred_traversal entries[max_deferred];
  unsigned count;
  std::size_t steps;  // walk steps taken while a traversal was deferred
};

// Slot i of a deferred container: its item, or nullptr for an erased dict entry. A dict's
// traverse visits values only.
inline object* slot_item(const object* container, std::size_t i) noexcept {
  if (container->type == &list_type) return static_cast<const list_object*>(container)->items_[i];
  const dict_object::entry& e = static_cast<const dict_object*>(container)->entries_[i];
  return e.key != nullptr ? e.value : nullptr;
}

// Differs from CPython: an object none of whose referents is in the set (a list of ints and
// strs, say) is marked so that move_unreachable does not read its referents again.
void mark_if_leaf(object* op, bool touched) noexcept {
  if (!touched) op->gc_bits |= flag_leaf;
}

// Visits what a deferred traversal has left (passed-over items, then the slots not reached).
template <void (*visit)(object*, void*)>
void finish_deferred(deferred_traversal& t, scan& s) noexcept {
  s.touched = t.touched;
  for (unsigned i = 0; i < t.passed_over_count; ++i) visit(t.passed_over[i], &s);
  for (; t.next < t.end; ++t.next) {
    if (object* item = slot_item(t.container, t.next)) visit(item, &s);
  }
  if constexpr (visit == &visit_count_internal) mark_if_leaf(t.container, s.touched);
}

// The walk is at `op` (nullptr: the traversal starts), which the traversal awaits or which
// comes right after the awaited item. Visits op, moves on to the next item of the set and
// awaits it. Returns false when all slots are passed.
template <void (*visit)(object*, void*)>
bool advance_deferred(deferred_traversal& t, object* op, std::size_t step, scan& s) noexcept {
  for (; t.next < t.end; ++t.next) {
    object* item = slot_item(t.container, t.next);
    if (item == nullptr) continue;
    if (item == op) {
      visit(op, &s);
      t.touched = true;  // op is in the set: the walk goes over the set only
      continue;
    }
    if (!in_set(item->gc_bits, s.young_tags)) continue;
    object* after = t.next + 1 < t.end ? slot_item(t.container, t.next + 1) : nullptr;
    if (op != nullptr && after == op && t.passed_over_count < max_passed_over) {
      t.passed_over[t.passed_over_count++] = item;
      continue;
    }
    t.awaited = item;
    t.after_awaited = after;
    t.awaited_since = step;
    return true;
  }
  return false;
}

// Defers the traversal of `container` (with `slots` slots) if it is big and there is room.
// Returns false when it is traversed the usual way instead.
template <void (*visit)(object*, void*)>
bool defer_traversal(deferred_traversals* deferred, object* container, std::size_t slots,
                     scan& s) noexcept {
  if (deferred == nullptr || slots < defer_min_slots || deferred->count == max_deferred)
    return false;
  deferred_traversal& t = deferred->entries[deferred->count];
  t.container = container;
  t.next = 0;
  t.end = slots;
  t.touched = false;
  t.passed_over_count = 0;
  if (advance_deferred<visit>(t, nullptr, deferred->steps, s)) {
    ++deferred->count;
  } else {
    finish_deferred<visit>(t, s);  // nothing of the set in it
  }
  return true;
}

// Advances the deferred traversals that await `op` (or the item after theirs); finishes and
// removes those done.
template <void (*visit)(object*, void*)>
void advance_awaiting(deferred_traversals& deferred, object* op, scan& s) noexcept {
  for (unsigned k = 0; k < deferred.count;) {
    deferred_traversal& t = deferred.entries[k];
    if ((op != t.awaited && op != t.after_awaited) ||
        advance_deferred<visit>(t, op, deferred.steps, s)) {
      ++k;
      continue;
    }
    finish_deferred<visit>(t, s);
    t = deferred.entries[--deferred.count];
  }
}

// Finishes and removes the deferred traversals that have awaited max_stalled_steps steps.
template <void (*visit)(object*, void*)>
void finish_stalled(deferred_traversals& deferred, scan& s) noexcept {
  for (unsigned k = 0; k < deferred.count;) {
    deferred_traversal& t = deferred.entries[k];
    if (deferred.steps - t.awaited_since < max_stalled_steps) {
      ++k;
      continue;
    }
    finish_deferred<visit>(t, s);
    t = deferred.entries[--deferred.count];
  }
}

// The walk is at `op`. Inlined in the walks: a step that concerns no traversal costs a few
// comparisons.
template <void (*visit)(object*, void*)>
[[gnu::always_inline]] inline void step_deferred(deferred_traversals& deferred, object* op,
                                                 scan& s) noexcept {
  for (unsigned k = 0; k < deferred.count; ++k) {
    if (op == deferred.entries[k].awaited || op == deferred.entries[k].after_awaited) {
      advance_awaiting<visit>(deferred, op, s);
      break;
    }
  }
  if ((++deferred.steps % max_stalled_steps) == 0) finish_stalled<visit>(deferred, s);
}

// Finishes every deferred traversal.
template <void (*visit)(object*, void*)>
void complete_deferred(deferred_traversals& deferred, scan& s) noexcept {
  for (unsigned k = 0; k < deferred.count; ++k) finish_deferred<visit>(deferred.entries[k], s);
  deferred.count = 0;
}

// The passes call traverse once per object of the set. For lists and dicts, most of a program's
// containers, the loop is inlined with the visit instead of two indirect calls per reference; it
// visits exactly what list_traverse / dict_traverse visit, in the same order. A big list or
// dict is deferred instead when `deferred` is given (see above): returns false then.
template <void (*visit)(object*, void*)>
[[gnu::always_inline]] inline bool traverse_object(object* op, scan& s,
                                                   deferred_traversals* deferred) {
  const type_object* type = op->type;
  if (type == &list_type) {
    const auto* list = static_cast<const list_object*>(op);
    object* const* items = list->items_;
    const std::size_t n = list->size_;
    if (defer_traversal<visit>(deferred, op, n, s)) return false;
    for (std::size_t i = n; i-- > 0;) visit(items[i], &s);
  } else if (type == &dict_type) {
    const auto* dict = static_cast<const dict_object*>(op);
    const dict_object::entry* entries = dict->entries_;
    const std::size_t n = dict->filled_;
    if (defer_traversal<visit>(deferred, op, n, s)) return false;
    for (std::size_t i = 0; i < n; ++i)
      if (entries[i].key != nullptr) visit(entries[i].value, &s);
  } else {
    type->traverse(op, visit, &s);
  }
  return true;
}

bool needs_special_handling(const object* op) noexcept {
  const type_object* type = op->type;
  return type->finalize != nullptr || type->legacy_del != nullptr ||
         (op->gc_bits & flag_weakrefs) != 0 || type == &weakref_type;
}

// gc_refs = references from inside the set (CPython: update_refs + subtract_refs, one pass here).
// Also notes whether any object of the set could need the finalizer/weakref/legacy passes, should
// it turn out to be garbage. The counts do not depend on the order of the visits, so deferred
// traversals are simply completed at the end.
void count_internal_refs(scan& s) noexcept {
  object* young = s.young;
  deferred_traversals deferred{};
  for (object* op = young->gc_next; op != young; op = op->gc_next) {
    if (deferred.count != 0) step_deferred<&visit_count_internal>(deferred, op, s);
    ++s.objects;
    if (needs_special_handling(op)) s.special = true;
    s.touched = false;
    if (traverse_object<&visit_count_internal>(op, s, &deferred)) mark_if_leaf(op, s.touched);
  }
  complete_deferred<&visit_count_internal>(deferred, s);
}

void visit_reachable(object* op, void* arg) {
  auto* s = static_cast<scan*>(arg);
  const std::uint64_t bits = op->gc_bits;
  if (!in_set(bits, s->young_tags)) return;  // outside, or already scanned (survivor tag)
  if ((bits & flag_unreachable) != 0) {
    // Tentatively unreachable, but reachable after all: back to young; it will be scanned.
    list_move(op, s->young);
    --s->unreachable;
  }
  // Zero internal references: refcount > gc_refs, i.e. reachable from outside.
  op->gc_bits = bits & ~(refs_mask | flag_unreachable);
}

// Moves the run first..last (linked, in some list) to the end of `to`.
void list_splice_run(object* first, object* last, object* to) noexcept {
  first->gc_prev->gc_next = last->gc_next;
  last->gc_next->gc_prev = first->gc_prev;
  object* tail = to->gc_prev;
  tail->gc_next = first;
  first->gc_prev = tail;
  last->gc_next = to;
  to->gc_prev = last;
}

// A reachable dict in a full collection: visit_reachable on each value (as its traverse), and
// whether any value may be tracked (_PyObject_GC_MAY_BE_TRACKED: any gc object, tracked or not;
// keys are str). Returns false when the dict can be untracked (_PyDict_MaybeUntrack).
bool traverse_reachable_dict(dict_object* dict, scan& s) noexcept {
  const dict_object::entry* entries = dict->entries_;
  const std::size_t n = dict->filled_;
  bool may_hold_tracked = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (entries[i].key == nullptr) continue;
    object* value = entries[i].value;
    if (is_gc(value)) may_hold_tracked = true;
    visit_reachable(value, &s);
  }
  return may_hold_tracked;
}

void flag_unreachable_run(object* first, object* last) noexcept {
  for (object* op = first;; op = op->gc_next) {
    op->gc_bits |= flag_unreachable;
    if (op == last) break;
  }
}

// Moves what is not reachable from outside the set into `unreachable` (tentative until the scan
// ends: visit_reachable moves objects back). What stays in young is at rest with the survivor
// tag. An object is reachable from outside when refcount > internal references.
//
// Consecutive unreachable objects are moved as one run when the next reachable object (or the
// end) is met, and only then flagged UNREACHABLE, so that the traverse about to run can tell
// them from objects not scanned yet. The last run is never flagged: no traverse follows. So a
// collection of pure garbage reads its objects here without writing to them (a pass that
// dirties every line costs about three times one that only reads); callers that need the flags
// on the whole unreachable list call flag_unreachable_list.
//
// Big containers' traversals are deferred (see deferred_traversals) only while no object is
// tentatively unreachable, and completed before the walk declares an object tentatively
// unreachable. So no deferred visit ever meets an object to move back, and every object is
// classified with the gc_refs the eager traversal would have left: the lists come out in
// exactly the order CPython's move_unreachable gives (which decides later finalizer order).
void move_unreachable(scan& s, object* unreachable) noexcept {
  object* young = s.young;
  object* run = nullptr;  // first object of the pending run of unreachable objects
  deferred_traversals deferred{};
  object* op = young->gc_next;
  while (op != young) {
    if (deferred.count != 0) {
      step_deferred<&visit_reachable>(deferred, op, s);
      if (static_cast<std::uint64_t>(op->refcnt) <= (op->gc_bits >> refs_shift))
        complete_deferred<&visit_reachable>(deferred, s);
    }
    if (static_cast<std::uint64_t>(op->refcnt) > (op->gc_bits >> refs_shift)) {
      if (run != nullptr) {
        flag_unreachable_run(run, op->gc_prev);
        list_splice_run(run, op->gc_prev, unreachable);
        run = nullptr;
      }
      // traverse may append to young, so the next object is read after it.
      if (s.untrack_dicts && op->type == &dict_type &&
          !static_cast<const dict_object*>(op)->instance_storage_) {
        if (!traverse_reachable_dict(static_cast<dict_object*>(op), s)) {
          // Untracked here rather than in a pass over the survivors afterwards (CPython's
          // untrack_dicts): the dict is reachable for good and no code runs in between.
          object* next = op->gc_next;
          untrack_object(op);
          ++s.untracked;
          op = next;
          continue;
        }
      } else if ((op->gc_bits & flag_leaf) == 0) {
        traverse_object<&visit_reachable>(op, s, s.unreachable == 0 ? &deferred : nullptr);
      }
      rest_in(op, s.survivor_tag);
    } else {
      ++s.unreachable;
      if (run == nullptr) run = op;
    }
    op = op->gc_next;
  }
  // What deferred traversals have not visited is all outside the set by now (survivors,
  // untracked and non-gc objects): nothing is left to do for them.
  if (run != nullptr) list_splice_run(run, young->gc_prev, unreachable);
}

void flag_unreachable_list(object* unreachable) noexcept {
  for (object* op = unreachable->gc_next; op != unreachable; op = op->gc_next)
    op->gc_bits |= flag_unreachable;
}

void deduce_unreachable(scan& s, object* unreachable) noexcept {
  count_internal_refs(s);
  if (s.saturated == s.objects) {
    // Differs from CPython: no object of the set is referenced from outside it, so nothing in
    // it is reachable and all of it is garbage; move_unreachable's pass is skipped.
    list_merge(s.young, unreachable);
    s.unreachable = s.objects;
    return;
  }
  move_unreachable(s, unreachable);
}

// ---- step 2: legacy finalizers make their whole reachable part uncollectable ----

// Moves objects with tp_del, at rest in `old_tag`, to `finalizers`.
void move_legacy_finalizers(object* unreachable, object* finalizers, unsigned old_tag) noexcept {
  object* next = nullptr;
  for (object* op = unreachable->gc_next; op != unreachable; op = next) {
    next = op->gc_next;
    if (op->type->legacy_del != nullptr) {
      rest_in(op, old_tag);
      list_move(op, finalizers);
    }
  }
}

struct move_target {
  object* list;
  unsigned tag;
};

void visit_move(object* op, void* arg) {
  if ((op->gc_bits & flag_unreachable) != 0) {
    const auto* target = static_cast<const move_target*>(arg);
    rest_in(op, target->tag);
    list_move(op, target->list);
  }
}

void move_legacy_finalizer_reachable(object* finalizers, unsigned old_tag) noexcept {
  move_target target{finalizers, old_tag};
  // The list grows while it is walked: everything appended is traversed in turn.
  for (object* op = finalizers->gc_next; op != finalizers; op = op->gc_next)
    op->type->traverse(op, &visit_move, &target);
}

// ---- step 3: weak references ----

// Clears every weakref to unreachable objects. Weakrefs that are themselves garbage lose their
// callback (it could see half-cleared objects or resurrect garbage); the callbacks of the others
// run once all are cleared. Returns the number of those weakrefs freed by their callback.
std::size_t handle_weakrefs(object* unreachable, object* old, unsigned old_tag,
                            bool& ran_code) noexcept {
  list_head to_call;
  object* next = nullptr;
  for (object* op = unreachable->gc_next; op != unreachable; op = next) {
    next = op->gc_next;
    if (op->type == &weakref_type)
      lifecycle::detail::clear_weakref_no_callback(static_cast<weakref_object*>(op));
    if ((op->gc_bits & flag_weakrefs) == 0) continue;
    while (weakref_object* wr = lifecycle::detail::first_weakref(op)) {
      lifecycle::detail::clear_weakref_no_callback(wr);
      if (!wr->callback) continue;
      if ((wr->gc_bits & flag_unreachable) != 0) continue;  // the weakref is garbage itself
      if (!tracked(wr)) continue;  // manually untracked: no list to hold it on (never in CPython)
      incref(wr);
      list_move(wr, &to_call);
    }
  }

  std::size_t freed = 0;
  while (!list_empty(&to_call)) {
    object* op = to_call.gc_next;
    auto* wr = static_cast<weakref_object*>(op);
    ran_code = true;
    try {
      const weakref_callback callback = wr->callback;
      callback(handle<weakref_object>::borrow(wr));
    } catch (...) {
      write_unraisable(std::current_exception(), wr);
    }
    decref(op);
    if (to_call.gc_next == op) {
      rest_in(op, old_tag);  // still alive
      list_move(op, old);
    } else {
      ++freed;
    }
  }
  return freed;
}

// ---- step 4: PEP 442 finalizers ----

// Calls tp_finalize once per object (the FINALIZED bit), objects intact. Returns whether any ran.
bool finalize_garbage(object* collectable) noexcept {
  bool ran = false;
  list_head seen;
  while (!list_empty(collectable)) {
    object* op = collectable->gc_next;
    list_move(op, &seen);
    if ((op->gc_bits & flag_finalized) == 0 && op->type->finalize != nullptr) {
      op->gc_bits |= flag_finalized;
      ran = true;
      incref(op);
      try {
        op->type->finalize(op);
      } catch (...) {
        write_unraisable(std::current_exception(), op);
      }
      decref(op);  // may free op (it then leaves `seen` by itself)
    }
  }
  list_merge(&seen, collectable);
  return ran;
}

// ---- step 5: resurrection ----

// Recomputes reachability inside the garbage: what a finalizer made reachable again (and what
// that keeps alive) goes to the older generation and is not counted. Returns what is still
// unreachable in `still_unreachable`, and its size.
std::size_t handle_resurrected_objects(object* unreachable, object* still_unreachable,
                                       object* old, unsigned old_tag) noexcept {
  for (object* op = unreachable->gc_next; op != unreachable; op = op->gc_next)
    rest_in(op, tag_resurrection);
  scan s{tag_resurrection, old_tag, unreachable, 0, false, 0, 0, false, false, 0};
  deduce_unreachable(s, still_unreachable);
  list_merge(unreachable, old);
  return s.unreachable;
}

// ---- step 6: break the cycles ----

list_object* garbage_list() {
  if (st().garbage == nullptr) st().garbage = new_list().release();
  return st().garbage;
}

void append_to_garbage(object* op) noexcept {
  try {
    garbage_list()->append(ref::borrow(op));
  } catch (...) {
    write_unraisable(std::current_exception(), op);
  }
}

void delete_garbage(object* collectable, object* old, unsigned old_tag) noexcept {
  const bool saveall = (st().debug & debug_saveall) != 0;
  st().free_cursor = st().free_batch;
  while (!list_empty(collectable)) {
    object* op = collectable->gc_next;
    if (saveall) {
      append_to_garbage(op);
    } else if (const clear_fn clear = op->type->clear) {
      incref(op);
      clear(op);
      decref(op);
    }
    if (collectable->gc_next == op) {
      // Still alive (saved, no clear, or kept by something tp_clear did not break).
      rest_in(op, old_tag);
      list_move(op, old);
    }
  }
  flush_frees();
  st().free_cursor = nullptr;
}

void handle_legacy_finalizers(object* finalizers, object* old) noexcept {
  const bool saveall = (st().debug & debug_saveall) != 0;
  for (object* op = finalizers->gc_next; op != finalizers; op = op->gc_next)
    if (saveall || op->type->legacy_del != nullptr) append_to_garbage(op);
  list_merge(finalizers, old);
}

// ---- one collection ----

struct result {
  std::size_t collected;
  std::size_t uncollectable;
};

result collect_main(int generation) noexcept {
  state& s = st();
  const bool stats = (s.debug & debug_stats) != 0;
  std::chrono::steady_clock::time_point started{};
  if (stats) {
    debug_print("gc: collecting generation {}...", generation);
    show_stats_each_generation();
    started = std::chrono::steady_clock::now();
  }

  // Counts: collecting g is one more collection of g for g+1; 0..g start again.
  if (generation + 1 < generations) s.count[generation + 1] += 1;
  for (int i = 0; i <= generation; ++i) s.count[i] = 0;

  // The collected set: generations 0..g by tag. A full collection switches gen2's tag first.
  unsigned young_tags = tag_gen0 | (generation >= 1 ? tag_gen1 : 0u);
  if (generation == 2) {
    young_tags |= s.gen2_tag;
    s.gen2_tag = s.gen2_tag == tag_gen2_a ? tag_gen2_b : tag_gen2_a;
  }
  const unsigned old_tag = generation_tag(generation + 1 < generations ? generation + 1 : 2);

  for (int i = 0; i < generation; ++i) list_merge(generation_head(i), generation_head(generation));
  object* young = generation_head(generation);
  object* old = generation + 1 < generations ? generation_head(generation + 1) : young;

  list_head unreachable;
  // CPython untracks dicts in full collections only, "to avoid quadratic dict build-up"
  // (issue #14775).
  scan sc{young_tags, old_tag, young, 0, false, 0, 0, false, young == old, 0};
  deduce_unreachable(sc, &unreachable);

  // Survivors age (the long-lived heuristic counts what enters the oldest generation). What is
  // left in young: the set minus the unreachable and the dicts just untracked (counted on the
  // way rather than by walking the survivors again, as CPython's gc_list_size does).
  const std::size_t survivors = sc.objects - sc.unreachable - sc.untracked;
  if (young != old) {
    if (generation == generations - 2) s.long_lived_pending += survivors;
    list_merge(young, old);
  } else {
    s.long_lived_pending = 0;
    s.long_lived_total = survivors;
  }

  list_head finalizers;
  std::size_t collected = 0;
  list_head final_unreachable;
  if (!sc.special) {
    // Differs from CPython: count_internal_refs noted that no object of the set has a finalizer,
    // a legacy finalizer or a weakref, and none is a weakref, so the passes for them (and the
    // resurrection check, which 3.11 always runs) have nothing to do and are skipped.
    if ((s.debug & debug_collectable) != 0)
      for (object* op = unreachable.gc_next; op != &unreachable; op = op->gc_next)
        debug_cycle("collectable", op);
    collected = sc.unreachable;
    list_merge(&unreachable, &final_unreachable);
  } else {
    flag_unreachable_list(&unreachable);
    move_legacy_finalizers(&unreachable, &finalizers, old_tag);
    move_legacy_finalizer_reachable(&finalizers, old_tag);
    if ((s.debug & debug_collectable) != 0)
      for (object* op = unreachable.gc_next; op != &unreachable; op = op->gc_next)
        debug_cycle("collectable", op);

    bool ran_code = false;
    collected = handle_weakrefs(&unreachable, old, old_tag, ran_code);
    if (finalize_garbage(&unreachable)) ran_code = true;
    // Differs from CPython: the recheck only when user code (a finalizer or a weakref callback)
    // ran; nothing else can resurrect garbage.
    if (ran_code) {
      collected += handle_resurrected_objects(&unreachable, &final_unreachable, old, old_tag);
    } else {
      collected += list_size(&unreachable);
      list_merge(&unreachable, &final_unreachable);
    }
  }
  delete_garbage(&final_unreachable, old, old_tag);

  std::size_t uncollectable = 0;
  for (object* op = finalizers.gc_next; op != &finalizers; op = op->gc_next) {
    ++uncollectable;
    if ((s.debug & debug_uncollectable) != 0) debug_cycle("uncollectable", op);
  }
  if (stats) {
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    debug_print("gc: done, {} unreachable, {} uncollectable, {:.4f}s elapsed",
                collected + uncollectable, uncollectable, elapsed.count());
  }

  handle_legacy_finalizers(&finalizers, old);

  generation_stats& gs = s.stats[generation];
  gs.collections += 1;
  gs.collected += collected;
  gs.uncollectable += uncollectable;
  return {collected, uncollectable};
}

// ---- callbacks ----

// Differs from CPython: 3.11 reports a failing callback as "Exception ignored in: <function cb>";
// our callbacks are C++ callables without a repr, so the message names the situation instead.
constexpr const char* callback_error = "Exception ignored on calling gc callback";

void invoke_callbacks(phase p, const callback_info& info) noexcept {
  callback_table* table = st().callbacks;
  if (table == nullptr || table->entries.empty()) return;
  // A copy: a callback may add or remove callbacks (CPython walks the live list).
  std::vector<callback> to_call;
  try {
    to_call.reserve(table->entries.size());
    for (const auto& entry : table->entries) to_call.push_back(entry.second);
  } catch (...) {
    report_unraisable(std::current_exception(), callback_error, nullptr);
    return;
  }
  for (const callback& cb : to_call) {
    try {
      cb(p, info);
    } catch (...) {
      report_unraisable(std::current_exception(), callback_error, nullptr);
    }
  }
}

std::size_t collect_with_callback(int generation) noexcept {
  invoke_callbacks(phase::start, {generation, 0, 0});
  const result r = collect_main(generation);
  invoke_callbacks(phase::stop, {generation, r.collected, r.uncollectable});
  return r.collected + r.uncollectable;
}

// The oldest generation over its threshold (gc_collect_generations).
void collect_generations() noexcept {
  state& s = st();
  for (int i = generations - 1; i >= 0; --i) {
    if (s.count[i] > s.threshold[i]) {
      // issue #4074: a full collection only once a quarter of the long-lived objects are new
      // (CPython's test: skip while pending < total / 4).
      if (i == generations - 1 && s.long_lived_pending < s.long_lived_total / 4) continue;
      collect_with_callback(i);
      break;
    }
  }
}

}  // namespace

void note_allocation() noexcept {
  state& s = st();
  s.count[0] += 1;
  if (s.count[0] > s.threshold[0] && s.enabled && s.threshold[0] != 0 && !s.collecting) {
    s.collecting = true;
    collect_generations();
    s.collecting = false;
  }
}

std::size_t collect_no_fail() noexcept {
  state& s = st();
  if (s.collecting) return 0;
  s.collecting = true;
  const result r = collect_main(generations - 1);
  s.collecting = false;
  return r.collected + r.uncollectable;
}

std::optional<shutdown_garbage_report> shutdown_garbage_report_text() {
  const state& s = st();
  if ((s.debug & debug_saveall) != 0 || s.garbage == nullptr || s.garbage->size() == 0)
    return std::nullopt;
  shutdown_garbage_report report;
  if ((s.debug & debug_uncollectable) != 0) {
    report.warning = fmt::format("gc: {} uncollectable objects at shutdown", s.garbage->size());
    report.listing = "      " + repr(s.garbage);
  } else {
    report.warning = fmt::format(
        "gc: {} uncollectable objects at shutdown; use gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to "
        "list them",
        s.garbage->size());
  }
  return report;
}

std::size_t tracked_count() noexcept {
  std::size_t n = list_size(&st().permanent);
  for (int i = 0; i < generations; ++i) n += list_size(generation_head(i));
  return n;
}

std::size_t reset_state() noexcept {
  state& s = st();
  // gc.garbage and the callbacks first: releasing them may free objects, which must still find
  // consistent lists.
  if (list_object* g = std::exchange(s.garbage, nullptr)) decref(g);
  delete std::exchange(s.callbacks, nullptr);

  std::size_t survivors = 0;
  auto detach = [&survivors](object* head) {
    object* op = head->gc_next;
    while (op != head) {
      object* next = op->gc_next;
      op->gc_next = nullptr;
      op->gc_prev = nullptr;
      rest_in(op, tag_none);
      ++survivors;
      op = next;
    }
    list_init(head);
  };
  for (int i = 0; i < generations; ++i) detach(generation_head(i));
  detach(&s.permanent);
  lifecycle::detail::reset_weakrefs();

  s.threshold[0] = cpython_311_thresholds.threshold0;
  s.threshold[1] = cpython_311_thresholds.threshold1;
  s.threshold[2] = cpython_311_thresholds.threshold2;
  for (int i = 0; i < generations; ++i) {
    s.count[i] = 0;
    s.stats[i] = {};
  }
  s.long_lived_total = 0;
  s.long_lived_pending = 0;
  s.enabled = true;
  s.collecting = false;
  s.debug = 0;
  s.gen2_tag = tag_gen2_a;
  s.sink = &write_line_to_stderr;
  s.sink_context = nullptr;
  return survivors;
}

}  // namespace detail

std::size_t collect(int generation) {
  if (generation < 0 || generation >= generations)
    throw std::invalid_argument("invalid generation");
  detail::state& s = detail::the_state;
  if (s.collecting) return 0;
  s.collecting = true;
  const std::size_t n = detail::collect_with_callback(generation);
  s.collecting = false;
  return n;
}

void enable() noexcept { detail::the_state.enabled = true; }
void disable() noexcept { detail::the_state.enabled = false; }
bool is_enabled() noexcept { return detail::the_state.enabled; }

std::array<std::size_t, generations> get_count() noexcept {
  const auto& c = detail::the_state.count;
  return {c[0], c[1], c[2]};
}

void set_threshold(thresholds t) noexcept {
  auto& th = detail::the_state.threshold;
  th[0] = t.threshold0;
  th[1] = t.threshold1;
  th[2] = t.threshold2;
}

thresholds get_threshold() noexcept {
  const auto& th = detail::the_state.threshold;
  return {th[0], th[1], th[2]};
}

std::array<generation_stats, generations> get_stats() noexcept {
  const auto& s = detail::the_state.stats;
  return {s[0], s[1], s[2]};
}

void set_debug(unsigned flags) noexcept { detail::the_state.debug = flags; }
unsigned get_debug() noexcept { return detail::the_state.debug; }

debug_sink_binding set_debug_sink(debug_sink sink, void* context) noexcept {
  detail::state& s = detail::the_state;
  const debug_sink_binding previous{s.sink, s.sink_context};
  if (sink == nullptr) {
    s.sink = &detail::write_line_to_stderr;
    s.sink_context = nullptr;
  } else {
    s.sink = sink;
    s.sink_context = context;
  }
  return previous;
}

handle<list_object> garbage() { return handle<list_object>::borrow(detail::garbage_list()); }

callback_id add_callback(callback cb) {
  detail::state& s = detail::the_state;
  if (s.callbacks == nullptr) s.callbacks = new detail::callback_table();
  const callback_id id = s.callbacks->next_id++;
  s.callbacks->entries.emplace_back(id, std::move(cb));
  return id;
}

bool remove_callback(callback_id id) noexcept {
  detail::callback_table* table = detail::the_state.callbacks;
  if (table == nullptr) return false;
  for (auto it = table->entries.begin(); it != table->entries.end(); ++it) {
    if (it->first == id) {
      table->entries.erase(it);
      return true;
    }
  }
  return false;
}

// Differs from CPython: freeze and unfreeze walk the objects to retag them (CPython only
// splices lists); the tags are what lets a collection skip update_refs.
void freeze() noexcept {
  detail::state& s = detail::the_state;
  for (int i = 0; i < generations; ++i) {
    object* head = &s.generation_heads[i];
    for (object* op = head->gc_next; op != head; op = op->gc_next)
      detail::rest_in(op, detail::tag_none);
    detail::list_merge(head, &s.permanent);
  }
  s.count[0] = 0;
}

void unfreeze() noexcept {
  detail::state& s = detail::the_state;
  const unsigned tag = detail::generation_tag(generations - 1);
  for (object* op = s.permanent.gc_next; op != &s.permanent; op = op->gc_next)
    detail::rest_in(op, tag);
  detail::list_merge(&s.permanent, &s.generation_heads[generations - 1]);
}

std::size_t get_freeze_count() noexcept { return detail::list_size(&detail::the_state.permanent); }

bool is_tracked(const object* op) noexcept { return detail::is_gc(op) && detail::tracked(op); }

bool is_finalized(const object* op) noexcept {
  return detail::is_gc(op) && (op->gc_bits & detail::flag_finalized) != 0;
}

namespace {

void collect_referent(object* op, void* arg) {
  static_cast<std::vector<ref>*>(arg)->push_back(ref::borrow(op));
}

struct referrer_search {
  const object* target;
  bool found;
};

void find_referent(object* op, void* arg) {
  auto* search = static_cast<referrer_search*>(arg);
  if (op == search->target) search->found = true;
}

}  // namespace

std::vector<ref> get_referents(const ref& op) {
  std::vector<ref> out;
  if (op && detail::is_gc(op.get())) op->type->traverse(op.get(), &collect_referent, &out);
  return out;
}

std::vector<ref> get_referrers(const ref& op) {
  std::vector<ref> out;
  for (int i = 0; i < generations; ++i) {
    object* head = &detail::the_state.generation_heads[i];
    for (object* o = head->gc_next; o != head; o = o->gc_next) {
      referrer_search search{op.get(), false};
      o->type->traverse(o, &find_referent, &search);
      if (search.found) out.push_back(ref::borrow(o));
    }
  }
  return out;
}

std::vector<ref> get_objects(std::optional<int> generation) {
  if (generation && (*generation < 0 || *generation >= generations))
    throw std::invalid_argument(*generation < 0
                                    ? "generation parameter cannot be negative"
                                    : "generation parameter must be less than the number of "
                                      "available generations (3)");
  std::vector<ref> out;
  const int first = generation ? *generation : 0;
  const int last = generation ? *generation : generations - 1;
  for (int i = first; i <= last; ++i) {
    object* head = &detail::the_state.generation_heads[i];
    for (object* o = head->gc_next; o != head; o = o->gc_next) out.push_back(ref::borrow(o));
  }
  return out;
}

void track(object* op) noexcept {
  if (detail::is_gc(op) && !detail::tracked(op)) detail::track_young(op);
}

void untrack(object* op) noexcept {
  if (detail::tracked(op)) detail::untrack_object(op);
}

}  // namespace lifecycle::gc

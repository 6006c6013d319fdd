// Collector internals shared by object.cpp (allocation and refcount death), weakref.cpp and
// gc.cpp: the global state, the header bits, the intrusive list operations.
#pragma once

#include "gc/gc_shutdown.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/object.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>

namespace lifecycle::gc::detail {

// gc_bits layout, low to high:
// - flags: FINALIZED (tp_finalize ran), UNREACHABLE (in the garbage set of the running
//   collection), WEAKREFS (has an entry in the weakref table);
// - a one-hot generation tag, one bit each for gen0, gen1, gen2 (two bits that alternate at
//   every full collection, see state::gen2_tag) and the resurrection check's set; no bit for
//   untracked / permanent / not gc. "Is this referent part of the collection?" is one AND of
//   the header with the mask of the collected tags, so no pass is needed to mark the collected
//   generation first;
// - LEAF (during a collection only, cleared with gc_refs): count_internal_refs found no referent
//   of the object inside the collected set, so move_unreachable need not traverse it again;
// - gc_refs: during a collection, the number of references from inside the collected set
//   (CPython keeps refcount minus that; keeping the count of internal references lets it start
//   at zero, which saves CPython's update_refs pass). Zero outside collections.
inline constexpr std::uint64_t flag_finalized = 1u << 0;
inline constexpr std::uint64_t flag_unreachable = 1u << 1;
inline constexpr std::uint64_t flag_weakrefs = 1u << 2;
inline constexpr std::uint64_t flag_leaf = std::uint64_t{1} << 8;
inline constexpr unsigned refs_shift = 9;
inline constexpr std::uint64_t keep_flags = flag_finalized | flag_weakrefs;
inline constexpr std::uint64_t one_ref = std::uint64_t{1} << refs_shift;
inline constexpr std::uint64_t refs_mask = ~std::uint64_t{0} << refs_shift;

// Tags are their bit in gc_bits; a set of tags is the OR of them.
inline constexpr unsigned tag_none = 0;
inline constexpr unsigned tag_gen0 = 1u << 3;
inline constexpr unsigned tag_gen1 = 1u << 4;
inline constexpr unsigned tag_gen2_a = 1u << 5;
inline constexpr unsigned tag_gen2_b = 1u << 6;
inline constexpr unsigned tag_resurrection = 1u << 7;

// Header bits of an object at rest in the generation with `tag`: flags kept, gc_refs zero.
inline void rest_in(object* op, unsigned tag) noexcept {
  op->gc_bits = (op->gc_bits & keep_flags) | tag;
}

// A list head: an object header that is never a real object. constexpr so the heads are
// constant-initialised as empty circular lists (no static constructor).
struct list_head : object {
  constexpr list_head() noexcept : object() {
    refcnt = 0;
    type = nullptr;
    gc_next = this;
    gc_prev = this;
    gc_bits = 0;
  }
  list_head(const list_head&) = delete;
  list_head& operator=(const list_head&) = delete;
};

// Dead objects whose memory the collector hands to the allocator at once (see queue_free).
inline constexpr std::size_t free_batch_blocks = 256;

struct state {
  list_head generation_heads[generations];
  list_head permanent;
  std::size_t threshold[generations];
  std::size_t count[generations];
  generation_stats stats[generations];
  // The long-lived heuristic (issue #4074): a full collection only when enough objects have
  // survived a gen1 collection since the last full one.
  std::size_t long_lived_total;
  std::size_t long_lived_pending;
  bool enabled;
  bool collecting;
  unsigned debug;
  // Tag of the oldest generation (gen2_a or gen2_b). A full collection switches it first, so its
  // survivors (and whatever enters gen2 meanwhile) carry the new value and are out of the
  // collected set without another pass.
  unsigned gen2_tag;
  // Objects that died while delete_garbage runs whose memory is not given back yet (see
  // queue_free): free_cursor is where the next one goes, nullptr outside delete_garbage.
  object** free_cursor;
  object* free_batch[free_batch_blocks];
  debug_sink sink;
  void* sink_context;
  list_object* garbage;           // owned reference, made on first use
  struct callback_table* callbacks;  // heap, made on first add_callback
};

// Defined in gc.cpp; constant-initialised.
extern constinit state the_state;

inline bool is_gc(const object* op) noexcept { return has_flag(op->type->flags, type_flags::gc); }
inline bool tracked(const object* op) noexcept { return op->gc_next != nullptr; }

inline unsigned generation_tag(int generation) noexcept {
  return generation == 0 ? tag_gen0 : generation == 1 ? tag_gen1 : the_state.gen2_tag;
}

inline void list_init(object* head) noexcept {
  head->gc_next = head;
  head->gc_prev = head;
}
inline bool list_empty(const object* head) noexcept { return head->gc_next == head; }
inline void list_append(object* node, object* head) noexcept {
  object* last = head->gc_prev;
  node->gc_prev = last;
  node->gc_next = head;
  last->gc_next = node;
  head->gc_prev = node;
}
inline void list_remove(object* node) noexcept {
  node->gc_prev->gc_next = node->gc_next;
  node->gc_next->gc_prev = node->gc_prev;
  node->gc_next = nullptr;
  node->gc_prev = nullptr;
}
inline void list_move(object* node, object* head) noexcept {
  node->gc_prev->gc_next = node->gc_next;
  node->gc_next->gc_prev = node->gc_prev;
  list_append(node, head);
}
// Appends `from` to `to`; `from` becomes empty.
inline void list_merge(object* from, object* to) noexcept {
  if (!list_empty(from)) {
    object* tail = to->gc_prev;
    tail->gc_next = from->gc_next;
    from->gc_next->gc_prev = tail;
    to->gc_prev = from->gc_prev;
    to->gc_prev->gc_next = to;
  }
  list_init(from);
}
std::size_t list_size(const object* head) noexcept;

// PyObject_GC_Track: into the youngest generation, at rest.
inline void track_young(object* op) noexcept {
  rest_in(op, tag_gen0);
  list_append(op, &the_state.generation_heads[0]);
}
// PyObject_GC_UnTrack; the tag goes too, so the collector ignores the object as a referent.
inline void untrack_object(object* op) noexcept {
  list_remove(op);
  rest_in(op, tag_none);
}

// Count one tracked allocation and collect if gen0 is over its threshold (_PyObject_GC_Link).
void note_allocation() noexcept;
// A gc object's memory is about to be freed (PyObject_GC_Del): unlink, count down gen0. The
// header is not reset: the object is dead.
inline void note_deallocation(object* op) noexcept {
  if (tracked(op)) {
    op->gc_prev->gc_next = op->gc_next;
    op->gc_next->gc_prev = op->gc_prev;
  }
  if (the_state.count[0] > 0) --the_state.count[0];
}

// ---- the garbage's memory, freed in batches ----
// While delete_garbage breaks cycles, the objects it kills die one by one, each by refcount
// (destroy, then free). Their memory is queued in the_state.free_batch instead and handed to
// object_free_many when the batch is full: consecutive dead objects mostly share pools, and the
// allocator returns a run of one pool's blocks in one step, past the thread cache. A batch is
// small enough to be still in cache when it is freed.

// Gives the queued blocks to the allocator (gc.cpp).
void flush_frees() noexcept;

// Called by refcount death once `op` is destroyed: true when its memory was queued (a batch is
// open), false when the caller frees it.
inline bool queue_free(object* op) noexcept {
  object** cursor = the_state.free_cursor;
  if (cursor == nullptr) return false;
  *cursor++ = op;
  the_state.free_cursor = cursor;
  if (cursor == std::end(the_state.free_batch)) flush_frees();
  return true;
}

// Around user code that runs during a batch (a finalizer or weakref callback of a dying
// object): what it can observe of the allocator (allocator_blocks_in_use, the tracer) must count
// the queued blocks as freed, as they already are in CPython, and what dies inside it is freed
// at once, as in CPython. So the batch is flushed and suspended until the user code returns. A
// collection the user code starts fills and empties the same (empty) batch meanwhile.
class frees_unbatched {
 public:
  frees_unbatched() noexcept : was_batching_(the_state.free_cursor != nullptr) {
    if (!was_batching_) return;
    flush_frees();
    the_state.free_cursor = nullptr;
  }
  ~frees_unbatched() {
    if (was_batching_) the_state.free_cursor = the_state.free_batch;
  }
  frees_unbatched(const frees_unbatched&) = delete;
  frees_unbatched& operator=(const frees_unbatched&) = delete;

 private:
  bool was_batching_;
};

}  // namespace lifecycle::gc::detail

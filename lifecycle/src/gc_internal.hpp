// Collector internals shared by object.cpp (allocation and refcount death), weakref.cpp and
// gc.cpp: the global state, the header bits, the intrusive list operations.
#pragma once

#include "lifecycle/gc.hpp"
#include "lifecycle/object.hpp"

#include <cstddef>
#include <cstdint>

namespace lifecycle::gc::detail {

// gc_bits layout: four flags, then gc_refs (only meaningful during a collection).
inline constexpr std::uint64_t flag_finalized = 1u << 0;    // tp_finalize already ran
inline constexpr std::uint64_t flag_collecting = 1u << 1;   // in the generation being collected
inline constexpr std::uint64_t flag_unreachable = 1u << 2;  // tentatively unreachable
inline constexpr std::uint64_t flag_weakrefs = 1u << 3;     // has entries in the weakref table
inline constexpr unsigned refs_shift = 4;
inline constexpr std::uint64_t flags_mask = (1u << refs_shift) - 1;
inline constexpr std::uint64_t one_ref = std::uint64_t{1} << refs_shift;

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
  debug_sink sink;
  void* sink_context;
  list_object* garbage;           // owned reference, made on first use
  struct callback_table* callbacks;  // heap, made on first add_callback
};

// Defined in gc.cpp; constant-initialised.
extern constinit state the_state;

inline bool is_gc(const object* op) noexcept { return has_flag(op->type->flags, type_flags::gc); }
inline bool tracked(const object* op) noexcept { return op->gc_next != nullptr; }

inline std::intptr_t get_refs(const object* op) noexcept {
  return static_cast<std::intptr_t>(op->gc_bits >> refs_shift);
}
inline void set_refs(object* op, std::intptr_t refs) noexcept {
  op->gc_bits = (op->gc_bits & flags_mask) | (static_cast<std::uint64_t>(refs) << refs_shift);
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

// Count one tracked allocation and collect if gen0 is over its threshold (_PyObject_GC_Link).
void note_allocation() noexcept;
// A gc object's memory is about to be freed (PyObject_GC_Del): untrack, count down gen0.
inline void note_deallocation(object* op) noexcept {
  if (tracked(op)) list_remove(op);
  if (the_state.count[0] > 0) --the_state.count[0];
}

}  // namespace lifecycle::gc::detail

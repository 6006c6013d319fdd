// Object lifetime: type registration, allocation, and refcount death (CPython's
// subtype_dealloc + PyObject_CallFinalizerFromDealloc + PyObject_ClearWeakRefs order).
#include "lifecycle/object.hpp"

#include "gc/gc_internal.hpp"
#include "lifecycle/allocator.hpp"
#include "lifecycle/unraisable.hpp"
#include "lifecycle/weakref.hpp"

#include <fmt/format.h>

#include <exception>
#include <stdexcept>

namespace lifecycle {

namespace gcd = gc::detail;

void register_type(type_object& type) {
  if (type.name == nullptr || *type.name == '\0')
    throw std::invalid_argument("register_type: a type needs a name");
  if (type.destroy == nullptr)
    throw std::invalid_argument(fmt::format("register_type: type '{}' has no destroy", type.name));
  if (has_flag(type.flags, type_flags::gc) && type.traverse == nullptr)
    throw std::invalid_argument(
        fmt::format("register_type: gc type '{}' has no traverse", type.name));
  type.ready = true;
}

std::string repr(const object* op) {
  if (op->type->repr != nullptr) return op->type->repr(op);
  return fmt::format("<{} object at {}>", op->type->name, static_cast<const void*>(op));
}

namespace detail {

void* allocate(const type_object& type, std::size_t size) {
  if (!type.ready)
    throw std::logic_error(fmt::format("type '{}' is not registered",
                                       type.name != nullptr ? type.name : "?"));
  // Counted (and possibly collected) before the memory exists, as _PyObject_GC_Link: the new
  // object cannot be seen by the collection it triggers.
  if (has_flag(type.flags, type_flags::gc)) gcd::note_allocation();
  return object_malloc(size);
}

void release_allocation(const type_object& type, void* memory) noexcept {
  if (has_flag(type.flags, type_flags::gc) && gcd::the_state.count[0] > 0)
    --gcd::the_state.count[0];
  object_free(memory);
}

void init_header_untracked(object* op, const type_object& type) noexcept {
  op->refcnt = 1;
  op->type = &type;
  op->gc_next = nullptr;
  op->gc_prev = nullptr;
  op->gc_bits = 0;
}

void init_header(object* op, const type_object& type) noexcept {
  init_header_untracked(op, type);
  if (has_flag(type.flags, type_flags::gc)) gcd::track_young(op);
}

namespace {

// The trashcan (CPython's Py_TRASHCAN_BEGIN): destroying a long chain recurses once per link;
// past this depth dead objects are queued and destroyed when the outermost dealloc unwinds.
constexpr int trashcan_depth = 50;
constinit int dealloc_depth = 0;
constinit object* trash = nullptr;  // linked through gc_prev (dead objects are untracked)

// Calls a finalizer with self temporarily resurrected (refcnt 1). Returns true if the object is
// still dead afterwards, false if the finalizer resurrected it.
bool call_with_temporary_ref(object* op, finalize_fn fn) noexcept {
  op->refcnt = 1;
  try {
    fn(op);
  } catch (...) {
    write_unraisable(std::current_exception(), op);
  }
  return --op->refcnt == 0;
}

// PEP 442 finalizer at refcount death: at most once for gc types (the FINALIZED bit), on every
// death for the others (they have no bit to remember it).
bool finalize_dying(object* op) noexcept {
  const type_object& type = *op->type;
  if (type.finalize == nullptr) return true;
  const bool gc_type = gcd::is_gc(op);
  if (gc_type && (op->gc_bits & gcd::flag_finalized) != 0) return true;
  // A gc object stays tracked during its finalizer: a collection it triggers sees it with a
  // real reference count (CPython re-tracks around tp_finalize for the same reason).
  const bool dead = call_with_temporary_ref(op, type.finalize);
  if (gc_type) op->gc_bits |= gcd::flag_finalized;
  return dead;
}

// Legacy tp_del at refcount death (only cycles make it a problem). Untracked while it runs,
// re-tracked if it resurrects.
bool legacy_del_dying(object* op) noexcept {
  const type_object& type = *op->type;
  if (type.legacy_del == nullptr) return true;
  if (call_with_temporary_ref(op, type.legacy_del)) return true;
  if (gcd::is_gc(op) && !gcd::tracked(op)) gcd::track_young(op);
  return false;
}

void destroy_and_free(object* op) noexcept {
  op->type->destroy(op);
  if (gcd::queue_free(op)) return;  // the collector frees its garbage in batches
  object_free(op);
}

[[gnu::noinline]] void empty_trash() noexcept {
  while (trash != nullptr) {
    object* op = trash;
    trash = op->gc_prev;
    op->gc_prev = nullptr;
    ++dealloc_depth;
    destroy_and_free(op);
    --dealloc_depth;
  }
}

}  // namespace

namespace {

// The part of a death that may run user code: finalizer, weakref callbacks, legacy finalizer.
// Returns false when one of them resurrected the object.
[[gnu::noinline]] bool run_death_hooks(object* op) noexcept {
  const gcd::frees_unbatched user_code_sees_exact_counts;
  if (!finalize_dying(op)) return false;
  // Untracked before weakref callbacks run: a collection started by a callback must not see
  // an object whose reference count is zero.
  if (gcd::is_gc(op) && gcd::tracked(op)) gcd::untrack_object(op);
  if ((op->gc_bits & gcd::flag_weakrefs) != 0) clear_weakrefs(op);
  return legacy_del_dying(op);
}

}  // namespace

void dealloc(object* op) noexcept {
  const type_object& type = *op->type;
  // Most deaths run no user code: one test sends the others through the hooks.
  if (type.finalize != nullptr || type.legacy_del != nullptr ||
      (op->gc_bits & gcd::flag_weakrefs) != 0) [[unlikely]] {
    if (!run_death_hooks(op)) return;
  }
  if (has_flag(type.flags, type_flags::gc)) gcd::note_deallocation(op);

  if (dealloc_depth >= trashcan_depth) [[unlikely]] {
    op->gc_prev = trash;
    trash = op;
    return;
  }
  ++dealloc_depth;
  destroy_and_free(op);
  --dealloc_depth;
  if (dealloc_depth == 0 && trash != nullptr) [[unlikely]] empty_trash();
}

}  // namespace detail
}  // namespace lifecycle

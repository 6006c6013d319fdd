// Weak references (CPython's weakref.ref): a weakref object that does not keep its referent
// alive, is cleared when the referent dies, and then calls its callback with itself.
//
// Order (as CPython): at refcount death the finalizer runs first (a resurrecting finalizer
// keeps the weakrefs alive), then every weakref is cleared and the callbacks run newest first.
// In a collection, weakrefs that are themselves garbage are cleared without callback; the
// callbacks of the others run after all weakrefs to garbage are cleared and before any
// finalizer or tp_clear.
//
// The caller holds the runtime lock (see object.hpp).
#pragma once

#include "lifecycle/object.hpp"

#include <cstddef>
#include <functional>

namespace lifecycle {

struct weakref_object;
// A weakref callback gets the (already dead) weakref. It may throw: the exception is reported
// as unraisable. It is opaque to the collector: what it captures is not traversed, so a strong
// reference captured in it keeps its target alive like any reference from outside.
using weakref_callback = std::function<void(const handle<weakref_object>& weakref)>;

extern type_object weakref_type;

struct weakref_object : object {
  explicit weakref_object(weakref_callback cb) noexcept : callback(std::move(cb)) {}
  ~weakref_object();
  // The referent, or an empty handle once it died (Python's wr() returning None).
  ref get() const noexcept { return ref::borrow(referent); }
  bool alive() const noexcept { return referent != nullptr; }

  object* referent = nullptr;  // borrowed; nullptr once cleared
  weakref_callback callback;
  // The referent's list of weakrefs, newest first.
  weakref_object* list_prev = nullptr;
  weakref_object* list_next = nullptr;
};

// weakref.ref(target, callback). Every call makes a new weakref (CPython shares one
// callback-less ref per object; we do not). Throws std::invalid_argument ("cannot create weak
// reference to 'int' object") when target's type is not weakrefable.
handle<weakref_object> new_weakref(const ref& target, weakref_callback callback = {});

// weakref.getweakrefcount(target).
std::size_t weakref_count(const object* target) noexcept;

namespace detail {
// Clears every weakref to op and runs their callbacks newest first (PyObject_ClearWeakRefs).
// Called by dealloc; a no-op without weakrefs.
void clear_weakrefs(object* op) noexcept;
// Clears one weakref without calling its callback (_PyWeakref_ClearRef).
void clear_weakref_no_callback(weakref_object* wr) noexcept;
// The newest weakref to op, or nullptr.
weakref_object* first_weakref(const object* op) noexcept;
// Detaches every weakref from every object and frees the side table (gc::detail::reset_state).
void reset_weakrefs() noexcept;
}  // namespace detail

}  // namespace lifecycle

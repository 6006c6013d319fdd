// The object model: every managed object starts with an `object` header (reference count, type,
// intrusive collector links, collector bits), modelled on CPython's PyObject + PyGC_Head.
//
// Thread model: like CPython's GIL, the runtime holds one runtime lock; every function in
// lifecycle's object, types, gc, weakref and unraisable headers assumes the caller holds it.
// Nothing here takes a lock of its own.
//
// Memory: every object (and every buffer an object owns, such as a list's item array) comes
// from lifecycle::object_malloc and goes back through lifecycle::object_free.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace lifecycle {

struct object;
struct type_object;

// A Python-shaped exception: code run by the runtime (finalizers, weakref and gc callbacks)
// throws it to say "this raised ValueError('boom')". Any other std::exception is reported with
// its demangled C++ type name.
class python_error : public std::runtime_error {
 public:
  python_error(std::string type_name, const std::string& message)
      : std::runtime_error(message), type_name_(std::move(type_name)) {}
  const std::string& type_name() const noexcept { return type_name_; }

 private:
  std::string type_name_;
};

// The header of every managed object. Fields are public for the runtime's own hot paths; user
// code reads them through refcount()/type_of() and never writes them.
struct object {
  std::intptr_t refcnt;
  const type_object* type;
  // Intrusive doubly-linked collector list (a generation, or a list private to a collection).
  // gc_next == nullptr means "not tracked".
  object* gc_next;
  object* gc_prev;
  // Collector bits: flags in the low bits, gc_refs (the refcount copy used during a collection)
  // above them. See gc.cpp.
  std::uint64_t gc_bits;

 protected:
  // The header is filled in by new_object after the derived constructor ran.
  object() = default;
  ~object() = default;

 public:
  object(const object&) = delete;
  object& operator=(const object&) = delete;
};

// Callbacks of a type (CPython's tp_* slots). All are plain function pointers so the collector
// runs tight loops without indirection through std::function.
using visit_fn = void (*)(object* referent, void* arg);
// Calls visit once for every strong reference this object holds (tp_traverse; a reference held
// twice is visited twice, a borrowed pointer never). Must not change any reference count, run
// user code or throw: the collector's counts rely on it being exact.
using traverse_fn = void (*)(object* self, visit_fn visit, void* arg);
// Drops the references that may form cycles (tp_clear). Called by the collector on garbage;
// afterwards the object may still be reachable from finalizers' leftovers, so it must stay valid.
using clear_fn = void (*)(object* self) noexcept;
// PEP 442 finalizer (tp_finalize) or legacy finalizer (tp_del). May throw (reported as
// unraisable) and may resurrect self by storing a new strong reference.
using finalize_fn = void (*)(object* self);
// Runs the C++ destructor of the concrete object (releasing its references). The runtime frees
// the memory afterwards. Must not throw.
using destroy_fn = void (*)(object* self) noexcept;
// repr(); nullptr means CPython's default "<NAME object at 0x...>".
using repr_fn = std::string (*)(const object* self);

enum class type_flags : std::uint32_t {
  none = 0,
  // Instances are container objects tracked by the cycle collector (Py_TPFLAGS_HAVE_GC).
  gc = 1u << 0,
  // Instances can be the referent of weak references (tp_weaklistoffset != 0).
  weakrefable = 1u << 1,
};
constexpr type_flags operator|(type_flags a, type_flags b) noexcept {
  return static_cast<type_flags>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}
constexpr bool has_flag(type_flags set, type_flags flag) noexcept {
  return (static_cast<std::uint32_t>(set) & static_cast<std::uint32_t>(flag)) != 0;
}

// A type (CPython's PyTypeObject, reduced to what object lifetime needs). A plain aggregate:
// user types define one (constinit if global — it is trivially destructible) and hand it to
// register_type before creating instances. Built-in types live in types.hpp; classes made with
// new_class embed one.
struct type_object {
  const char* name = nullptr;
  type_flags flags = type_flags::none;
  traverse_fn traverse = nullptr;  // required for gc types
  clear_fn clear = nullptr;        // optional; a gc type without it cannot break cycles
  finalize_fn finalize = nullptr;  // PEP 442: at most once for gc types, every death otherwise
  finalize_fn legacy_del = nullptr;  // tp_del: cycles reaching it become gc.garbage
  destroy_fn destroy = nullptr;    // required
  repr_fn repr = nullptr;
  bool ready = false;  // set by register_type
};

// Validates and readies a type (name and destroy required; gc types need traverse). Explicit,
// never done by static initialisation. Throws std::invalid_argument.
void register_type(type_object& type);

// A type_object for C++ class T (derived from object), with destroy = T's destructor. Fill in
// the hooks and register_type it.
template <class T>
constexpr type_object make_type(const char* name, type_flags flags) noexcept {
  static_assert(std::is_base_of_v<object, T>);
  type_object type{};
  type.name = name;
  type.flags = flags;
  type.destroy = [](object* self) noexcept { static_cast<T*>(self)->~T(); };
  return type;
}

namespace detail {
// Refcount reached zero: finalizer, weakref callbacks, legacy finalizer, untrack, destroy, free.
// Implemented in object.cpp; never throws (errors become unraisable reports).
void dealloc(object* op) noexcept;
// Memory for a new object of `type` (gc types: counts the allocation and may run an automatic
// collection first, as CPython's _PyObject_GC_Link does).
void* allocate(const type_object& type, std::size_t size);
// Gives back memory from allocate when the constructor threw.
void release_allocation(const type_object& type, void* memory) noexcept;
// Fills the header of a freshly constructed object and tracks gc objects.
void init_header(object* op, const type_object& type) noexcept;
// The same without tracking, for gc types that start untracked (CPython's dict).
void init_header_untracked(object* op, const type_object& type) noexcept;
}  // namespace detail

inline void incref(object* op) noexcept { ++op->refcnt; }
inline void decref(object* op) noexcept {
  if (--op->refcnt == 0) detail::dealloc(op);
}
inline std::intptr_t refcount(const object* op) noexcept { return op->refcnt; }
inline const type_object& type_of(const object* op) noexcept { return *op->type; }

// A strong reference: copy = incref, destroy = decref (like Py_INCREF/Py_DECREF pairs).
// An empty handle plays NULL, not None.
template <class T = object>
class handle {
  template <class U>
  friend class handle;

 public:
  handle() noexcept = default;
  handle(std::nullptr_t) noexcept {}
  // Takes over one reference the caller owns (CPython's "new reference").
  static handle steal(T* p) noexcept { return handle(p, 0); }
  // Adds a reference to a borrowed pointer; nullptr gives an empty handle.
  static handle borrow(T* p) noexcept {
    if (p != nullptr) incref(p);
    return handle(p, 0);
  }

  handle(const handle& other) noexcept : p_(other.p_) {
    if (p_ != nullptr) incref(p_);
  }
  handle(handle&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  template <class U>
    requires std::is_convertible_v<U*, T*>
  handle(const handle<U>& other) noexcept : p_(other.p_) {
    if (p_ != nullptr) incref(p_);
  }
  template <class U>
    requires std::is_convertible_v<U*, T*>
  handle(handle<U>&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}

  // Assignment drops the old reference last (Py_SETREF): its death may run finalizers that look
  // at this handle, which must already hold the new value.
  handle& operator=(const handle& other) noexcept {
    handle(other).swap(*this);
    return *this;
  }
  handle& operator=(handle&& other) noexcept {
    handle(std::move(other)).swap(*this);
    return *this;
  }
  ~handle() { reset(); }

  // Py_CLEAR: the handle is empty before the old referent's death can run any code.
  void reset() noexcept {
    if (T* old = std::exchange(p_, nullptr)) decref(old);
  }
  // Gives up ownership of the reference without decref.
  [[nodiscard]] T* release() noexcept { return std::exchange(p_, nullptr); }
  void swap(handle& other) noexcept { std::swap(p_, other.p_); }

  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  handle(T* p, int) noexcept : p_(p) {}
  T* p_ = nullptr;
};

// Identity comparison (Python's `is`), across handle types.
template <class A, class B>
bool operator==(const handle<A>& a, const handle<B>& b) noexcept {
  return static_cast<const object*>(a.get()) == static_cast<const object*>(b.get());
}
template <class A>
bool operator==(const handle<A>& a, std::nullptr_t) noexcept {
  return a.get() == nullptr;
}

using ref = handle<object>;

// Downcast without a check (the caller knows the type, e.g. from type_of).
template <class T, class U>
handle<T> handle_cast(handle<U> h) noexcept {
  return handle<T>::steal(static_cast<T*>(h.release()));
}

// Creates an object of C++ type T with the registered `type`, constructed from args. gc types
// are tracked once constructed. Throws std::logic_error for an unregistered type, std::bad_alloc.
template <class T, class... Args>
handle<T> new_object(const type_object& type, Args&&... args) {
  static_assert(std::is_base_of_v<object, T>);
  void* memory = detail::allocate(type, sizeof(T));
  T* op;
  try {
    op = ::new (memory) T(std::forward<Args>(args)...);
  } catch (...) {
    detail::release_allocation(type, memory);
    throw;
  }
  detail::init_header(op, type);
  return handle<T>::steal(op);
}

// repr(op): the type's repr, or "<NAME object at 0x...>".
std::string repr(const object* op);
inline std::string repr(const ref& r) { return repr(r.get()); }

}  // namespace lifecycle

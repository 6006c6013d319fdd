// Weak references. Each referent's weakrefs form a doubly-linked list (newest first) whose head
// lives in a side table keyed by the referent; the referent's header has one bit saying it has
// an entry, so objects without weakrefs pay nothing (CPython keeps the head in the object at
// tp_weaklistoffset instead; we keep the header at 40 bytes).
#include "lifecycle/weakref.hpp"

#include "gc/gc_internal.hpp"
#include "lifecycle/unraisable.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lifecycle {

namespace gcd = gc::detail;

namespace {

using weakref_table = std::unordered_map<const object*, weakref_object*>;
// Made on first new_weakref, freed by reset_weakrefs.
constinit weakref_table* table = nullptr;

void weakref_traverse(object*, visit_fn, void*) {
  // The callback is opaque C++ (see weakref_callback): nothing to visit. The weakref is still
  // tracked so that a collection can tell a weakref that is itself garbage.
}

void weakref_clear(object* self) noexcept {
  auto* wr = static_cast<weakref_object*>(self);
  detail::clear_weakref_no_callback(wr);
  // Dropping the callback may release what it captured.
  weakref_callback dropped = std::move(wr->callback);
  wr->callback = nullptr;
}

std::string weakref_repr(const object* self) {
  const auto* wr = static_cast<const weakref_object*>(self);
  if (wr->referent == nullptr)
    return fmt::format("<weakref at {}; dead>", static_cast<const void*>(wr));
  return fmt::format("<weakref at {}; to '{}' at {}>", static_cast<const void*>(wr),
                     wr->referent->type->name, static_cast<const void*>(wr->referent));
}

void unlink(weakref_object* wr) noexcept {
  object* referent = wr->referent;
  if (referent == nullptr) return;
  if (wr->list_prev != nullptr) {
    wr->list_prev->list_next = wr->list_next;
  } else if (wr->list_next != nullptr) {
    (*table)[referent] = wr->list_next;
  } else {
    table->erase(referent);
    referent->gc_bits &= ~gcd::flag_weakrefs;
  }
  if (wr->list_next != nullptr) wr->list_next->list_prev = wr->list_prev;
  wr->list_prev = nullptr;
  wr->list_next = nullptr;
  wr->referent = nullptr;
}

}  // namespace

constinit type_object weakref_type{
    .name = "weakref",
    .flags = type_flags::gc,
    .traverse = &weakref_traverse,
    .clear = &weakref_clear,
    .finalize = nullptr,
    .legacy_del = nullptr,
    .destroy = [](object* self) noexcept { static_cast<weakref_object*>(self)->~weakref_object(); },
    .repr = &weakref_repr,
    .ready = true,
};

weakref_object::~weakref_object() { unlink(this); }

handle<weakref_object> new_weakref(const ref& target, weakref_callback callback) {
  if (!target) throw std::invalid_argument("cannot create weak reference to NULL");
  if (!has_flag(target->type->flags, type_flags::weakrefable))
    throw std::invalid_argument(
        fmt::format("cannot create weak reference to '{}' object", target->type->name));
  if (table == nullptr) table = new weakref_table();
  auto wr = new_object<weakref_object>(weakref_type, std::move(callback));
  object* referent = target.get();
  weakref_object*& head = (*table)[referent];
  wr->referent = referent;
  wr->list_next = head;
  if (head != nullptr) head->list_prev = wr.get();
  head = wr.get();
  referent->gc_bits |= gcd::flag_weakrefs;
  return wr;
}

std::size_t weakref_count(const object* target) noexcept {
  std::size_t n = 0;
  for (weakref_object* wr = detail::first_weakref(target); wr != nullptr; wr = wr->list_next) ++n;
  return n;
}

namespace detail {

weakref_object* first_weakref(const object* op) noexcept {
  if ((op->gc_bits & gcd::flag_weakrefs) == 0 || table == nullptr) return nullptr;
  auto it = table->find(op);
  return it == table->end() ? nullptr : it->second;
}

void clear_weakref_no_callback(weakref_object* wr) noexcept { unlink(wr); }

void clear_weakrefs(object* op) noexcept {
  // All weakrefs are cleared before the first callback runs, so every callback sees every
  // weakref to op already dead. The callbacks run in list order: newest first.
  // As PyObject_ClearWeakRefs, each weakref gives its callback up before it runs: afterwards
  // the weakref's __callback__ is None (test_weakref's test_callback_attribute_after_deletion).
  std::vector<std::pair<handle<weakref_object>, weakref_callback>> to_call;
  try {
    for (weakref_object* wr = first_weakref(op); wr != nullptr; wr = wr->list_next)
      if (wr->callback && wr->refcnt > 0)
        to_call.emplace_back(handle<weakref_object>::borrow(wr), std::move(wr->callback));
  } catch (...) {
    write_unraisable(std::current_exception(), op);
  }
  while (weakref_object* wr = first_weakref(op)) {
    wr->callback = nullptr;
    unlink(wr);
  }
  for (auto& [wr, callback] : to_call) {
    try {
      callback(wr);
    } catch (...) {
      write_unraisable(std::current_exception(), wr.get());
    }
  }
}

void reset_weakrefs() noexcept {
  if (table == nullptr) return;
  for (auto& [referent, head] : *table) {
    const_cast<object*>(referent)->gc_bits &= ~gcd::flag_weakrefs;
    for (weakref_object* wr = head; wr != nullptr;) {
      weakref_object* next = wr->list_next;
      wr->referent = nullptr;
      wr->list_prev = nullptr;
      wr->list_next = nullptr;
      wr = next;
    }
  }
  delete table;
  table = nullptr;
}

}  // namespace detail
}  // namespace lifecycle

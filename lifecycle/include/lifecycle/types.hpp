// Built-in types, enough to build Python-shaped object graphs: None, int, str, list, dict
// (insertion-ordered, str keys), classes and their instances (attributes in a dict, optional
// PEP 442 finalizer `__del__` and optional legacy finalizer `tp_del`).
//
// The caller holds the runtime lock (see object.hpp).
#pragma once

#include "lifecycle/object.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace lifecycle {

// Built-in types (ready at compile time; never registered).
extern type_object none_type;
extern type_object int_type;
extern type_object str_type;
extern type_object list_type;
extern type_object dict_type;
extern type_object class_type;

// ---- None ------------------------------------------------------------------------------------
// The None singleton: a static object that is never deallocated.
object* none_object() noexcept;
inline ref none() noexcept { return ref::borrow(none_object()); }
inline bool is_none(const object* op) noexcept { return op == none_object(); }

// ---- int (untracked, not weakrefable: CPython's int is neither) -------------------------------
struct int_object : object {
  explicit int_object(std::int64_t v) noexcept : value(v) {}
  std::int64_t value;
};
handle<int_object> new_int(std::int64_t value);

// ---- str (untracked, not weakrefable); the characters follow the object in one block ----------
struct str_object : object {
  str_object(std::size_t text_length, std::uint64_t text_hash) noexcept
      : length(text_length), hash(text_hash) {}
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), length};
  }
  std::size_t length;
  std::uint64_t hash;
};
handle<str_object> new_str(std::string_view text);

// ---- list (gc) -------------------------------------------------------------------------------
struct list_object : object {
  list_object() noexcept = default;
  ~list_object();
  std::size_t size() const noexcept { return size_; }
  // Borrowed item (valid while the list holds it); throws std::out_of_range.
  object* at(std::size_t index) const;
  ref get(std::size_t index) const { return ref::borrow(at(index)); }
  void append(ref item);
  // Replaces item `index`; the old item is released after the slot holds the new one.
  void set(std::size_t index, ref item);
  // Removes and returns the last item; throws std::out_of_range when empty.
  ref pop();
  // Empties the list (items released last-to-first after the list is already empty).
  void clear() noexcept;

  object** items_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};
handle<list_object> new_list();

// ---- dict (gc; insertion-ordered; keys are str) ------------------------------------------------
// Setting an existing key replaces its value in place and keeps its position; erase then set
// appends at the end (CPython's dict order).
//
// Tracking follows CPython 3.11 (MAINTAIN_TRACKING, _PyDict_MaybeUntrack): a new dict is
// untracked; storing any gc object in it (tracked or not, a new key or not) tracks it; only a
// full collection untracks a surviving dict whose values are all non-gc objects. An instance's
// attribute dict is the exception: it is tracked from the start and never untracked (see
// instance_object).
struct dict_object : object {
  struct entry {
    str_object* key;  // nullptr: erased slot
    object* value;
    std::uint64_t hash;
  };

  dict_object() noexcept = default;
  ~dict_object();
  std::size_t size() const noexcept { return used_; }
  // The value for key, or an empty handle.
  ref get(std::string_view key) const;
  bool contains(std::string_view key) const noexcept;
  void set(std::string_view key, ref value);
  void set(const handle<str_object>& key, ref value);
  // Removes key; false if it was not there.
  bool erase(std::string_view key);
  // PyDict_Next: iterates live entries in insertion order. Start with pos = 0; returns false at
  // the end. key/value are borrowed. Setting the value of an existing key during iteration is
  // allowed (module clearing does it); inserting or erasing is not.
  bool next(std::size_t& pos, str_object*& key, object*& value) const noexcept;
  // Replaces the value of the entry found at `pos - 1` by the last next() (in place).
  void replace_at(std::size_t pos, ref value);
  void clear() noexcept;

  bool instance_storage_ = false;  // an instance's attributes: always tracked
  entry* entries_ = nullptr;     // insertion order; erased entries have key == nullptr
  std::int32_t* index_ = nullptr;  // open addressing: -1 empty, -2 erased, else entry index
  std::size_t used_ = 0;          // live entries
  std::size_t filled_ = 0;        // entries_ slots used (live + erased)
  std::size_t entry_capacity_ = 0;
  std::size_t index_size_ = 0;    // power of two, or 0
};
handle<dict_object> new_dict();

// ---- classes and instances ---------------------------------------------------------------------
// A finalizer gets the instance (borrowed; it may resurrect it by keeping a new reference) and
// may throw; the exception is reported as unraisable.
using instance_finalizer = std::function<void(object* self)>;

struct class_options {
  instance_finalizer del = nullptr;         // PEP 442 __del__ (tp_finalize)
  instance_finalizer legacy_del = nullptr;  // legacy tp_del: cycles through it are uncollectable
};

// A class: a managed object (untracked; it holds no references) that embeds the type_object of
// its instances. Each instance keeps a strong reference to its class.
struct class_object : object {
  class_object(std::string_view name, class_options options);
  ~class_object();
  std::string_view name() const noexcept { return name_; }

  type_object instance_type;
  std::string name_;
  class_options options;
};
handle<class_object> new_class(std::string_view name, class_options options = {});

// An instance: gc-tracked, weakrefable, attributes in a dict (its __dict__). CPython 3.11 keeps
// the attributes in the instance itself until __dict__ is asked for; this dict stands in for
// that storage, so it is tracked like the instance, from its creation on, whatever it holds.
struct instance_object : object {
  instance_object(handle<class_object> of_class, handle<dict_object> attributes) noexcept
      : cls(std::move(of_class)), dict(std::move(attributes)) {}
  // Attribute access; get_attr gives an empty handle for a missing attribute (or after the
  // collector cleared the instance).
  ref get_attr(std::string_view name) const;
  void set_attr(std::string_view name, ref value);
  bool del_attr(std::string_view name);

  handle<class_object> cls;
  handle<dict_object> dict;
};
handle<instance_object> new_instance(const handle<class_object>& cls);
// Whether op is an instance of some class made by new_class.
bool is_instance(const object* op) noexcept;

}  // namespace lifecycle

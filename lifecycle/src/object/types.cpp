// Built-in types: None, int, str, list, dict, classes and instances.
#include "lifecycle/types.hpp"

#include "gc/gc_internal.hpp"
#include "lifecycle/allocator.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace lifecycle {

namespace {

template <class T>
void destroy_as(object* self) noexcept {
  static_cast<T*>(self)->~T();
}

// ---- None ----
void none_destroy(object*) noexcept {
  // CPython: Py_FatalError("deallocating None"). Only an unbalanced decref gets here.
  std::fputs("lifecycle: fatal: deallocating None\n", stderr);
  std::abort();
}
std::string none_repr(const object*) { return "None"; }

struct none_singleton : object {
  constexpr none_singleton() noexcept : object() {
    // Far from zero so that no plausible imbalance reaches it; never freed.
    refcnt = std::intptr_t{1} << 40;
    type = &none_type;
    gc_next = nullptr;
    gc_prev = nullptr;
    gc_bits = 0;
  }
};

// ---- int / str ----
std::string int_repr(const object* self) {
  return fmt::format("{}", static_cast<const int_object*>(self)->value);
}

std::string str_repr(const object* self) {
  // Python's repr quotes with single quotes; escaping beyond that is not modelled.
  return fmt::format("'{}'", static_cast<const str_object*>(self)->view());
}

std::uint64_t hash_text(std::string_view text) noexcept {
  // FNV-1a: stable across runs (Python randomises str hashes; the order of a dict does not
  // depend on hashes, so nothing observable changes).
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// ---- list ----
// Last item first, as CPython's list_traverse: the order decides in which order the items a
// collection finds reachable only through the list move back, and so a later finalizer order.
void list_traverse(object* self, visit_fn visit, void* arg) {
  auto* list = static_cast<list_object*>(self);
  for (std::size_t i = list->size_; i-- > 0;) visit(list->items_[i], arg);
}
void list_clear(object* self) noexcept { static_cast<list_object*>(self)->clear(); }
std::string list_repr(const object* self) {
  const auto* list = static_cast<const list_object*>(self);
  std::string text = "[";
  for (std::size_t i = 0; i < list->size_; ++i) {
    if (i != 0) text += ", ";
    text += repr(list->items_[i]);
  }
  return text + "]";
}

// ---- dict ----
void dict_traverse(object* self, visit_fn visit, void* arg) {
  // Keys are str (never tracked): only values can be part of a cycle, as CPython's dict_traverse
  // skips the keys of str-keyed tables.
  auto* dict = static_cast<dict_object*>(self);
  for (std::size_t i = 0; i < dict->filled_; ++i)
    if (dict->entries_[i].key != nullptr) visit(dict->entries_[i].value, arg);
}
void dict_clear(object* self) noexcept { static_cast<dict_object*>(self)->clear(); }
std::string dict_repr(const object* self) {
  const auto* dict = static_cast<const dict_object*>(self);
  std::string text = "{";
  std::size_t pos = 0;
  str_object* key = nullptr;
  object* value = nullptr;
  bool first = true;
  while (dict->next(pos, key, value)) {
    if (!first) text += ", ";
    first = false;
    text += repr(key) + ": " + repr(value);
  }
  return text + "}";
}

// ---- classes and instances ----
std::string class_repr(const object* self) {
  return fmt::format("<class '{}'>", static_cast<const class_object*>(self)->name());
}

// The attribute dict, then the class, as CPython's subtype_traverse (__dict__, then the heap
// type).
void instance_traverse(object* self, visit_fn visit, void* arg) {
  auto* inst = static_cast<instance_object*>(self);
  if (inst->dict) visit(inst->dict.get(), arg);
  visit(inst->cls.get(), arg);
}
// subtype_clear: drops __dict__ (the class reference stays, as in CPython).
void instance_clear(object* self) noexcept { static_cast<instance_object*>(self)->dict.reset(); }
void instance_del(object* self) {
  // A copy: the finalizer may drop the last reference to the class options it lives in.
  const instance_finalizer del = static_cast<instance_object*>(self)->cls->options.del;
  del(self);
}
void instance_legacy_del(object* self) {
  const instance_finalizer del = static_cast<instance_object*>(self)->cls->options.legacy_del;
  del(self);
}

}  // namespace

constinit type_object none_type{.name = "NoneType",
                                .destroy = &none_destroy,
                                .repr = &none_repr,
                                .ready = true};
constinit type_object int_type{
    .name = "int", .destroy = &destroy_as<int_object>, .repr = &int_repr, .ready = true};
constinit type_object str_type{
    .name = "str", .destroy = &destroy_as<str_object>, .repr = &str_repr, .ready = true};
constinit type_object list_type{.name = "list",
                                .flags = type_flags::gc,
                                .traverse = &list_traverse,
                                .clear = &list_clear,
                                .destroy = &destroy_as<list_object>,
                                .repr = &list_repr,
                                .ready = true};
constinit type_object dict_type{.name = "dict",
                                .flags = type_flags::gc,
                                .traverse = &dict_traverse,
                                .clear = &dict_clear,
                                .destroy = &destroy_as<dict_object>,
                                .repr = &dict_repr,
                                .ready = true};
constinit type_object class_type{.name = "type",
                                 .flags = type_flags::weakrefable,
                                 .destroy = &destroy_as<class_object>,
                                 .repr = &class_repr,
                                 .ready = true};

namespace {
constinit none_singleton the_none;
}

object* none_object() noexcept { return &the_none; }

handle<int_object> new_int(std::int64_t value) { return new_object<int_object>(int_type, value); }

handle<str_object> new_str(std::string_view text) {
  // One block: the header, then the characters and a terminating NUL.
  void* memory = detail::allocate(str_type, sizeof(str_object) + text.size() + 1);
  auto* op = ::new (memory) str_object(text.size(), hash_text(text));
  char* chars = reinterpret_cast<char*>(op + 1);
  if (!text.empty()) std::memcpy(chars, text.data(), text.size());
  chars[text.size()] = '\0';
  detail::init_header(op, str_type);
  return handle<str_object>::steal(op);
}

// ---- list ----

list_object::~list_object() { clear(); }

object* list_object::at(std::size_t index) const {
  if (index >= size_) throw std::out_of_range("list index out of range");
  return items_[index];
}

namespace {
// A container slot never holds NULL (traverse would hand it to the collector).
void require_item(const ref& item, const char* what) {
  if (!item) throw std::invalid_argument(std::string(what) + ": NULL item (use None)");
}
}  // namespace

void list_object::append(ref item) {
  require_item(item, "list append");
  if (size_ == capacity_) {
    const std::size_t capacity = capacity_ == 0 ? 4 : capacity_ * 2;
    auto** items = static_cast<object**>(object_malloc(capacity * sizeof(object*)));
    if (size_ != 0) std::memcpy(items, items_, size_ * sizeof(object*));
    object_free(items_);
    items_ = items;
    capacity_ = capacity;
  }
  items_[size_++] = item.release();
}

void list_object::set(std::size_t index, ref item) {
  if (index >= size_) throw std::out_of_range("list assignment index out of range");
  require_item(item, "list set");
  object* old = std::exchange(items_[index], item.release());
  decref(old);
}

ref list_object::pop() {
  if (size_ == 0) throw std::out_of_range("pop from empty list");
  return ref::steal(items_[--size_]);
}

void list_object::clear() noexcept {
  // The list is empty before any item dies: an item's finalizer may look at (or append to) it.
  object** items = std::exchange(items_, nullptr);
  std::size_t n = std::exchange(size_, 0);
  capacity_ = 0;
  while (n > 0) decref(items[--n]);
  object_free(items);
}

handle<list_object> new_list() { return new_object<list_object>(list_type); }

// ---- dict ----

namespace {
constexpr std::int32_t slot_empty = -1;
constexpr std::int32_t slot_erased = -2;
}  // namespace

dict_object::~dict_object() { clear(); }

namespace {

namespace gcd = gc::detail;

// MAINTAIN_TRACKING (CPython's dictobject.c): a dict starts untracked and is tracked once it is
// given a value that may be tracked — any gc object, tracked or not (keys are str, never
// tracked) — whether the key is new or not. Only a full collection untracks it again (gc.cpp).
void maintain_tracking(dict_object& d, const object* value) noexcept {
  if (!gcd::tracked(&d) && gcd::is_gc(value)) gcd::track_young(&d);
}

// The index slot holding key, or the first empty slot where it would go. index_size_ > 0.
std::size_t find_slot(const dict_object& d, std::string_view key, std::uint64_t hash,
                      bool& found) noexcept {
  const std::size_t mask = d.index_size_ - 1;
  std::size_t i = hash & mask;
  std::size_t first_erased = d.index_size_;
  for (;;) {
    const std::int32_t ix = d.index_[i];
    if (ix == slot_empty) {
      found = false;
      return first_erased != d.index_size_ ? first_erased : i;
    }
    if (ix == slot_erased) {
      if (first_erased == d.index_size_) first_erased = i;
    } else {
      const dict_object::entry& e = d.entries_[ix];
      if (e.hash == hash && e.key->view() == key) {
        found = true;
        return i;
      }
    }
    i = (i + 1) & mask;
  }
}

// Rebuilds entries (compacted, order kept) and index for at least `needed` live entries.
void dict_resize(dict_object& d, std::size_t needed) {
  std::size_t index_size = 8;
  while (index_size * 2 < needed * 3) index_size *= 2;
  const std::size_t entry_capacity = index_size * 2 / 3;
  auto* entries =
      static_cast<dict_object::entry*>(object_malloc(entry_capacity * sizeof(dict_object::entry)));
  std::int32_t* index;
  try {
    index = static_cast<std::int32_t*>(object_malloc(index_size * sizeof(std::int32_t)));
  } catch (...) {
    object_free(entries);
    throw;
  }
  for (std::size_t i = 0; i < index_size; ++i) index[i] = slot_empty;
  std::size_t n = 0;
  for (std::size_t i = 0; i < d.filled_; ++i) {
    const dict_object::entry& e = d.entries_[i];
    if (e.key == nullptr) continue;
    std::size_t slot = e.hash & (index_size - 1);
    while (index[slot] != slot_empty) slot = (slot + 1) & (index_size - 1);
    index[slot] = static_cast<std::int32_t>(n);
    entries[n++] = e;
  }
  object_free(d.entries_);
  object_free(d.index_);
  d.entries_ = entries;
  d.index_ = index;
  d.filled_ = n;
  d.entry_capacity_ = entry_capacity;
  d.index_size_ = index_size;
}

}  // namespace

ref dict_object::get(std::string_view key) const {
  if (used_ == 0) return {};
  bool found = false;
  const std::size_t slot = find_slot(*this, key, hash_text(key), found);
  return found ? ref::borrow(entries_[index_[slot]].value) : ref{};
}

bool dict_object::contains(std::string_view key) const noexcept {
  if (used_ == 0) return false;
  bool found = false;
  find_slot(*this, key, hash_text(key), found);
  return found;
}

void dict_object::set(std::string_view key, ref value) {
  require_item(value, "dict set");
  const std::uint64_t hash = hash_text(key);
  if (index_size_ != 0) {
    bool found = false;
    const std::size_t slot = find_slot(*this, key, hash, found);
    if (found) {
      maintain_tracking(*this, value.get());
      // In place: the position in insertion order is kept; the old value dies last.
      object* old = std::exchange(entries_[index_[slot]].value, value.release());
      decref(old);
      return;
    }
  }
  set(new_str(key), std::move(value));
}

void dict_object::set(const handle<str_object>& key, ref value) {
  if (!key) throw std::invalid_argument("dict key must not be NULL");
  require_item(value, "dict set");
  maintain_tracking(*this, value.get());
  const std::string_view text = key->view();
  const std::uint64_t hash = key->hash;
  bool found = false;
  if (index_size_ != 0) {
    const std::size_t slot = find_slot(*this, text, hash, found);
    if (found) {
      object* old = std::exchange(entries_[index_[slot]].value, value.release());
      decref(old);
      return;
    }
  }
  if (filled_ + 1 > entry_capacity_) dict_resize(*this, used_ + 1);
  const std::size_t slot = find_slot(*this, text, hash, found);
  index_[slot] = static_cast<std::int32_t>(filled_);
  entries_[filled_++] = entry{handle<str_object>(key).release(), value.release(), hash};
  ++used_;
}

bool dict_object::erase(std::string_view key) {
  if (used_ == 0) return false;
  bool found = false;
  const std::size_t slot = find_slot(*this, key, hash_text(key), found);
  if (!found) return false;
  entry& e = entries_[index_[slot]];
  index_[slot] = slot_erased;
  str_object* old_key = std::exchange(e.key, nullptr);
  object* old_value = std::exchange(e.value, nullptr);
  --used_;
  decref(old_key);
  decref(old_value);
  return true;
}

bool dict_object::next(std::size_t& pos, str_object*& key, object*& value) const noexcept {
  while (pos < filled_) {
    const entry& e = entries_[pos++];
    if (e.key != nullptr) {
      key = e.key;
      value = e.value;
      return true;
    }
  }
  return false;
}

void dict_object::replace_at(std::size_t pos, ref value) {
  if (pos == 0 || pos > filled_ || entries_[pos - 1].key == nullptr)
    throw std::out_of_range("dict position does not name a live entry");
  require_item(value, "dict replace");
  maintain_tracking(*this, value.get());
  object* old = std::exchange(entries_[pos - 1].value, value.release());
  decref(old);
}

void dict_object::clear() noexcept {
  // Detached first (like list clear): dying values may look at or refill the dict.
  entry* entries = std::exchange(entries_, nullptr);
  std::int32_t* index = std::exchange(index_, nullptr);
  const std::size_t filled = std::exchange(filled_, 0);
  used_ = 0;
  entry_capacity_ = 0;
  index_size_ = 0;
  for (std::size_t i = 0; i < filled; ++i) {
    if (entries[i].key == nullptr) continue;
    decref(entries[i].key);
    decref(entries[i].value);
  }
  object_free(entries);
  object_free(index);
}

namespace {
// An instance's attribute storage (see instance_object): tracked at once and for good.
handle<dict_object> new_instance_dict() {
  auto dict = new_object<dict_object>(dict_type);
  dict->instance_storage_ = true;
  return dict;
}
}  // namespace

// PyDict_New: untracked until it holds something that may be tracked (maintain_tracking).
handle<dict_object> new_dict() {
  void* memory = detail::allocate(dict_type, sizeof(dict_object));
  auto* op = ::new (memory) dict_object();
  detail::init_header_untracked(op, dict_type);
  return handle<dict_object>::steal(op);
}

// ---- classes and instances ----

class_object::class_object(std::string_view name, class_options opts)
    : name_(name), options(std::move(opts)) {
  instance_type.name = name_.c_str();
  instance_type.flags = type_flags::gc | type_flags::weakrefable;
  instance_type.traverse = &instance_traverse;
  instance_type.clear = &instance_clear;
  instance_type.finalize = options.del ? &instance_del : nullptr;
  instance_type.legacy_del = options.legacy_del ? &instance_legacy_del : nullptr;
  instance_type.destroy = &destroy_as<instance_object>;
  instance_type.ready = true;
}

class_object::~class_object() = default;

handle<class_object> new_class(std::string_view name, class_options options) {
  if (name.empty()) throw std::invalid_argument("a class needs a name");
  return new_object<class_object>(class_type, name, std::move(options));
}

handle<instance_object> new_instance(const handle<class_object>& cls) {
  if (!cls) throw std::invalid_argument("new_instance: no class");
  // The instance is tracked before its dict, so the dict follows it in the collector's lists:
  // CPython's instance is one object holding its attributes, and delete_garbage reaches it,
  // holding a reference to it, before anything its attributes keep alive (test_gc's
  // test_function_tp_clear_leaves_consistent_state depends on that order).
  auto instance = new_object<instance_object>(cls->instance_type, cls, handle<dict_object>{});
  instance->dict = new_instance_dict();
  return instance;
}

bool is_instance(const object* op) noexcept {
  return op->type->traverse == &instance_traverse;
}

ref instance_object::get_attr(std::string_view name) const {
  return dict ? dict->get(name) : ref{};
}

void instance_object::set_attr(std::string_view name, ref value) {
  if (!dict) dict = new_instance_dict();
  dict->set(name, std::move(value));
}

bool instance_object::del_attr(std::string_view name) { return dict ? dict->erase(name) : false; }

}  // namespace lifecycle

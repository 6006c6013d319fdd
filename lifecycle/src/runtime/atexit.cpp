#include "lifecycle/atexit.hpp"

#include <optional>
#include <stdexcept>
#include <vector>

#include "runtime/runtime_internal.hpp"

namespace lifecycle {

namespace atexit {

namespace {

struct callback {
  std::string name;
  detail::callback_key key;
  std::function<void()> call;
};

// One cycle's callbacks in registration order; unregistering leaves an empty slot so that a
// callback removing others while they run never shifts the one being walked.
struct callback_table {
  std::vector<std::optional<callback>> slots;
};

// Created on first registration, destroyed by clear(): never a static object.
constinit callback_table* table = nullptr;

}  // namespace

namespace detail {

void add(std::string name, callback_key key, std::function<void()> call) {
  if (!lifecycle::detail::runtime_active()) {
    throw std::logic_error("lifecycle::atexit::register_callback: the runtime is not initialized");
  }
  if (table == nullptr) table = new callback_table;
  table->slots.emplace_back(callback{std::move(name), key, std::move(call)});
}

std::size_t remove(callback_key key) noexcept {
  if (table == nullptr) return 0;
  std::size_t removed = 0;
  for (auto& slot : table->slots) {
    if (slot && slot->key == key) {
      slot.reset();
      ++removed;
    }
  }
  return removed;
}

}  // namespace detail

std::size_t callback_count() noexcept {
  if (table == nullptr) return 0;
  std::size_t count = 0;
  for (const auto& slot : table->slots) count += slot ? 1 : 0;
  return count;
}

void run_callbacks() noexcept {
  if (table == nullptr) return;
  // CPython walks the callbacks present when the run starts, last first; ones registered while
  // it runs are dropped with the rest afterwards (atexit_callfuncs then atexit_cleanup).
  for (std::size_t i = table->slots.size(); i-- > 0;) {
    if (!table->slots[i]) continue;
    // Copies: the callback may register more (reallocating slots) or unregister itself.
    std::string name = table->slots[i]->name;
    std::function<void()> call = table->slots[i]->call;
    try {
      call();
    } catch (...) {
      lifecycle::detail::report_unraisable("atexit callback: " + name, std::current_exception());
    }
  }
  clear();
}

void clear() noexcept {
  delete table;
  table = nullptr;
}

}  // namespace atexit

namespace {

using low_level_function = void (*)();
constinit low_level_function low_level_functions[max_low_level_exit_functions] = {};
constinit std::size_t low_level_count = 0;

}  // namespace

bool register_low_level_exit(void (*fn)()) noexcept {
  if (low_level_count == max_low_level_exit_functions) return false;
  low_level_functions[low_level_count++] = fn;
  return true;
}

namespace detail {

void run_low_level_exit_functions() noexcept {
  // Last registered first, as CPython's call_ll_exitfuncs: the count drops before each call,
  // so a function registered by another runs next.
  while (low_level_count > 0) {
    auto fn = low_level_functions[--low_level_count];
    try {
      fn();
    } catch (...) {
      report_unraisable("low-level exit function", std::current_exception());
    }
  }
}

}  // namespace detail

}  // namespace lifecycle

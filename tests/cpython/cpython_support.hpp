// What the ports of CPython's tests share: Python's id(), the collector fixture and the
// unraisable capture of the lifecycle tests, and the one counting rule that differs from
// CPython on purpose (an instance is two gc objects here, see lifecycle/README.md).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gc/fresh_gc.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"
#include "lifecycle/weakref.hpp"
#include "unraisable_capture.hpp"

namespace cpython_port {

using lifecycle::handle;
using lifecycle::instance_object;
using lifecycle::object;
using lifecycle::ref;

// Python's id(): the address. Tests compare ids of dead objects, never dereference them.
inline std::uintptr_t id(const object* op) noexcept { return reinterpret_cast<std::uintptr_t>(op); }
template <class T>
std::uintptr_t id(const handle<T>& h) noexcept {
  return id(static_cast<const object*>(h.get()));
}

// The gc objects `n` instances of a class are: CPython 3.11 keeps an instance's attributes
// inside it (one object); lifecycle gives every instance a tracked attribute dict (two).
constexpr std::size_t instances(std::size_t n) noexcept { return 2 * n; }

// `any(x is op for x in objects)`.
inline bool contains(const std::vector<ref>& objects, const object* op) {
  return std::any_of(objects.begin(), objects.end(), [&](const ref& r) { return r.get() == op; });
}

}  // namespace cpython_port

// atexit, as CPython's module of that name, and Py_AtExit's low-level exit functions.
//
//   lifecycle::atexit::register_callback("flush_cache", &flush_cache, cache_id);
//   lifecycle::atexit::unregister(&flush_cache);  // every registration of flush_cache
//
// Callbacks run in the `atexit` phase (the second of ten: the runtime is still intact), last
// registered first. An exception from one is reported as
// `Exception ignored in atexit callback: <name>` with its traceback; the rest still run and the
// exit status does not change (CPython >= 3.10). Low-level exit functions run in the last phase,
// after the allocator is released, so they must not touch managed objects. Registration is not
// synchronized: from threads other than the main one, hold the runtime lock.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <utility>

namespace lifecycle {

namespace atexit {

namespace detail {
// A callback's identity for unregister: the function it calls, whatever its arguments.
using callback_key = void (*)();
void add(std::string name, callback_key key, std::function<void()> call);
std::size_t remove(callback_key key) noexcept;
}  // namespace detail

// Registers fn(args...) under `name` (the name the error report shows). The arguments are
// copied now and passed as lvalues at exit. Throws std::logic_error when the runtime is not
// initialized (callbacks belong to one runtime cycle, as they belong to one interpreter).
template <class... Params, class... Args>
void register_callback(std::string name, void (*fn)(Params...), Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "fn takes a different number of arguments");
  detail::add(std::move(name), reinterpret_cast<detail::callback_key>(fn),
              [fn, ... bound = std::forward<Args>(args)]() mutable { fn(bound...); });
}

// Removes every registration of fn; returns how many. A callback may unregister itself or
// others while callbacks run: what is removed no longer runs.
template <class... Params>
std::size_t unregister(void (*fn)(Params...)) noexcept {
  return detail::remove(reinterpret_cast<detail::callback_key>(fn));
}

// Number of registered callbacks (atexit._ncallbacks()).
std::size_t callback_count() noexcept;

// Runs the callbacks now, last first, and forgets them (atexit._run_exitfuncs()).
void run_callbacks() noexcept;

// Forgets every callback without running it (atexit._clear()).
void clear() noexcept;

}  // namespace atexit

// Py_AtExit: a C-level function run in the `low_level_exit` phase, last registered first.
// At most max_low_level_exit_functions; returns false (and registers nothing) when full.
// They outlive runtime cycles until they run: registering before initialize() is allowed.
inline constexpr std::size_t max_low_level_exit_functions = 32;
bool register_low_level_exit(void (*fn)()) noexcept;

}  // namespace lifecycle

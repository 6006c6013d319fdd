// The generational cycle collector, modelled on CPython 3.11's Modules/gcmodule.c, with the
// Python-level gc module's API (gc.collect, get_count, get_stats, callbacks, garbage, freeze...).
//
// State is process-global (constinit PODs plus heap parts made on first use) and is torn down
// explicitly by the runtime when it finalizes (lifecycle::finalize). The caller holds the
// runtime lock (see object.hpp).
#pragma once

#include "lifecycle/object.hpp"
#include "lifecycle/types.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifecycle::gc {

inline constexpr int generations = 3;

// gc.DEBUG_* flags.
inline constexpr unsigned debug_stats = 1u << 0;
inline constexpr unsigned debug_collectable = 1u << 1;
inline constexpr unsigned debug_uncollectable = 1u << 2;
inline constexpr unsigned debug_saveall = 1u << 5;
inline constexpr unsigned debug_leak = debug_collectable | debug_uncollectable | debug_saveall;

// gc.collect(generation): collects generations 0..generation and returns the number of
// unreachable objects found (collected + uncollectable). Throws std::invalid_argument
// ("invalid generation") outside 0..2. Returns 0 when a collection is already running.
// Runs the gc callbacks.
std::size_t collect(int generation = 2);

void enable() noexcept;
void disable() noexcept;
bool is_enabled() noexcept;

// gc.get_count(): (gen0 allocations - deallocations, gen0 collections since the last gen1
// collection, gen1 collections since the last gen2 collection).
std::array<std::size_t, generations> get_count() noexcept;

struct thresholds {
  std::size_t threshold0;
  std::size_t threshold1;
  std::size_t threshold2;
  friend bool operator==(const thresholds&, const thresholds&) = default;
};
inline constexpr thresholds cpython_311_thresholds{700, 10, 10};
inline constexpr thresholds cpython_313_thresholds{2000, 10, 10};
// gc.set_threshold / get_threshold. threshold0 == 0 disables automatic collection.
void set_threshold(thresholds t) noexcept;
thresholds get_threshold() noexcept;

struct generation_stats {
  std::size_t collections;
  std::size_t collected;
  std::size_t uncollectable;
  friend bool operator==(const generation_stats&, const generation_stats&) = default;
};
// gc.get_stats(): one entry per generation.
std::array<generation_stats, generations> get_stats() noexcept;

// gc.set_debug / get_debug. Lines go to the debug sink ("gc: collecting generation 2...").
void set_debug(unsigned flags) noexcept;
unsigned get_debug() noexcept;
// Where debug lines go (each call gets one full line without the newline); nullptr restores
// the default, stderr. Returns the previous sink.
using debug_sink = void (*)(std::string_view line, void* context);
struct debug_sink_binding {
  debug_sink sink;
  void* context;
};
debug_sink_binding set_debug_sink(debug_sink sink, void* context) noexcept;

// gc.garbage: uncollectable objects (legacy finalizer cycles), and with debug_saveall every
// unreachable object. Created on first use; the caller may clear or inspect it.
handle<list_object> garbage();

// gc.callbacks: called with "start" before and "stop" after every collection except the
// no-fail shutdown ones. An exception is reported as unraisable and the others still run.
enum class phase { start, stop };
struct callback_info {
  int generation;
  std::size_t collected;
  std::size_t uncollectable;
};
using callback = std::function<void(phase, const callback_info&)>;
using callback_id = std::uint64_t;
callback_id add_callback(callback cb);
// Removes one callback; false if the id is unknown.
bool remove_callback(callback_id id) noexcept;

// gc.freeze / unfreeze / get_freeze_count: every tracked object to the permanent generation
// (ignored by collections and by get_objects/get_referrers) and back into the oldest one.
void freeze() noexcept;
void unfreeze() noexcept;
std::size_t get_freeze_count() noexcept;

// gc.is_tracked / gc.is_finalized.
bool is_tracked(const object* op) noexcept;
bool is_finalized(const object* op) noexcept;

// gc.get_referents(op): what op's traverse visits (empty for non-gc objects).
std::vector<ref> get_referents(const ref& op);
// gc.get_referrers(op): tracked objects (outside the permanent generation) whose traverse
// visits op.
std::vector<ref> get_referrers(const ref& op);
// gc.get_objects(generation): tracked objects of one generation, or of all of them.
// Throws std::invalid_argument for a generation outside 0..2.
std::vector<ref> get_objects(std::optional<int> generation = std::nullopt);

// Manual tracking for user types that build their references after construction
// (PyObject_GC_Track / UnTrack). new_object already tracks gc types.
void track(object* op) noexcept;
void untrack(object* op) noexcept;

namespace detail {
// Number of tracked objects in all generations plus the permanent one: a read-only figure for
// leak checks (scenarios print its growth). The collector's shutdown and reset hooks are
// internal (src/gc/gc_shutdown.hpp).
std::size_t tracked_count() noexcept;
}  // namespace detail

}  // namespace lifecycle::gc

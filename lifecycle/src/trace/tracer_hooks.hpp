// The hooks between the allocator (memory/allocator.cpp) and the tracer (trace/tracemalloc.cpp):
// internal to lifecycle, not installed. The allocator inlines the fast path of a traced
// allocation and free from here; tracemalloc.cpp owns the state and the slow paths.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <vector>

#include "lifecycle/frames.hpp"

namespace lifecycle::tracemalloc {

namespace detail {

// One word read by every allocation and free: flags in the low bits, the tracer epoch above.
// The epoch changes on start, stop and clear_traces, which voids every per-thread cache at once.
inline constexpr std::uint32_t flag_recording = 1;  // record new traces
inline constexpr std::uint32_t flag_holding = 2;    // traces exist: frees must remove theirs
inline constexpr std::uint32_t flag_frames = 4;     // traceback limit > 1: read the frame stack
inline constexpr unsigned epoch_shift = 3;
extern constinit std::atomic<std::uint32_t> trace_state;

inline bool recording(std::uint32_t state) noexcept { return (state & flag_recording) != 0; }
inline bool holding_traces(std::uint32_t state) noexcept {
  return (state & (flag_recording | flag_holding)) != 0;
}
inline std::uint32_t load_state() noexcept { return trace_state.load(std::memory_order_relaxed); }
inline bool recording() noexcept { return recording(load_state()); }
inline bool holding_traces() noexcept { return holding_traces(load_state()); }

// A traced block's slot in its arena's side table: (traceback node << 4) | (block size -
// requested size); 0 means untraced.
inline constexpr unsigned slot_size_bits = 4;
inline std::uint32_t make_slot(std::uint32_t node, std::size_t size, std::size_t block_size) noexcept {
  return (node << slot_size_bits) | static_cast<std::uint32_t>(block_size - size);
}
inline std::size_t slot_size(std::uint32_t slot, std::size_t block_size) noexcept {
  return block_size - (slot & ((1u << slot_size_bits) - 1));
}
inline std::uint32_t slot_node(std::uint32_t slot) noexcept { return slot >> slot_size_bits; }

// Per-thread tracer state (trivially destructible; flushed by on_thread_exit).
struct site_cache_entry {
  std::uintptr_t key;  // the allocation site's identity (see site_key)
  std::uint64_t tag;   // see site_tag: the epoch and the node of the frame stack under the site
  std::uint32_t node;
};
inline constexpr std::size_t site_cache_entries = 256;
// Traced bytes are batched per thread: `pending` is not yet in the shared figure; `headroom` is
// how far this thread's view of the current figure is below the peak. Both are exact for a
// single thread; other threads' unflushed bytes (< 64 KiB each) are not seen.
inline constexpr std::int64_t pending_flush_bytes = std::int64_t{64} << 10;
struct thread_tracer {
  std::uint32_t epoch;
  std::int64_t pending;
  std::int64_t headroom;
  site_cache_entry sites[site_cache_entries];
};
extern constinit thread_local thread_tracer tracer_tls;

// The identity of a call site. libstdc++ and libc++ represent a source_location as one pointer
// to a per-site constant, which makes a perfect key; otherwise file and line are combined.
inline std::uintptr_t site_key(const std::source_location& site) noexcept {
  if constexpr (sizeof(std::source_location) == sizeof(std::uintptr_t)) {
    std::uintptr_t key;
    std::memcpy(&key, &site, sizeof key);
    return key;
  } else {
    return reinterpret_cast<std::uintptr_t>(site.file_name()) ^ (std::uintptr_t{site.line()} << 48);
  }
}

std::uint32_t site_node_slow(const std::source_location& site, std::uint32_t epoch) noexcept;
void count_slow(std::int64_t delta, std::uint32_t epoch) noexcept;

inline std::uint64_t site_tag(std::uint32_t epoch, std::uint32_t context) noexcept {
  return (std::uint64_t{epoch} << 32) | context;
}
inline std::size_t site_slot(std::uintptr_t key, std::uint32_t context) noexcept {
  return ((key >> 4) ^ (key >> 12) ^ (context * 0x9E3779B1u)) & (site_cache_entries - 1);
}

// The traceback node of an allocation at `site` on this thread when this thread has met the same
// (frames, site) pair in this epoch; else 0 (ask site_node_slow). Makes no call.
inline std::uint32_t site_node_cached(const std::source_location& site, std::uint32_t state) noexcept {
  const std::uint32_t epoch = state >> epoch_shift;
  std::uint32_t context = 0;
  if ((state & flag_frames) != 0) {
    if (const scoped_frame* top = current_frame()) {
      if (frame_access::node_epoch(*top) != epoch) return 0;
      context = frame_access::node(*top);
    }
  }
  const std::uintptr_t key = site_key(site);
  const site_cache_entry& e = tracer_tls.sites[site_slot(key, context)];
  return e.key == key && e.tag == site_tag(epoch, context) ? e.node : 0;
}

// The traceback node of an allocation at `site` on this thread; 0: do not trace it.
inline std::uint32_t site_node(const std::source_location& site, std::uint32_t state) noexcept {
  const std::uint32_t node = site_node_cached(site, state);
  return node != 0 ? node : site_node_slow(site, state >> epoch_shift);
}

inline void count_alloc(std::size_t size, std::uint32_t state) noexcept {
  const std::uint32_t epoch = state >> epoch_shift;
  thread_tracer& t = tracer_tls;
  const auto delta = static_cast<std::int64_t>(size);
  if (t.epoch != epoch) return count_slow(delta, epoch);
  t.pending += delta;
  t.headroom -= delta;
  if (t.headroom < 0 || t.pending >= pending_flush_bytes) count_slow(0, epoch);
}

inline void count_free(std::size_t size, std::uint32_t state) noexcept {
  const std::uint32_t epoch = state >> epoch_shift;
  thread_tracer& t = tracer_tls;
  const auto delta = static_cast<std::int64_t>(size);
  if (t.epoch != epoch) return count_slow(-delta, epoch);
  t.pending -= delta;
  t.headroom += delta;
  if (t.pending <= -pending_flush_bytes) count_slow(0, epoch);
}

// Defined in tracemalloc.cpp, called by the allocator:
void on_alloc_large(const void* address, std::size_t size, const std::source_location& site) noexcept;
void on_free_large(const void* address) noexcept;
void on_thread_exit() noexcept;
void on_allocator_release() noexcept;
std::vector<frame> slot_frames(std::uint32_t slot);

// Defined in allocator.cpp, called by the tracer:
std::uint32_t* find_trace_slot(const void* address) noexcept;  // nullptr: not a traced arena
void discard_trace_slots() noexcept;  // every side table back to zero pages
void for_each_trace_slot(void (*visit)(void* context, const void* address, std::uint32_t slot,
                                       std::size_t block_size),
                         void* context);
std::size_t trace_slot_bytes() noexcept;

}  // namespace detail

}  // namespace lifecycle::tracemalloc

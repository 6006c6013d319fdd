// The runtime's object allocator: every managed object's memory comes from here, the way
// CPython's objects come from PyObject_Malloc / PyObject_Free (Objects/obmalloc.c).
//
// Requests of 1..512 bytes are served from 32 size classes of 16 bytes, carved out of pools
// (one size class per pool, a pool header at its start) inside arenas mapped with mmap. Requests
// of 0 or more than 512 bytes go to the system allocator. Every block is 16-byte aligned, and
// every arena is aligned to its own size (address & ~(arena_size - 1) is its start).
//
// Thread safety: object_malloc / object_free / allocator_owns / the stats functions may be called
// from any number of threads at once. Each thread keeps a small cache of free blocks per size
// class (no lock on the fast path); pools and arenas are shared under one mutex taken only to
// refill or drain a cache. A block may be freed by another thread than the one that allocated
// it. allocator_init and allocator_release must not run while another thread uses the allocator
// (the runtime calls them at start-up and at the end of finalization).
//
// Lifecycle: the allocator initialises itself with the default configuration on first use, so
// tests and benchmarks need no runtime; the runtime calls allocator_init(config) at start-up and
// allocator_release() as finalization's `release_allocator` phase. After a release the allocator
// may be initialised again (any number of times in one process).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <source_location>
#include <string>
#include <vector>

#include "lifecycle/frames.hpp"

namespace lifecycle {

inline constexpr std::size_t small_request_threshold = 512;  // largest size served by pools
inline constexpr std::size_t allocator_alignment = 16;
inline constexpr std::size_t size_class_count = small_request_threshold / allocator_alignment;

// Arena and pool sizes, chosen at init. `modern` is CPython >= 3.10 (1 MiB / 16 KiB), `classic`
// CPython <= 3.9 (256 KiB / 4 KiB), the layout most articles describe.
enum class allocator_preset { modern, classic };

struct allocator_config {
  // Both powers of two; pool_size in [4 KiB, 1 MiB], arena_size in [pool_size * 4, 64 MiB].
  std::size_t arena_size = std::size_t{1} << 20;
  std::size_t pool_size = std::size_t{16} << 10;
  // Differs from CPython: map arenas in transparent huge pages where the OS offers them (Linux
  // with THP "always" or "madvise", 2 MiB pages): two 1 MiB arenas share one. Arenas are still
  // unmapped one by one when wholly free. Much cheaper for the kernel to fault in and to unmap
  // (the memory of an arena unmapped while the other half of its huge page lives goes back when
  // the kernel splits the page); a first touch makes the whole huge page resident. No effect on
  // macOS.
  bool huge_pages = true;

  static constexpr allocator_config preset(allocator_preset which) noexcept {
    return which == allocator_preset::classic
               ? allocator_config{std::size_t{256} << 10, std::size_t{4} << 10, true}
               : allocator_config{};
  }
};

// Memory for one object of `size` bytes, 16-byte aligned. `site` is the allocation site the
// tracer records as the newest frame. Throws std::bad_alloc when memory is exhausted.
void* object_malloc(std::size_t size,
                    std::source_location site = std::source_location::current());
// Releases memory from object_malloc; nullptr is ignored. A pointer that is not in an arena is
// handed to std::free (as PyObject_Free hands foreign pointers to PyMem_RawFree).
void object_free(void* block) noexcept;
// object_free for each of `count` blocks (nullptr not allowed), at once: blocks go straight back
// to their pools, past the thread cache, under one lock, and each run of consecutive blocks of
// one pool is returned in one step. For callers that free many blocks in a row, mostly of the
// same pools (the collector's garbage).
void object_free_many(void* const* blocks, std::size_t count) noexcept;

// (Re)initialises with `config`. Throws std::invalid_argument for a bad config and
// std::logic_error when blocks from a previous initialisation are still in use (release first).
// Initialising an idle allocator (nothing in use) discards its arenas and starts over.
void allocator_init(const allocator_config& config = {});
// The configuration in effect (the default one when not yet initialised).
allocator_config allocator_current_config() noexcept;

// Size class of a request of 1..512 bytes: (size - 1) / 16; its blocks are (class + 1) * 16.
constexpr std::size_t size_class_of(std::size_t size) noexcept { return (size - 1) >> 4; }
constexpr std::size_t size_class_block_size(std::size_t size_class) noexcept {
  return (size_class + 1) << 4;
}

// True when `address` lies in one of the allocator's arenas. O(1) (a radix tree over
// addresses, like CPython >= 3.10) and safe for any pointer: it never reads the memory itself.
bool allocator_owns(const void* address) noexcept;

// Blocks handed out by object_malloc and not yet freed, small and system-allocated alike
// (CPython's sys.getallocatedblocks()). At finalization this is the exact leak figure.
std::size_t allocator_blocks_in_use() noexcept;

// Returns the calling thread's cached free blocks to their pools (so a fully free arena can be
// unmapped now). Threads do this themselves when their cache overflows and when they exit.
void allocator_flush_thread_cache() noexcept;

struct size_class_stats {
  std::size_t block_size = 0;
  std::size_t pools = 0;             // pools currently assigned to this class
  std::size_t blocks_in_use = 0;     // handed out to callers
  std::size_t available_blocks = 0;  // free in those pools (thread caches included)
};

struct allocator_stats {
  allocator_config config;
  // Bytes of address space arenas are mapped in at once, aligned to it: arena_size, or the huge
  // page several arenas share (allocator_config::huge_pages).
  std::size_t region_size = 0;
  std::size_t arenas_allocated_total = 0;  // arenas mapped since init
  std::size_t arenas_reclaimed = 0;        // arenas unmapped since init
  std::size_t arenas_highwater = 0;        // most arenas mapped at once
  std::size_t arenas_current = 0;
  std::size_t pools_free = 0;           // pools in arenas that belong to no size class
  std::size_t thread_cached_blocks = 0;  // free blocks parked in per-thread caches
  std::size_t large_blocks_in_use = 0;   // 0- and > 512-byte requests (system allocator)
  std::array<size_class_stats, size_class_count> classes{};
};

allocator_stats allocator_get_stats();

// Writes a report shaped like CPython's sys._debugmallocstats() (the obmalloc part).
void debug_malloc_stats(std::ostream& out);

// One block still in use when the allocator was released.
struct leaked_block {
  const void* address = nullptr;
  std::size_t size = 0;           // requested size when traced, else the block size
  std::vector<frame> traceback;   // oldest first; empty when the block was not traced
};

struct release_report {
  std::size_t blocks_in_use = 0;        // the exact leak figure (small + large)
  std::size_t small_blocks_in_use = 0;  // of which in arenas (their memory goes with the arenas)
  std::size_t arenas_unmapped = 0;
  std::vector<leaked_block> leaks;  // small leaked blocks, with their sites when traced
  bool leaks_truncated = false;     // more than max_listed leaks, or out of memory
};

// finalization's `release_allocator` phase: reports blocks still in use (with their tracer
// sites while the tracer holds traces, see tracemalloc::stop(stop_mode::keep_traces)), drops
// the tracer's traces, unmaps every arena and returns to the uninitialised state. Leaked small
// blocks become invalid (at most max_listed are listed); leaked large blocks stay with the system allocator. Never throws.
release_report allocator_release(std::size_t max_listed = 1000) noexcept;

}  // namespace lifecycle

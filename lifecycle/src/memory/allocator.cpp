// The small-object allocator, after CPython's Objects/obmalloc.c (3.10+ layout).
//
// Layout: an arena is `arena_size` bytes from mmap, aligned to its own size; it is cut into
// pools of `pool_size` bytes; a pool serves one size class and starts with a 48-byte
// pool_header, so a block finds its size class by masking its address down to the pool.
// Arena metadata (arena_object) lives outside the arena, as in CPython. Arenas are mapped in
// regions (see "Regions" below): one arena each, or one huge page of several arenas.
//
// Differences from CPython, all deliberate:
//  - Per-thread caches of free blocks (like glibc's tcache) sit in front of the pools, because
//    there is no GIL: the fast paths take no lock; pools and arenas are shared under one mutex
//    taken to refill or drain a cache in batches. A cached block counts as available, not in
//    use, but it keeps its pool (and so its arena) from being freed until the cache is flushed.
//  - Arenas are aligned to their size (mmap with slack and trim), so no pool is lost to
//    alignment and "bytes lost to arena alignment" is always 0. Each region's mapping also
//    holds, after its arenas, the tracer's side table (untouched, so free, unless tracing) and a
//    class map (one byte per pool) that object_free reads instead of the pool header: pool
//    headers all sit at pool-aligned addresses, in the same few cache sets, and miss often. The
//    pool header keeps its size class too, for the paths under the lock.
//  - Where the OS offers transparent huge pages (Linux), arenas are mapped two 1 MiB arenas (or
//    eight 256 KiB ones) to a 2 MiB huge page; larger arenas are each advised as huge pages. A
//    wholly free arena is still unmapped at once, as in CPython. Faulting a huge page in and
//    unmapping it costs the kernel a small fraction of what 512 small pages cost: unmapping
//    48 MiB of touched arenas took 3.1 ns per 48-byte object with small pages and 0.6 ns with
//    huge pages unmapped half by half (a standalone measurement; lifecycle/README.md), and
//    walking the heap misses the TLB far less. The price: a region's first touch makes all of
//    it resident, so up to one huge page less one arena (never-used arenas of the newest
//    region) is resident before it is used. allocator_config::huge_pages turns it off.
//  - The radix tree (two levels, CPython has three) maps an address straight to its
//    arena_object (leaves every 256 KiB), never reading the block itself, so allocator_owns is
//    safe for any pointer.
//  - A pool is always re-initialised when it is taken from an arena's free list.
//  - Blocks from the system allocator (0 and > 512 bytes) are counted in blocks_in_use, as
//    CPython counts them in sys.getallocatedblocks().
#include "lifecycle/allocator.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <ostream>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "common/pthread_guard.hpp"
#include "memory/huge_pages.hpp"
#include "common/relaxed_word.hpp"
#include "lifecycle/tracemalloc.hpp"
#include "trace/tracer_hooks.hpp"

namespace lifecycle {

namespace {

// ---------------------------------------------------------------------------------------------
// Layout constants

constexpr std::size_t pool_header_size = 48;  // sizeof(pool_header), a multiple of 16
constexpr std::size_t min_arena_size = std::size_t{256} << 10;
constexpr std::size_t max_arena_size = std::size_t{64} << 20;
constexpr std::size_t min_pool_size = std::size_t{4} << 10;
constexpr std::size_t max_pool_size = std::size_t{1} << 20;

// Radix tree over addresses below 2^48 at 256 KiB granularity (the smallest arena): 30 key bits
// in two levels of 15 (CPython uses three levels; two cost one dependent load less on every
// free, for a 256 KiB root in .bss of which only touched pages become resident). Larger arenas
// fill several consecutive leaf entries.
constexpr unsigned address_bits = 48;
constexpr unsigned granule_bits = 18;
constexpr unsigned level_bits = 15;
constexpr std::size_t level_entries = std::size_t{1} << level_bits;

// The tracer's side table of a region: one 32-bit slot per 16 bytes of its arenas. It is mapped
// together with them, right after them, so that a slot's address is computed from the block's
// address alone (no load on the traced fast path). Its pages stay untouched, costing no memory,
// until the tracer writes to them. An arena's share of it is trace_table_bytes(arena_size).
constexpr std::size_t trace_table_bytes(std::size_t bytes_of_arenas) noexcept {
  return bytes_of_arenas / 16 * sizeof(std::uint32_t);
}

// Huge pages larger than this are not used: a region's first touch makes the whole page
// resident (arm64 kernels with 16 or 64 KiB base pages have 32 MiB or 512 MiB ones).
constexpr std::size_t max_huge_page_size = std::size_t{2} << 20;

// ---------------------------------------------------------------------------------------------
// Structures (all PODs; they live in mmap'd memory or in constinit globals)

struct block {
  block* next;
};

struct arena_object;

struct pool_header {
  std::uint32_t ref_count;   // blocks taken out of this pool (by callers or thread caches)
  std::uint32_t size_class;  // read without the lock by object_free: written before publication
  block* freeblock;          // blocks freed back into this pool
  pool_header* nextpool;     // usedpools list of its class, or its arena's free pool list
  pool_header* prevpool;
  arena_object* arena;
  std::uint32_t nextoffset;     // first never-used block
  std::uint32_t maxnextoffset;  // last offset at which a whole block still fits
};
static_assert(sizeof(pool_header) == pool_header_size);

struct arena_object {
  std::uintptr_t address;  // 0 when this object describes no arena
  char* pool_address;      // next never-used pool
  std::uint32_t nfreepools;
  std::uint32_t ntotalpools;
  pool_header* freepools;  // pools that were used and became empty
  arena_object* nextarena;  // usable_arenas (doubly linked) or unused objects (singly)
  arena_object* prevarena;
};

// arena_objects come in chunks that never move: the radix tree points at them.
struct arena_chunk {
  arena_chunk* next;
  std::size_t count;
  arena_object objects[1];  // `count` of them, the chunk is mmap'd
};

// A leaf of the radix tree: mmap'd zero pages are valid null atomics (std::atomic<T*> has the
// layout of T*).
using radix_leaf = std::atomic<arena_object*>;

// A thread's cache: free blocks per size class. Only the owner thread touches heads; counts are
// read by other threads (stats) through relaxed atomics.
struct thread_cache {
  block* head[size_class_count];
  std::uint32_t count[size_class_count];
  thread_cache* next_registered;
  bool owned;  // a live thread points at it
};

struct allocator_state {
  bool initialized;
  std::size_t arena_size;
  std::size_t pool_size;
  std::uint32_t pools_per_arena;
  bool huge_pages;              // the configuration asked for them
  std::size_t huge_page_size;   // the huge pages arenas are advised with; 0: none
  std::size_t page_size;        // the OS's base page size
  std::size_t region_size;      // arena_size, or the huge page holding several arenas
  // The tracer was started at least once (discard_trace_slots ran): side tables may have been
  // written.
  bool trace_tables_used;
  // The newest region's never-used arena slots [spare_next, spare_end): mapped, not arenas yet.
  std::uintptr_t spare_next;
  std::uintptr_t spare_end;
  pool_header* usedpools[size_class_count];  // partly used pools per class
  std::size_t class_pools[size_class_count];       // pools assigned to each class
  std::size_t class_blocks_out[size_class_count];  // blocks taken out of pools per class
  arena_object* usable_arenas;  // arenas with free pools, fewest free pools first
  arena_object* unused_arena_objects;
  arena_chunk* chunks;
  std::size_t arenas_allocated_total;
  std::size_t arenas_reclaimed;
  std::size_t arenas_highwater;
  std::size_t arenas_current;
  thread_cache* caches;      // every cache ever registered (owned or idle)
  bool thread_key_created;
  pthread_key_t thread_key;
};

// Global state: constinit PODs only (see the project's rule on static objects).
constinit pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
constinit allocator_state g_state{};
// Read on the fast paths without the lock: log2(pool_size) and the region size of the current
// configuration.
constinit std::atomic<unsigned> g_pool_shift{14};
constinit std::atomic<std::uintptr_t> g_region_size{std::uintptr_t{1} << 20};
constinit std::atomic<std::size_t> g_large_in_use{0};
constinit std::atomic<radix_leaf*> g_radix_root[std::size_t{1}
                                                << (address_bits - granule_bits - level_bits)]{};
constinit thread_local thread_cache* t_cache = nullptr;

// Cache sizing: at most ~16 KiB of each class per thread, between 16 and 128 blocks; a refill or
// a drain moves half of that.
constexpr std::uint32_t cache_capacity(std::size_t size_class) noexcept {
  const std::size_t by_bytes = (std::size_t{16} << 10) / size_class_block_size(size_class);
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(by_bytes, 16, 128));
}

constexpr std::array<std::uint32_t, size_class_count> make_capacities() {
  std::array<std::uint32_t, size_class_count> caps{};
  for (std::size_t c = 0; c < size_class_count; ++c) caps[c] = cache_capacity(c);
  return caps;
}
constexpr std::array<std::uint32_t, size_class_count> g_capacity = make_capacities();

struct lock_guard : detail::pthread_guard {
  lock_guard() noexcept : pthread_guard(g_lock) {}
};

std::uint32_t load_count(const std::uint32_t& count) noexcept {
  return lifecycle::detail::relaxed_load(count);
}
void store_count(std::uint32_t& count, std::uint32_t value) noexcept {
  lifecycle::detail::relaxed_store(count, value);
}

// ---------------------------------------------------------------------------------------------
// Pages from the OS. mmap/munmap are POSIX and behave the same on Linux and macOS.

void* map_pages(std::size_t size) noexcept {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void unmap_pages(void* p, std::size_t size) noexcept { munmap(p, size); }

// `size` bytes aligned to `alignment` (a power of two): map `alignment` more and give back both
// ends.
void* map_aligned(std::size_t size, std::size_t alignment) noexcept {
  auto* raw = static_cast<char*>(map_pages(size + alignment));
  if (raw == nullptr) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + alignment - 1) & ~(std::uintptr_t{alignment} - 1);
  const std::size_t head = aligned - start;
  if (head != 0) unmap_pages(raw, head);
  const std::size_t tail = alignment - head;
  if (tail != 0) unmap_pages(reinterpret_cast<char*>(aligned) + size, tail);
  return reinterpret_cast<void*>(aligned);
}

// Replaces `size` bytes at `p` with fresh zero pages (MAP_FIXED over the old mapping): memory
// goes back to the OS, and a racing writer writes into a valid page instead of faulting.
void discard_pages(void* p, std::size_t size) noexcept {
  mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0);
}

// ---------------------------------------------------------------------------------------------
// Address arithmetic and the radix tree: address -> arena_object, O(1), never touching the
// address itself.

// The class map byte of the pool holding `p`: computed from the address alone (regions are
// aligned to their size), so the load does not wait for the radix lookup.
[[gnu::always_inline]] inline std::uint8_t* class_entry(const void* p) noexcept {
  const std::uintptr_t region_size = g_region_size.load(std::memory_order_relaxed);
  const unsigned pool_shift = g_pool_shift.load(std::memory_order_relaxed);
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t offset = address & (region_size - 1);
  return reinterpret_cast<std::uint8_t*>(address - offset + region_size +
                                         trace_table_bytes(region_size)) +
         (offset >> pool_shift);
}

[[gnu::always_inline]] inline arena_object* radix_lookup(const void* p) noexcept {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  if ((address >> address_bits) != 0) return nullptr;
  const std::uintptr_t granule = address >> granule_bits;
  radix_leaf* leaf = g_radix_root[granule >> level_bits].load(std::memory_order_acquire);
  if (leaf == nullptr) return nullptr;
  return leaf[granule & (level_entries - 1)].load(std::memory_order_acquire);
}

// Under g_lock. Creates leaves on the way; false when out of memory.
bool radix_set(std::uintptr_t arena_base, std::size_t arena_size, arena_object* value) noexcept {
  for (std::uintptr_t a = arena_base; a < arena_base + arena_size;
       a += std::uintptr_t{1} << granule_bits) {
    const std::uintptr_t granule = a >> granule_bits;
    std::atomic<radix_leaf*>& root = g_radix_root[granule >> level_bits];
    radix_leaf* leaf = root.load(std::memory_order_relaxed);
    if (leaf == nullptr) {
      if (value == nullptr) continue;
      leaf = static_cast<radix_leaf*>(map_pages(level_entries * sizeof(radix_leaf)));
      if (leaf == nullptr) return false;
      root.store(leaf, std::memory_order_release);
    }
    leaf[granule & (level_entries - 1)].store(value, std::memory_order_release);
  }
  return true;
}

// Under g_lock, with no other thread in the allocator (release).
void radix_free_all() noexcept {
  for (auto& root : g_radix_root) {
    radix_leaf* leaf = root.load(std::memory_order_relaxed);
    if (leaf == nullptr) continue;
    unmap_pages(leaf, level_entries * sizeof(radix_leaf));
    root.store(nullptr, std::memory_order_relaxed);
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration

void validate(const allocator_config& config) {
  auto power_of_two = [](std::size_t v) { return v != 0 && (v & (v - 1)) == 0; };
  if (!power_of_two(config.pool_size) || config.pool_size < min_pool_size ||
      config.pool_size > max_pool_size) {
    throw std::invalid_argument(fmt::format(
        "allocator_init: pool_size {} must be a power of two in [4 KiB, 1 MiB]", config.pool_size));
  }
  if (!power_of_two(config.arena_size) || config.arena_size < min_arena_size ||
      config.arena_size > max_arena_size || config.arena_size < 4 * config.pool_size) {
    throw std::invalid_argument(fmt::format(
        "allocator_init: arena_size {} must be a power of two in [256 KiB, 64 MiB] and at least "
        "4 pools",
        config.arena_size));
  }
}

// The huge page size to advise arenas with: 0 when the configuration does not ask for them or
// the OS offers none small enough.
std::size_t huge_page_size_for(const allocator_config& config) noexcept {
  if (!config.huge_pages) return 0;
  const std::size_t huge_page = detail::transparent_huge_page_size();
  if (huge_page == 0 || huge_page > max_huge_page_size || (huge_page & (huge_page - 1)) != 0)
    return 0;
  return huge_page;
}

// Under g_lock, with no arena mapped.
void configure(const allocator_config& config) noexcept {
  g_state.arena_size = config.arena_size;
  g_state.pool_size = config.pool_size;
  g_state.pools_per_arena = static_cast<std::uint32_t>(config.arena_size / config.pool_size);
  g_state.huge_pages = config.huge_pages;
  g_state.huge_page_size = huge_page_size_for(config);
  g_state.page_size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  // A region is one huge page of arenas, or one arena (which, if it is a huge page or more, is
  // a whole number of them: both are powers of two).
  g_state.region_size = std::max(config.arena_size, g_state.huge_page_size);
  g_state.spare_next = g_state.spare_end = 0;
  g_pool_shift.store(static_cast<unsigned>(__builtin_ctzll(config.pool_size)),
                     std::memory_order_relaxed);
  g_region_size.store(g_state.region_size, std::memory_order_relaxed);
  g_state.initialized = true;
}

// Under g_lock: lazy default initialisation on first use.
void ensure_initialized() noexcept {
  if (!g_state.initialized) configure(allocator_config{});
}

// ---------------------------------------------------------------------------------------------
// Regions: arenas are mapped region_size bytes at a time, aligned to region_size, followed by
// the region's side tables (the trace table, then the class map). Without huge pages a region
// is one arena. With them it is one huge page: its arenas are handed out in address order, and
// the newest region's never-used ones wait as spares for the next new_arena. An arena that is
// freed is unmapped at once (its share of the trace table stays mapped until the region goes); a
// region whose every arena has been freed gives back its spares and side tables too. A freed
// arena's slot is never reused: the address space may be someone else's by then.

// After the trace table: one byte per pool, its size class. object_free reads it instead of the
// pool header: pool headers sit at pool-aligned addresses, which all fall in the same few cache
// sets and keep evicting each other, while one class map line covers 64 pools. Whole pages, so
// that the mapping's end is page-aligned for munmap (16 KiB pages on Apple silicon).
std::size_t class_map_bytes() noexcept {
  const std::size_t page = g_state.page_size;
  return (g_state.region_size / g_state.pool_size + page - 1) / page * page;
}

std::size_t region_side_table_bytes() noexcept {
  return trace_table_bytes(g_state.region_size) + class_map_bytes();
}

std::uintptr_t region_of(std::uintptr_t address) noexcept {
  return address & ~(std::uintptr_t{g_state.region_size} - 1);
}

// The start of `arena`'s share of its region's trace table.
std::uintptr_t arena_trace_table(std::uintptr_t arena) noexcept {
  const std::uintptr_t region = region_of(arena);
  return region + g_state.region_size + trace_table_bytes(arena - region);
}

// Under g_lock. Memory for a new arena: the newest region's next spare, or a new region.
// Returns 0 when out of memory.
std::uintptr_t take_arena_memory() noexcept {
  if (g_state.spare_next == g_state.spare_end) {
    void* region = map_aligned(g_state.region_size + region_side_table_bytes(),
                               g_state.region_size);
    if (region == nullptr) return 0;
    if (g_state.huge_page_size != 0) detail::advise_huge_pages(region, g_state.region_size);
    g_state.spare_next = reinterpret_cast<std::uintptr_t>(region);
    g_state.spare_end = g_state.spare_next + g_state.region_size;
  }
  const std::uintptr_t arena = g_state.spare_next;
  g_state.spare_next += g_state.arena_size;
  return arena;
}

// Under g_lock, once `arena` is out of the radix tree: unmaps it, and its region's spares and
// side tables when no arena of the region is left.
void give_back_arena_memory(std::uintptr_t arena) noexcept {
  unmap_pages(reinterpret_cast<void*>(arena), g_state.arena_size);
  const std::uintptr_t region = region_of(arena);
  const std::uintptr_t region_end = region + g_state.region_size;
  for (std::uintptr_t other = region; other < region_end; other += g_state.arena_size) {
    if (radix_lookup(reinterpret_cast<void*>(other)) == nullptr) continue;
    // The region lives on, and the arena's share of its trace table with it: given back now
    // if the tracer may have written it. Whether it is tracing now is not enough: stop()
    // publishes "not tracing" before it discards the live arenas' tables, and a free in
    // between leaves its slots behind.
    if (g_state.trace_tables_used) {
      discard_pages(reinterpret_cast<void*>(arena_trace_table(arena)),
                    trace_table_bytes(g_state.arena_size));
    }
    return;
  }
  // The never-used arenas (if this is the newest region) and the side tables are one range.
  std::uintptr_t rest = region_end;
  if (g_state.spare_end == region_end) {
    rest = g_state.spare_next;
    g_state.spare_next = g_state.spare_end = 0;
  }
  unmap_pages(reinterpret_cast<void*>(rest), region_end + region_side_table_bytes() - rest);
}

// ---------------------------------------------------------------------------------------------
// Arenas

// Under g_lock. A fresh arena_object from the unused list, growing it by a chunk when empty.
arena_object* take_arena_object() noexcept {
  if (g_state.unused_arena_objects == nullptr) {
    constexpr std::size_t chunk_bytes = std::size_t{64} << 10;
    auto* chunk = static_cast<arena_chunk*>(map_pages(chunk_bytes));
    if (chunk == nullptr) return nullptr;
    chunk->count = (chunk_bytes - offsetof(arena_chunk, objects)) / sizeof(arena_object);
    chunk->next = g_state.chunks;
    g_state.chunks = chunk;
    for (std::size_t i = chunk->count; i-- > 0;) {
      chunk->objects[i].nextarena = g_state.unused_arena_objects;
      g_state.unused_arena_objects = &chunk->objects[i];
    }
  }
  arena_object* ao = g_state.unused_arena_objects;
  g_state.unused_arena_objects = ao->nextarena;
  return ao;
}

// Under g_lock. Maps a new arena and makes it the only usable one (called when none is left).
arena_object* new_arena() noexcept {
  arena_object* ao = take_arena_object();
  if (ao == nullptr) return nullptr;
  const std::uintptr_t base = take_arena_memory();
  if (base == 0) {
    ao->nextarena = g_state.unused_arena_objects;
    g_state.unused_arena_objects = ao;
    return nullptr;
  }
  *ao = arena_object{};
  ao->address = base;
  ao->pool_address = reinterpret_cast<char*>(base);
  ao->nfreepools = ao->ntotalpools = g_state.pools_per_arena;
  if (!radix_set(ao->address, g_state.arena_size, ao)) {
    radix_set(ao->address, g_state.arena_size, nullptr);
    give_back_arena_memory(base);
    ao->address = 0;
    ao->nextarena = g_state.unused_arena_objects;
    g_state.unused_arena_objects = ao;
    return nullptr;
  }
  ++g_state.arenas_allocated_total;
  ++g_state.arenas_current;
  g_state.arenas_highwater = std::max(g_state.arenas_highwater, g_state.arenas_current);
  return ao;
}

// Under g_lock. Unmaps the arena's memory; the arena_object describes no arena afterwards.
void unmap_arena(arena_object& ao) noexcept {
  radix_set(ao.address, g_state.arena_size, nullptr);
  give_back_arena_memory(ao.address);
  ao.address = 0;
}

// Under g_lock. Unmaps the arena and recycles its arena_object.
void free_arena(arena_object* ao) noexcept {
  unmap_arena(*ao);
  ao->nextarena = g_state.unused_arena_objects;
  g_state.unused_arena_objects = ao;
  ++g_state.arenas_reclaimed;
  --g_state.arenas_current;
}

void unlink_usable(arena_object* ao) noexcept {
  if (ao->prevarena != nullptr) {
    ao->prevarena->nextarena = ao->nextarena;
  } else {
    g_state.usable_arenas = ao->nextarena;
  }
  if (ao->nextarena != nullptr) ao->nextarena->prevarena = ao->prevarena;
  ao->nextarena = ao->prevarena = nullptr;
}

// Under g_lock. A pool of `ao` went back to it: CPython's arena management (insert_to_freepool).
void pool_returned_to_arena(arena_object* ao) noexcept {
  const std::uint32_t nf = ao->nfreepools;
  // 1. Wholly free: unmap it, except when it is the last usable arena, which is kept to avoid
  //    mapping and unmapping an arena on every iteration of a simple loop (bpo-37257).
  if (nf == ao->ntotalpools && ao->nextarena != nullptr) {
    unlink_usable(ao);
    free_arena(ao);
    return;
  }
  // 2. Its first free pool: it was full and off the list; it has the fewest free pools of all.
  if (nf == 1) {
    ao->prevarena = nullptr;
    ao->nextarena = g_state.usable_arenas;
    if (g_state.usable_arenas != nullptr) g_state.usable_arenas->prevarena = ao;
    g_state.usable_arenas = ao;
    return;
  }
  // 3. Slide it right past arenas with fewer free pools, keeping the list sorted (fullest
  //    first, so allocation packs into busy arenas and lets others empty out).
  arena_object* after = ao->nextarena;
  if (after == nullptr || nf <= after->nfreepools) return;
  unlink_usable(ao);
  while (after->nextarena != nullptr && nf > after->nextarena->nfreepools) {
    after = after->nextarena;
  }
  ao->prevarena = after;
  ao->nextarena = after->nextarena;
  if (after->nextarena != nullptr) after->nextarena->prevarena = ao;
  after->nextarena = ao;
}

// ---------------------------------------------------------------------------------------------
// Pools

void usedpools_push(std::size_t size_class, pool_header* pool) noexcept {
  pool->prevpool = nullptr;
  pool->nextpool = g_state.usedpools[size_class];
  if (pool->nextpool != nullptr) pool->nextpool->prevpool = pool;
  g_state.usedpools[size_class] = pool;
}

void usedpools_unlink(std::size_t size_class, pool_header* pool) noexcept {
  if (pool->prevpool != nullptr) {
    pool->prevpool->nextpool = pool->nextpool;
  } else {
    g_state.usedpools[size_class] = pool->nextpool;
  }
  if (pool->nextpool != nullptr) pool->nextpool->prevpool = pool->prevpool;
  pool->nextpool = pool->prevpool = nullptr;
}

// Under g_lock. A pool for `size_class` from the fullest usable arena (mapping one if needed),
// linked into usedpools.
pool_header* new_pool(std::size_t size_class) noexcept {
  if (g_state.usable_arenas == nullptr) {
    arena_object* fresh = new_arena();
    if (fresh == nullptr) return nullptr;
    g_state.usable_arenas = fresh;
  }
  arena_object* ao = g_state.usable_arenas;
  pool_header* pool;
  if (ao->freepools != nullptr) {
    pool = ao->freepools;
    ao->freepools = pool->nextpool;
  } else {
    pool = reinterpret_cast<pool_header*>(ao->pool_address);
    ao->pool_address += g_state.pool_size;
  }
  // Taking a pool from the head keeps the list sorted: it had the fewest free pools already.
  if (--ao->nfreepools == 0) unlink_usable(ao);

  const auto block_size = static_cast<std::uint32_t>(size_class_block_size(size_class));
  pool->ref_count = 0;
  pool->size_class = static_cast<std::uint32_t>(size_class);
  *class_entry(pool) = static_cast<std::uint8_t>(size_class);
  pool->arena = ao;
  pool->freeblock = nullptr;
  pool->nextoffset = static_cast<std::uint32_t>(pool_header_size);
  pool->maxnextoffset = static_cast<std::uint32_t>(g_state.pool_size) - block_size;
  ++g_state.class_pools[size_class];
  usedpools_push(size_class, pool);
  return pool;
}

// Under g_lock. One block out of a used pool; unlinks the pool when that made it full.
block* take_block(std::size_t size_class, pool_header* pool) noexcept {
  block* b = pool->freeblock;
  if (b != nullptr) {
    pool->freeblock = b->next;
  } else {
    b = reinterpret_cast<block*>(reinterpret_cast<char*>(pool) + pool->nextoffset);
    pool->nextoffset += static_cast<std::uint32_t>(size_class_block_size(size_class));
  }
  ++pool->ref_count;
  ++g_state.class_blocks_out[size_class];
  if (pool->freeblock == nullptr && pool->nextoffset > pool->maxnextoffset) {
    usedpools_unlink(size_class, pool);
  }
  return b;
}

// Under g_lock. `count` blocks of one pool, linked first..last, go back into it at once: the
// pool's state afterwards is what CPython's pymalloc_free gives, block by block, except for
// the order of its free blocks (the run, in its order, in front of the others).
void return_run(block* first, block* last, std::uint32_t count) noexcept {
  auto* pool = reinterpret_cast<pool_header*>(reinterpret_cast<std::uintptr_t>(first) &
                                              ~(std::uintptr_t{g_state.pool_size} - 1));
  const std::size_t size_class = pool->size_class;
  block* lastfree = pool->freeblock;
  last->next = lastfree;
  pool->freeblock = first;
  pool->ref_count -= count;
  g_state.class_blocks_out[size_class] -= count;
  // A full pool is on no usedpools list.
  const bool was_full = lastfree == nullptr && pool->nextoffset > pool->maxnextoffset;
  if (pool->ref_count != 0) {
    if (was_full) usedpools_push(size_class, pool);
    return;
  }
  // Empty: the pool goes back to its arena, free for any size class.
  if (!was_full) usedpools_unlink(size_class, pool);
  --g_state.class_pools[size_class];
  arena_object* ao = pool->arena;
  pool->nextpool = ao->freepools;
  ao->freepools = pool;
  ++ao->nfreepools;
  pool_returned_to_arena(ao);
}

// Under g_lock. A block goes back into its pool.
void return_block(block* b) noexcept { return_run(b, b, 1); }

// ---------------------------------------------------------------------------------------------
// Thread caches

void flush_cache_class(thread_cache* tc, std::size_t size_class, std::uint32_t keep) noexcept {
  std::uint32_t n = tc->count[size_class];
  while (n > keep) {
    block* b = tc->head[size_class];
    tc->head[size_class] = b->next;
    return_block(b);
    --n;
  }
  store_count(tc->count[size_class], n);
}

// Under g_lock.
void flush_cache(thread_cache* tc) noexcept {
  for (std::size_t c = 0; c < size_class_count; ++c) flush_cache_class(tc, c, 0);
}

// pthread key destructor: the thread is exiting; its cache goes back to the pools and becomes
// idle (reused by the next new thread).
void on_thread_exit(void* cache) noexcept {
  auto* tc = static_cast<thread_cache*>(cache);
  tracemalloc::detail::on_thread_exit();
  lock_guard lock;
  flush_cache(tc);
  tc->owned = false;
  // Anything this thread allocates from here on (other TLS destructors) registers anew.
  t_cache = nullptr;
}

// Under g_lock. Gives the calling thread a cache (an idle one or a new one); nullptr when out
// of memory, in which case the thread works through the locked paths only.
thread_cache* register_thread() noexcept {
  if (!g_state.thread_key_created) {
    if (pthread_key_create(&g_state.thread_key, on_thread_exit) != 0) return nullptr;
    g_state.thread_key_created = true;
  }
  thread_cache* tc = g_state.caches;
  while (tc != nullptr && tc->owned) tc = tc->next_registered;
  if (tc == nullptr) {
    tc = static_cast<thread_cache*>(std::calloc(1, sizeof(thread_cache)));
    if (tc == nullptr) return nullptr;
    tc->next_registered = g_state.caches;
    g_state.caches = tc;
  }
  tc->owned = true;
  pthread_setspecific(g_state.thread_key, tc);
  t_cache = tc;
  return tc;
}

// ---------------------------------------------------------------------------------------------
// Slow paths

// The cache of `size_class` is empty (or the thread has none): refill half a cache under the
// lock and return one block.
[[gnu::noinline]] void* small_alloc_slow(std::size_t size_class) {
  block* result = nullptr;
  {
    lock_guard lock;
    ensure_initialized();
    thread_cache* tc = t_cache != nullptr ? t_cache : register_thread();
    const std::uint32_t want = tc != nullptr ? g_capacity[size_class] / 2 : 1;
    // Chained in the order taken, so blocks are handed out in address order as in CPython and
    // a partial batch leaves the last pool, not the first, to the cache.
    std::uint32_t got = 0;
    block* chain = nullptr;
    block** tail = &chain;
    while (got < want) {
      pool_header* pool = g_state.usedpools[size_class];
      if (pool == nullptr) pool = new_pool(size_class);
      if (pool == nullptr) break;
      block* b = take_block(size_class, pool);
      *tail = b;
      tail = &b->next;
      ++got;
    }
    *tail = nullptr;
    if (chain != nullptr) {
      result = chain;
      if (tc != nullptr) {
        tc->head[size_class] = chain->next;
        store_count(tc->count[size_class], got - 1);
      }
    }
  }
  if (result == nullptr) throw std::bad_alloc();
  return result;
}

// The cache of this class is full (or the thread has none): drain half of it under the lock.
[[gnu::noinline]] void small_free_slow(block* b, std::size_t size_class) noexcept {
  lock_guard lock;
  thread_cache* tc = t_cache != nullptr ? t_cache : register_thread();
  if (tc == nullptr) {
    return_block(b);
    return;
  }
  flush_cache_class(tc, size_class, g_capacity[size_class] / 2);
  b->next = tc->head[size_class];
  tc->head[size_class] = b;
  store_count(tc->count[size_class], tc->count[size_class] + 1);
}

[[gnu::noinline]] void* large_alloc(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  g_large_in_use.fetch_add(1, std::memory_order_relaxed);
  return p;
}

std::size_t cached_blocks(std::size_t size_class) noexcept {
  std::size_t n = 0;
  for (thread_cache* tc = g_state.caches; tc != nullptr; tc = tc->next_registered) {
    n += load_count(tc->count[size_class]);
  }
  return n;
}

// The slot of block `p`: in the table after p's region (regions are aligned to their size), one
// per 16 bytes. (Numbering slots by block within each pool packs them denser but costs a
// multiplication on every traced call; measured slower.)
[[gnu::always_inline]] inline std::uint32_t* slot_of(const void* p) noexcept {
  const std::uintptr_t region_size = g_region_size.load(std::memory_order_relaxed);
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t offset = address & (region_size - 1);
  auto* table = reinterpret_cast<std::uint32_t*>(address - offset + region_size);
  return table + (offset >> 4);
}

[[gnu::always_inline]] inline void store_trace(void* p, std::uint32_t node, std::size_t size,
                                               std::size_t size_class,
                                               std::uint32_t state) noexcept {
  lifecycle::detail::relaxed_store(
      *slot_of(p), tracemalloc::detail::make_slot(node, size, size_class_block_size(size_class)));
  tracemalloc::detail::count_alloc(size, state);
}

[[gnu::noinline]] void trace_small_alloc_slow(void* p, std::size_t size, std::size_t size_class,
                                              const std::source_location& site,
                                              std::uint32_t state) noexcept {
  const std::uint32_t node =
      tracemalloc::detail::site_node_slow(site, state >> tracemalloc::detail::epoch_shift);
  if (node != 0) store_trace(p, node, size, size_class, state);
}

[[gnu::noinline]] void trace_small_alloc_framed(void* p, std::size_t size,
                                                std::size_t size_class,
                                                const std::source_location& site,
                                                std::uint32_t state) noexcept {
  const std::uint32_t node = tracemalloc::detail::site_node_cached(site, state);
  if (node == 0) return trace_small_alloc_slow(p, size, size_class, site, state);
  store_trace(p, node, size, size_class, state);
}

// The traced part of object_malloc for a small block: no lock unless this thread meets a new
// (frames, site) pair; every call in it is a tail call. The traceback-limit-1 case, which never
// reads the frame stack, is kept apart from the framed one to keep it short.
[[gnu::noinline]] void trace_small_alloc(void* p, std::size_t size, std::size_t size_class,
                                         const std::source_location& site,
                                         std::uint32_t state) noexcept {
  using namespace tracemalloc::detail;
  if ((state & flag_frames) != 0) return trace_small_alloc_framed(p, size, size_class, site, state);
  const std::uintptr_t key = site_key(site);
  const site_cache_entry& e = tracer_tls.sites[site_slot(key, 0)];
  if (e.key != key || e.tag != site_tag(state >> epoch_shift, 0)) [[unlikely]] {
    return trace_small_alloc_slow(p, size, size_class, site, state);
  }
  store_trace(p, e.node, size, size_class, state);
}

// The traced part of object_free for a small block.
[[gnu::noinline]] void trace_small_free(void* p, std::size_t size_class,
                                        std::uint32_t state) noexcept {
  std::uint32_t& slot = *slot_of(p);
  const std::uint32_t value = lifecycle::detail::relaxed_load(slot);
  if (value == 0) return;
  lifecycle::detail::relaxed_store(slot, 0);
  tracemalloc::detail::count_free(
      tracemalloc::detail::slot_size(value, size_class_block_size(size_class)), state);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entry points

void* object_malloc(std::size_t size, std::source_location site) {
  // size - 1 wraps for 0, sending it to the system allocator like sizes above 512.
  if (size - 1 >= small_request_threshold) {
    void* p = large_alloc(size);
    if (tracemalloc::detail::recording()) tracemalloc::detail::on_alloc_large(p, size, site);
    return p;
  }
  const std::size_t size_class = size_class_of(size);
  void* p;
  thread_cache* tc = t_cache;
  block* b = tc != nullptr ? tc->head[size_class] : nullptr;
  if (b != nullptr) {
    tc->head[size_class] = b->next;
    store_count(tc->count[size_class], tc->count[size_class] - 1);
    p = b;
  } else {
    p = small_alloc_slow(size_class);
  }
  const std::uint32_t state = tracemalloc::detail::load_state();
  if (tracemalloc::detail::recording(state)) trace_small_alloc(p, size, size_class, site, state);
  return p;
}

void object_free(void* p) noexcept {
  if (p == nullptr) return;
  arena_object* ao = radix_lookup(p);
  if (ao == nullptr) {
    if (tracemalloc::detail::holding_traces()) tracemalloc::detail::on_free_large(p);
    g_large_in_use.fetch_sub(1, std::memory_order_relaxed);
    std::free(p);
    return;
  }
  // Read in parallel with the radix lookup (no dependency on it); valid once `ao` says the
  // address is in an arena.
  const std::size_t size_class = *class_entry(p);
  const std::uint32_t state = tracemalloc::detail::load_state();
  if (tracemalloc::detail::holding_traces(state)) trace_small_free(p, size_class, state);
  auto* b = static_cast<block*>(p);
  thread_cache* tc = t_cache;
  if (tc != nullptr && tc->count[size_class] < g_capacity[size_class]) {
    b->next = tc->head[size_class];
    tc->head[size_class] = b;
    store_count(tc->count[size_class], tc->count[size_class] + 1);
    return;
  }
  small_free_slow(b, size_class);
}

void object_free_many(void* const* blocks, std::size_t count) noexcept {
  // Traces are dropped before g_lock is taken: the tracer's lock is taken before g_lock
  // elsewhere (discard_trace_slots), never after it.
  const std::uint32_t state = tracemalloc::detail::load_state();
  if (tracemalloc::detail::holding_traces(state)) {
    for (std::size_t i = 0; i < count; ++i)
      if (radix_lookup(blocks[i]) != nullptr)
        trace_small_free(blocks[i], *class_entry(blocks[i]), state);
  }
  // A chunk at a time under the lock, its system blocks set aside and freed once the lock is
  // released (they cannot be told apart afterwards: emptied arenas leave the radix tree).
  constexpr std::size_t chunk = 256;
  for (std::size_t start = 0; start < count; start += chunk) {
    const std::size_t end = std::min(count, start + chunk);
    void* large[chunk];
    std::size_t large_count = 0;
    {
      lock_guard lock;
      const std::uintptr_t pool_mask = ~(std::uintptr_t{g_state.pool_size} - 1);
      std::size_t i = start;
      while (i < end) {
        auto* first = static_cast<block*>(blocks[i++]);
        if (radix_lookup(first) == nullptr) {
          large[large_count++] = first;
          continue;
        }
        // The run of blocks of first's pool: same pool-aligned address, so in an arena too.
        const std::uintptr_t pool = reinterpret_cast<std::uintptr_t>(first) & pool_mask;
        block* last = first;
        std::uint32_t run = 1;
        for (; i < end && (reinterpret_cast<std::uintptr_t>(blocks[i]) & pool_mask) == pool; ++i) {
          last->next = static_cast<block*>(blocks[i]);
          last = last->next;
          ++run;
        }
        return_run(first, last, run);
      }
    }
    for (std::size_t k = 0; k < large_count; ++k) object_free(large[k]);
  }
}

bool allocator_owns(const void* address) noexcept { return radix_lookup(address) != nullptr; }

void allocator_init(const allocator_config& config) {
  validate(config);
  lock_guard lock;
  if (g_state.initialized) {
    std::size_t out = 0;
    for (std::size_t c = 0; c < size_class_count; ++c) {
      out += g_state.class_blocks_out[c] - cached_blocks(c);
    }
    if (out != 0) {
      throw std::logic_error(fmt::format(
          "allocator_init: {} blocks from the previous initialisation are still in use; "
          "call allocator_release() first",
          out));
    }
  }
  // Idle (or never initialised): drop every cache and arena, then start over with `config`.
  for (thread_cache* tc = g_state.caches; tc != nullptr; tc = tc->next_registered) {
    flush_cache(tc);
  }
  for (arena_object* ao = g_state.usable_arenas; ao != nullptr;) {
    arena_object* next = ao->nextarena;
    free_arena(ao);
    ao = next;
  }
  g_state.usable_arenas = nullptr;
  std::fill(std::begin(g_state.usedpools), std::end(g_state.usedpools), nullptr);
  std::fill(std::begin(g_state.class_pools), std::end(g_state.class_pools), 0);
  g_state.arenas_allocated_total = g_state.arenas_reclaimed = 0;
  g_state.arenas_highwater = g_state.arenas_current = 0;
  configure(config);
}

allocator_config allocator_current_config() noexcept {
  lock_guard lock;
  if (!g_state.initialized) return allocator_config{};
  return allocator_config{g_state.arena_size, g_state.pool_size, g_state.huge_pages};
}

std::size_t allocator_blocks_in_use() noexcept {
  lock_guard lock;
  std::size_t out = 0;
  for (std::size_t c = 0; c < size_class_count; ++c) {
    out += g_state.class_blocks_out[c] - cached_blocks(c);
  }
  return out + g_large_in_use.load(std::memory_order_relaxed);
}

void allocator_flush_thread_cache() noexcept {
  if (t_cache == nullptr) return;
  lock_guard lock;
  flush_cache(t_cache);
}

allocator_stats allocator_get_stats() {
  lock_guard lock;
  ensure_initialized();
  allocator_stats stats;
  stats.config = allocator_config{g_state.arena_size, g_state.pool_size, g_state.huge_pages};
  stats.region_size = g_state.region_size;
  stats.arenas_allocated_total = g_state.arenas_allocated_total;
  stats.arenas_reclaimed = g_state.arenas_reclaimed;
  stats.arenas_highwater = g_state.arenas_highwater;
  stats.arenas_current = g_state.arenas_current;
  stats.large_blocks_in_use = g_large_in_use.load(std::memory_order_relaxed);
  std::size_t pools_used = 0;
  for (std::size_t c = 0; c < size_class_count; ++c) {
    const std::size_t block_size = size_class_block_size(c);
    const std::size_t per_pool = (g_state.pool_size - pool_header_size) / block_size;
    const std::size_t cached = cached_blocks(c);
    size_class_stats& s = stats.classes[c];
    s.block_size = block_size;
    s.pools = g_state.class_pools[c];
    s.blocks_in_use = g_state.class_blocks_out[c] - cached;
    s.available_blocks = s.pools * per_pool - s.blocks_in_use;
    stats.thread_cached_blocks += cached;
    pools_used += s.pools;
  }
  stats.pools_free = g_state.arenas_current * g_state.pools_per_arena - pools_used;
  return stats;
}

namespace {

// CPython's printone(): the label padded to 35 columns, '=', the value with thousands
// separators right-aligned in 21 columns.
void print_one(std::ostream& out, const std::string& label, std::size_t value) {
  std::string digits = std::to_string(value);
  for (auto i = static_cast<std::ptrdiff_t>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(static_cast<std::size_t>(i), 1, ',');
  }
  out << fmt::format("{:<35}={:>21}\n", label, digits);
}

}  // namespace

void debug_malloc_stats(std::ostream& out) {
  const allocator_stats stats = allocator_get_stats();
  const std::size_t pool_size = stats.config.pool_size;
  out << fmt::format("Small block threshold = {}, in {} size classes.\n\n",
                     small_request_threshold, size_class_count);
  out << "class   size   num pools   blocks in use  avail blocks\n"
         "-----   ----   ---------   -------------  ------------\n";
  std::size_t allocated_bytes = 0;
  std::size_t available_bytes = 0;
  std::size_t pools_used = 0;
  std::size_t quantization = 0;
  for (std::size_t c = 0; c < size_class_count; ++c) {
    const size_class_stats& s = stats.classes[c];
    if (s.pools == 0) continue;
    out << fmt::format("{:5} {:6} {:11} {:15} {:13}\n", c, s.block_size, s.pools,
                       s.blocks_in_use, s.available_blocks);
    allocated_bytes += s.blocks_in_use * s.block_size;
    available_bytes += s.available_blocks * s.block_size;
    pools_used += s.pools;
    quantization += s.pools * ((pool_size - pool_header_size) % s.block_size);
  }
  out << '\n';
  print_one(out, "# arenas allocated total", stats.arenas_allocated_total);
  print_one(out, "# arenas reclaimed", stats.arenas_reclaimed);
  print_one(out, "# arenas highwater mark", stats.arenas_highwater);
  print_one(out, "# arenas allocated current", stats.arenas_current);
  print_one(out,
            fmt::format("{} arenas * {} bytes/arena", stats.arenas_current,
                        stats.config.arena_size),
            stats.arenas_current * stats.config.arena_size);
  out << '\n';
  print_one(out, "# bytes in allocated blocks", allocated_bytes);
  print_one(out, "# bytes in available blocks", available_bytes);
  print_one(out, fmt::format("{} unused pools * {} bytes", stats.pools_free, pool_size),
            stats.pools_free * pool_size);
  print_one(out, "# bytes lost to pool headers", pools_used * pool_header_size);
  print_one(out, "# bytes lost to quantization", quantization);
  print_one(out, "# bytes lost to arena alignment", 0);
  print_one(out, "Total",
            allocated_bytes + available_bytes + stats.pools_free * pool_size +
                pools_used * pool_header_size + quantization);
}

namespace {

// Every live arena, under g_lock (the chunks hold the arena objects; a free object has address 0).
template <class Visit>
void for_each_live_arena(Visit&& visit) {
  for (arena_chunk* chunk = g_state.chunks; chunk != nullptr; chunk = chunk->next) {
    for (std::size_t i = 0; i < chunk->count; ++i) {
      arena_object& ao = chunk->objects[i];
      if (ao.address != 0) visit(ao);
    }
  }
}

// Every used pool of a live arena, under g_lock, with its index in the arena and its blocks'
// size (a used pool's size class is stable under g_lock).
template <class Visit>
void for_each_used_pool(const arena_object& ao, Visit&& visit) {
  std::size_t pool_index = 0;
  for (char* p = reinterpret_cast<char*>(ao.address); p < ao.pool_address;
       p += g_state.pool_size, ++pool_index) {
    const auto* pool = reinterpret_cast<const pool_header*>(p);
    if (pool->ref_count == 0) continue;
    visit(p, *pool, pool_index, size_class_block_size(pool->size_class));
  }
}

struct pending_leak {
  const void* address;
  std::size_t block_size;
  std::uint32_t slot;
};

// The blocks still taken in one used pool, appended to `pending` (at most max_listed in all): a
// block is free when it is on its pool's free list or beyond nextoffset. False once full.
bool collect_taken_blocks(char* p, const pool_header& pool, std::size_t block_size,
                          std::size_t max_listed, std::vector<pending_leak>& pending) {
  std::vector<bool> is_free((g_state.pool_size + 15) / 16, false);
  for (const block* f = pool.freeblock; f != nullptr; f = f->next) {
    is_free[(reinterpret_cast<const char*>(f) - p) / 16] = true;
  }
  for (std::size_t off = pool_header_size; off < pool.nextoffset; off += block_size) {
    if (is_free[off / 16]) continue;
    if (pending.size() == max_listed) return false;
    pending.push_back({p + off, block_size, *slot_of(p + off)});
  }
  return true;
}

// Step 1, under g_lock: counts the blocks in use and lists the leaked small blocks with their
// trace slots. False when the allocator was never initialised (nothing else to release).
bool list_leaks(std::size_t max_listed, release_report& report,
                std::vector<pending_leak>& pending) noexcept {
  lock_guard lock;
  if (!g_state.initialized) {
    report.blocks_in_use = g_large_in_use.load(std::memory_order_relaxed);
    return false;
  }
  // Cached blocks are free: return them first so that what stays taken is exactly the leaks.
  for (thread_cache* tc = g_state.caches; tc != nullptr; tc = tc->next_registered) {
    flush_cache(tc);
  }
  for (std::size_t c = 0; c < size_class_count; ++c) {
    report.small_blocks_in_use += g_state.class_blocks_out[c];
  }
  report.blocks_in_use =
      report.small_blocks_in_use + g_large_in_use.load(std::memory_order_relaxed);
  try {
    for_each_live_arena([&](const arena_object& ao) {
      for_each_used_pool(ao, [&](char* p, const pool_header& pool, std::size_t,
                                 std::size_t block_size) {
        if (!report.leaks_truncated &&
            !collect_taken_blocks(p, pool, block_size, max_listed, pending)) {
          report.leaks_truncated = true;
        }
      });
    });
  } catch (const std::bad_alloc&) {
    report.leaks_truncated = true;
  }
  return true;
}

// Step 2, outside g_lock (the tracer takes its own lock, which is ordered before ours): each
// leak's requested size and allocation site from its trace slot.
void name_leak_sites(const std::vector<pending_leak>& pending, release_report& report) noexcept {
  try {
    report.leaks.reserve(pending.size());
    for (const pending_leak& leak : pending) {
      leaked_block lb{leak.address, leak.block_size, {}};
      if (leak.slot != 0) {
        lb.size = tracemalloc::detail::slot_size(leak.slot, leak.block_size);
        lb.traceback = tracemalloc::detail::slot_frames(leak.slot);
      }
      report.leaks.push_back(std::move(lb));
    }
  } catch (const std::bad_alloc&) {
    report.leaks_truncated = true;
  }
}

// Step 3, under g_lock: idle caches freed, every arena and chunk unmapped, the state back to
// uninitialised (the pthread key and the registered caches survive).
void unmap_everything(release_report& report) noexcept {
  lock_guard lock;
  for (thread_cache* tc = g_state.caches; tc != nullptr; tc = tc->next_registered) {
    flush_cache(tc);
  }
  // Idle caches (their threads exited) are freed; owned ones stay, their threads point at them.
  thread_cache** link = &g_state.caches;
  while (*link != nullptr) {
    thread_cache* tc = *link;
    if (!tc->owned) {
      *link = tc->next_registered;
      std::free(tc);
    } else {
      link = &tc->next_registered;
    }
  }
  for_each_live_arena([&](arena_object& ao) {
    unmap_arena(ao);
    ++report.arenas_unmapped;
  });
  for (arena_chunk* chunk = g_state.chunks; chunk != nullptr;) {
    arena_chunk* next = chunk->next;
    unmap_pages(chunk, std::size_t{64} << 10);
    chunk = next;
  }
  radix_free_all();
  const bool key_created = g_state.thread_key_created;
  const pthread_key_t key = g_state.thread_key;
  thread_cache* caches = g_state.caches;
  g_state = allocator_state{};
  g_state.thread_key_created = key_created;
  g_state.thread_key = key;
  g_state.caches = caches;
}

}  // namespace

release_report allocator_release(std::size_t max_listed) noexcept {
  release_report report;
  std::vector<pending_leak> pending;
  if (!list_leaks(max_listed, report, pending)) return report;
  name_leak_sites(pending, report);
  tracemalloc::detail::on_allocator_release();
  unmap_everything(report);
  return report;
}

// ---------------------------------------------------------------------------------------------
// Hooks for the tracer (tracemalloc.cpp): the per-arena side tables of trace slots.

namespace tracemalloc::detail {

std::uint32_t* find_trace_slot(const void* address) noexcept {
  if (radix_lookup(address) == nullptr) return nullptr;
  return slot_of(address);
}

void discard_trace_slots() noexcept {
  lock_guard lock;
  g_state.trace_tables_used = true;  // every start() comes through here
  for_each_live_arena([](const arena_object& ao) {
    discard_pages(reinterpret_cast<void*>(arena_trace_table(ao.address)),
                  trace_table_bytes(g_state.arena_size));
  });
}

void for_each_trace_slot(void (*visit)(void* context, const void* address, std::uint32_t slot,
                                       std::size_t block_size),
                         void* context) {
  lock_guard lock;
  for_each_live_arena([&](const arena_object& ao) {
    const auto* table = reinterpret_cast<const std::uint32_t*>(arena_trace_table(ao.address));
    // Slots of free pools are all zero.
    for_each_used_pool(ao, [&](char* p, const pool_header&, std::size_t pool_index,
                               std::size_t block_size) {
      const std::uint32_t* slots = table + pool_index * (g_state.pool_size / 16);
      for (std::size_t offset = pool_header_size; offset + block_size <= g_state.pool_size;
           offset += block_size) {
        const std::uint32_t slot = lifecycle::detail::relaxed_load(slots[offset / 16]);
        if (slot != 0) visit(context, p + offset, slot, block_size);
      }
    });
  });
}

std::size_t trace_slot_bytes() noexcept {
  lock_guard lock;
  return g_state.arenas_current * trace_table_bytes(g_state.arena_size);
}

}  // namespace tracemalloc::detail

}  // namespace lifecycle

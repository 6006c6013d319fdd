#include "catch.hpp"
#include "lifecycle/allocator.hpp"
#include "lifecycle/process_memory.hpp"
#include "lifecycle/tracemalloc.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using lifecycle::allocator_config;

// Every test starts from an empty allocator with `config` (tests may run in one process).
void fresh_allocator(const allocator_config& config = {}) {
  lifecycle::tracemalloc::stop();
  lifecycle::allocator_release();
  lifecycle::allocator_init(config);
}

std::uintptr_t arena_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) &
         ~(std::uintptr_t{lifecycle::allocator_current_config().arena_size} - 1);
}

std::uintptr_t pool_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) &
         ~(std::uintptr_t{lifecycle::allocator_current_config().pool_size} - 1);
}

// Allocates 512-byte blocks into `blocks` until `count` arenas are mapped; returns the arenas
// the blocks are in, in the order the blocks came.
std::vector<std::uintptr_t> fill_arenas(std::size_t count, std::vector<void*>& blocks) {
  while (lifecycle::allocator_get_stats().arenas_current < count) {
    blocks.push_back(lifecycle::object_malloc(512));
  }
  std::vector<std::uintptr_t> arenas;
  for (void* b : blocks) {
    if (arenas.empty() || arenas.back() != arena_of(b)) arenas.push_back(arena_of(b));
  }
  return arenas;
}

// Whether any byte of [start, start + size) is mapped in this process: /proc/self/maps where it
// exists (Linux), else msync, which fails with ENOMEM on unmapped pages (POSIX).
bool range_mapped(std::uintptr_t start, std::size_t size) {
  std::ifstream maps("/proc/self/maps");
  if (maps) {
    std::string line;
    while (std::getline(maps, line)) {
      std::uintptr_t lo = 0;
      std::uintptr_t hi = 0;
      char dash = 0;
      std::istringstream in(line);
      in >> std::hex >> lo >> dash >> hi;
      if (lo < start + size && start < hi) return true;
    }
    return false;
  }
  for (std::uintptr_t page = start; page < start + size; page += 4096) {
    if (msync(reinterpret_cast<void*>(page), 4096, MS_ASYNC) == 0) return true;
  }
  return false;
}

// The huge page size the allocator should map arenas in, read here the way an administrator
// would: Linux's transparent huge pages unless set to "never" (for all sizes, or for this size
// since Linux 6.8) or disabled for the process (prctl, shown as "THP_enabled: 0" in
// /proc/self/status), at most 2 MiB; 0 elsewhere.
std::size_t expected_huge_page_size() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("THP_enabled:", 0) == 0 && line.find('0') != std::string::npos) return 0;
  }
  auto mode_of = [](const std::string& path) {
    std::ifstream file(path);
    std::string mode;
    std::getline(file, mode);
    return mode;
  };
  const std::string mode = mode_of("/sys/kernel/mm/transparent_hugepage/enabled");
  if (mode.empty() || mode.find("[never]") != std::string::npos) return 0;
  std::ifstream size_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
  std::size_t size = 0;
  if (!(size_file >> size) || size > (std::size_t{2} << 20)) return 0;
  const std::string size_mode = mode_of("/sys/kernel/mm/transparent_hugepage/hugepages-" +
                                        std::to_string(size / 1024) + "kB/enabled");
  if (size_mode.find("[never]") != std::string::npos) return 0;
  return size;
}

// Where there are no huge pages a region is one arena, which the tests of regions check before
// they stop: false then.
bool regions_hold_several_arenas() {
  if (expected_huge_page_size() != 0) return true;
  fresh_allocator();
  CHECK(lifecycle::allocator_get_stats().region_size ==
        lifecycle::allocator_current_config().arena_size);
  return false;
}

// The bytes after a region that are its side tables, as allocator.cpp lays them out: the trace
// table (4 bytes per 16), then the class map (one 4 KiB page for 2 MiB of 16 KiB or 4 KiB pools).
std::size_t side_table_bytes(std::size_t region_size) { return region_size / 4 + 4096; }

// The value of `field` (e.g. "THPeligible:") in /proc/self/smaps for the mapping holding
// `address`; -1 when there is none.
long smaps_field(std::uintptr_t address, const std::string& field) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0;
    std::uintptr_t hi = 0;
    char dash = 0;
    std::istringstream header(line);
    if (header >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= address && address < hi;
      continue;
    }
    if (inside && line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  }
  return -1;
}

// Resident pages of [start, start + size): /proc/self/pagemap, one 64-bit entry per page whose
// bit 63 says "present". -1 where there is no pagemap.
long resident_pages(std::uintptr_t start, std::size_t size) {
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const std::uintptr_t page = 4096;
  long present = 0;
  for (std::uintptr_t p = start; p < start + size; p += page) {
    std::uint64_t entry = 0;
    if (pread(fd, &entry, sizeof entry, static_cast<off_t>(p / page * sizeof entry)) !=
        static_cast<ssize_t>(sizeof entry)) {
      present = -1;
      break;
    }
    present += static_cast<long>((entry >> 63) & 1);
  }
  close(fd);
  return present;
}

}  // namespace

TEST_CASE("object_malloc returns 16-byte aligned, writable blocks") {
  fresh_allocator();
  for (std::size_t size : {1u, 16u, 17u, 512u, 513u, 4096u}) {
    auto* block = static_cast<unsigned char*>(lifecycle::object_malloc(size));
    REQUIRE(block != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(block) % 16 == 0);
    block[size - 1] = 0xCD;
    block[0] = 0xAB;
    CHECK(block[0] == 0xAB);
    if (size > 1) CHECK(block[size - 1] == 0xCD);
    lifecycle::object_free(block);
  }
  lifecycle::object_free(nullptr);
}

TEST_CASE("sizes round up to 32 classes of 16 bytes, and 0 and > 512 go to the system allocator") {
  fresh_allocator();
  CHECK(lifecycle::size_class_of(1) == 0);
  CHECK(lifecycle::size_class_of(16) == 0);
  CHECK(lifecycle::size_class_of(17) == 1);
  CHECK(lifecycle::size_class_of(512) == 31);
  CHECK(lifecycle::size_class_block_size(31) == 512);

  const std::size_t pool_size = lifecycle::allocator_current_config().pool_size;
  for (std::size_t size = 1; size <= 512; ++size) {
    INFO("size " << size);
    const std::size_t size_class = (size - 1) / 16;
    const std::size_t block_size = (size_class + 1) * 16;
    const auto before = lifecycle::allocator_get_stats().classes[size_class].blocks_in_use;
    void* a = lifecycle::object_malloc(size);
    void* b = lifecycle::object_malloc(size);
    REQUIRE(lifecycle::allocator_owns(a));
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 16 == 0);
    // Blocks sit at header + k * block_size inside their pool.
    const std::uintptr_t offset_a = reinterpret_cast<std::uintptr_t>(a) - pool_of(a);
    CHECK(offset_a >= 48);
    CHECK((offset_a - 48) % block_size == 0);
    CHECK(offset_a + block_size <= pool_size);
    if (pool_of(a) == pool_of(b)) {
      const auto distance = static_cast<std::size_t>(
          std::abs(reinterpret_cast<std::intptr_t>(a) - reinterpret_cast<std::intptr_t>(b)));
      CHECK(distance % block_size == 0);
    }
    const auto stats = lifecycle::allocator_get_stats();
    CHECK(stats.classes[size_class].blocks_in_use == before + 2);
    CHECK(stats.classes[size_class].block_size == block_size);
    lifecycle::object_free(a);
    lifecycle::object_free(b);
  }
  const auto large_before = lifecycle::allocator_get_stats().large_blocks_in_use;
  void* zero = lifecycle::object_malloc(0);
  void* big = lifecycle::object_malloc(513);
  CHECK_FALSE(lifecycle::allocator_owns(zero));
  CHECK_FALSE(lifecycle::allocator_owns(big));
  CHECK(reinterpret_cast<std::uintptr_t>(big) % 16 == 0);
  CHECK(lifecycle::allocator_get_stats().large_blocks_in_use == large_before + 2);
  lifecycle::object_free(zero);
  lifecycle::object_free(big);
  CHECK(lifecycle::allocator_get_stats().large_blocks_in_use == large_before);
}

TEST_CASE("allocator_owns is exact for arena memory and safe for foreign pointers") {
  fresh_allocator();
  static int static_object = 0;
  int stack_object = 0;
  void* heap_object = std::malloc(64);
  void* small = lifecycle::object_malloc(32);
  const std::uintptr_t arena = arena_of(small);
  const std::size_t arena_size = lifecycle::allocator_current_config().arena_size;

  CHECK(lifecycle::allocator_owns(small));
  CHECK(lifecycle::allocator_owns(static_cast<char*>(small) + 15));
  CHECK(lifecycle::allocator_owns(reinterpret_cast<void*>(arena)));
  CHECK(lifecycle::allocator_owns(reinterpret_cast<void*>(arena + arena_size - 1)));
  CHECK_FALSE(lifecycle::allocator_owns(reinterpret_cast<void*>(arena + arena_size)));
  CHECK_FALSE(lifecycle::allocator_owns(reinterpret_cast<void*>(arena - 1)));
  CHECK_FALSE(lifecycle::allocator_owns(&static_object));
  CHECK_FALSE(lifecycle::allocator_owns(&stack_object));
  CHECK_FALSE(lifecycle::allocator_owns(heap_object));
  CHECK_FALSE(lifecycle::allocator_owns(nullptr));
  // Addresses nobody maps: never dereferenced, so no fault.
  CHECK_FALSE(lifecycle::allocator_owns(reinterpret_cast<void*>(std::uintptr_t{1} << 52)));
  CHECK_FALSE(lifecycle::allocator_owns(reinterpret_cast<void*>(~std::uintptr_t{15})));
  CHECK_FALSE(lifecycle::allocator_owns(reinterpret_cast<void*>(std::uintptr_t{0x1000})));

  std::free(heap_object);
  lifecycle::object_free(small);
  lifecycle::allocator_release();
  CHECK_FALSE(lifecycle::allocator_owns(reinterpret_cast<void*>(arena)));
}

TEST_CASE("usable arenas are used fullest first, and a wholly free arena is unmapped but the last is kept") {
  fresh_allocator();
  const std::size_t arena_size = lifecycle::allocator_current_config().arena_size;
  // Fill arenas with 512-byte blocks until a third arena appears.
  std::vector<void*> blocks;
  const std::vector<std::uintptr_t> arenas = fill_arenas(3, blocks);
  REQUIRE(arenas.size() == 3);
  const std::uintptr_t a = arenas[0], b = arenas[1], c = arenas[2];
  for (std::uintptr_t arena : arenas) CHECK(range_mapped(arena, arena_size));

  // Free every block of C: C is wholly free but the only usable arena, so it stays mapped.
  auto free_where = [&](auto predicate) {
    for (void*& p : blocks) {
      if (p != nullptr && predicate(p)) {
        lifecycle::object_free(p);
        p = nullptr;
      }
    }
    lifecycle::allocator_flush_thread_cache();
  };
  free_where([&](void* p) { return arena_of(p) == c; });
  CHECK(lifecycle::allocator_get_stats().arenas_current == 3);
  CHECK(range_mapped(c, arena_size));

  // Free 40 pools of B and 10 pools of A: A is now the fullest usable arena.
  std::set<std::uintptr_t> pools_a, pools_b;
  for (void* p : blocks) {
    if (p == nullptr) continue;
    if (arena_of(p) == a && pools_a.size() < 10) pools_a.insert(pool_of(p));
    if (arena_of(p) == b && pools_b.size() < 40) pools_b.insert(pool_of(p));
  }
  free_where([&](void* p) { return pools_a.count(pool_of(p)) + pools_b.count(pool_of(p)) != 0; });
  CHECK(lifecycle::allocator_get_stats().pools_free == 10 + 40 + 64);

  // A new pool (another size class) comes from A.
  void* fresh = lifecycle::object_malloc(16);
  CHECK(arena_of(fresh) == a);
  lifecycle::object_free(fresh);

  // Free everything: A and B are unmapped (their ranges leave the address space), one is kept.
  free_where([](void*) { return true; });
  const auto stats = lifecycle::allocator_get_stats();
  CHECK(stats.arenas_current == 1);
  CHECK(stats.arenas_reclaimed == 2);
  CHECK(stats.arenas_allocated_total == 3);
  CHECK(stats.arenas_highwater == 3);
  int still_mapped = 0;
  for (std::uintptr_t arena : arenas) still_mapped += range_mapped(arena, arena_size) ? 1 : 0;
  CHECK(still_mapped == 1);
  int still_owned = 0;
  for (std::uintptr_t arena : arenas) {
    still_owned += lifecycle::allocator_owns(reinterpret_cast<void*>(arena)) ? 1 : 0;
  }
  CHECK(still_owned == 1);
}

TEST_CASE("allocating then freeing ~200 MB of small objects gives the memory back to the OS") {
  fresh_allocator();
  // The objects form a linked list through their first word: no side array to skew RSS.
  // Returns the RSS seen while all of them were alive.
  auto build_and_free = [] {
    constexpr std::size_t target = std::size_t{200} << 20;
    std::size_t total = 0;
    void* head = nullptr;
    std::size_t size = 16;
    while (total < target) {
      void* p = lifecycle::object_malloc(size);
      std::memset(p, 0x5A, size);
      *static_cast<void**>(p) = head;
      head = p;
      total += size;
      size = size == 512 ? 16 : size + 16;
    }
    const auto full = lifecycle::process_memory();
    while (head != nullptr) {
      void* next = *static_cast<void**>(head);
      lifecycle::object_free(head);
      head = next;
    }
    lifecycle::allocator_flush_thread_cache();
    return full;
  };
  // A first round leaves what a warmed-up program has: the one wholly free arena the allocator
  // keeps (CPython does the same), so the baseline is the state `del big_list` returns to.
  build_and_free();
  const auto before = lifecycle::process_memory();
  const auto full = build_and_free();
  const auto after = lifecycle::process_memory();
  INFO("rss before " << before.current_rss << " full " << full.current_rss << " after "
                     << after.current_rss);
  CHECK(full.current_rss > before.current_rss + (std::size_t{200} << 20));
  CHECK(lifecycle::allocator_get_stats().arenas_current == 1);
  CHECK(lifecycle::allocator_get_stats().arenas_reclaimed > 2 * 200);
  CHECK(after.current_rss <= before.current_rss + before.current_rss / 10);
}

TEST_CASE("many threads allocate and free, also each other's blocks, without losing any") {
  fresh_allocator();
  const std::size_t baseline = lifecycle::allocator_blocks_in_use();
  constexpr int thread_count = 8;
  constexpr int rounds = 20000;
  std::mutex exchange_lock;
  std::vector<std::pair<unsigned char*, std::size_t>> exchange;  // handed between threads
  std::atomic<int> corrupted{0};

  auto check_and_free = [&](unsigned char* p, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      if (p[i] != static_cast<unsigned char>(size)) {
        ++corrupted;
        break;
      }
    }
    lifecycle::object_free(p);
  };
  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<unsigned char*, std::size_t>> mine;
    for (int i = 0; i < rounds; ++i) {
      const std::size_t size = 1 + rng() % 600;
      auto* p = static_cast<unsigned char*>(lifecycle::object_malloc(size));
      std::memset(p, static_cast<unsigned char>(size), size);
      mine.emplace_back(p, size);
      if (rng() % 4 == 0) {
        std::lock_guard<std::mutex> lock(exchange_lock);
        exchange.push_back(mine.back());
        mine.pop_back();
      }
      if (mine.size() > 64) {
        const std::size_t k = rng() % mine.size();
        check_and_free(mine[k].first, mine[k].second);
        mine[k] = mine.back();
        mine.pop_back();
      }
      if (i % 16 == 0) {
        std::pair<unsigned char*, std::size_t> theirs{nullptr, 0};
        {
          std::lock_guard<std::mutex> lock(exchange_lock);
          if (!exchange.empty()) {
            theirs = exchange.back();
            exchange.pop_back();
          }
        }
        if (theirs.first != nullptr) check_and_free(theirs.first, theirs.second);
      }
    }
    for (auto& [p, size] : mine) check_and_free(p, size);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) threads.emplace_back(worker, 1234u + t);
  for (auto& t : threads) t.join();
  for (auto& [p, size] : exchange) check_and_free(p, size);

  CHECK(corrupted.load() == 0);
  CHECK(lifecycle::allocator_blocks_in_use() == baseline);
  // Exited threads gave their caches back: nothing is parked in them any more.
  lifecycle::allocator_flush_thread_cache();
  const auto stats = lifecycle::allocator_get_stats();
  CHECK(stats.thread_cached_blocks == 0);
  for (const auto& c : stats.classes) CHECK(c.blocks_in_use == 0);
}

TEST_CASE("stats count arenas, pools and blocks, and debug_malloc_stats prints CPython's report") {
  fresh_allocator();
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(lifecycle::object_malloc(100));  // class 6
  for (int i = 0; i < 10; ++i) blocks.push_back(lifecycle::object_malloc(1));      // class 0
  // Cached free blocks keep their pools: flush so that the figures are CPython's.
  lifecycle::allocator_flush_thread_cache();
  const auto stats = lifecycle::allocator_get_stats();
  const std::size_t per_pool = (16384 - 48) / 112;  // 145
  CHECK(stats.classes[6].blocks_in_use == 1000);
  CHECK(stats.classes[6].pools == (1000 + per_pool - 1) / per_pool);
  CHECK(stats.classes[6].blocks_in_use + stats.classes[6].available_blocks ==
        stats.classes[6].pools * per_pool);
  CHECK(stats.classes[0].blocks_in_use == 10);
  CHECK(stats.classes[0].pools == 1);
  CHECK(stats.classes[0].available_blocks == (16384 - 48) / 16 - 10);
  CHECK(stats.arenas_current == 1);
  CHECK(lifecycle::allocator_blocks_in_use() == 1010);

  std::ostringstream out;
  lifecycle::debug_malloc_stats(out);
  const std::string report = out.str();
  INFO(report);
  CHECK(report.rfind("Small block threshold = 512, in 32 size classes.\n", 0) == 0);
  CHECK_THAT(report, Catch::Matchers::ContainsSubstring(
                         "class   size   num pools   blocks in use  avail blocks\n"));
  std::ostringstream row;
  row << "    6    112 " << std::string(11 - std::to_string(stats.classes[6].pools).size(), ' ')
      << stats.classes[6].pools << "            1000 ";
  CHECK_THAT(report, Catch::Matchers::ContainsSubstring(row.str()));
  CHECK_THAT(report, Catch::Matchers::ContainsSubstring(
                         "# arenas allocated current         =                    1\n"));
  CHECK_THAT(report, Catch::Matchers::ContainsSubstring(
                         "1 arenas * 1048576 bytes/arena     =            1,048,576\n"));
  CHECK_THAT(report, Catch::Matchers::ContainsSubstring(
                         "# bytes in allocated blocks        =              112,160\n"));
  // Every byte of the arenas is accounted for, as in CPython's report.
  CHECK_THAT(report, Catch::Matchers::ContainsSubstring(
                         "Total                              =            1,048,576\n"));
  for (void* p : blocks) lifecycle::object_free(p);
}

TEST_CASE("object_free_many leaves pools, arenas and traces as object_free does, block by block") {
  // Blocks of four small classes interleaved (runs of one pool are short) plus large ones, over
  // several arenas. Half of them are freed (every other one, so most pools stay partly used),
  // then the rest (the pools empty, all arenas but one are unmapped); after each step the
  // allocator must be in the state object_free leaves once the thread cache is flushed.
  struct state {
    lifecycle::allocator_stats stats;
    std::size_t in_use;
    std::size_t traced;
  };
  auto snapshot = [] {
    return state{lifecycle::allocator_get_stats(), lifecycle::allocator_blocks_in_use(),
                 lifecycle::tracemalloc::traced_memory().current};
  };
  auto run = [&snapshot](bool many) {
    fresh_allocator();
    lifecycle::tracemalloc::start();
    std::vector<void*> blocks;
    const std::size_t sizes[] = {16, 48, 100, 512, 600};
    for (std::size_t i = 0; i < 30000; ++i) {
      blocks.push_back(lifecycle::object_malloc(sizes[i % 5]));
    }
    // What the last refills left in the thread cache goes back first, in both runs.
    lifecycle::allocator_flush_thread_cache();
    std::vector<void*> odd;
    std::vector<void*> even;
    for (std::size_t i = 0; i < blocks.size(); ++i) (i % 2 != 0 ? odd : even).push_back(blocks[i]);
    auto free_all = [many](const std::vector<void*>& v) {
      if (many) {
        lifecycle::object_free_many(v.data(), v.size());
      } else {
        for (void* p : v) lifecycle::object_free(p);
        lifecycle::allocator_flush_thread_cache();
      }
    };
    std::vector<state> states;
    free_all(odd);
    states.push_back(snapshot());
    free_all(even);
    states.push_back(snapshot());
    lifecycle::tracemalloc::stop();
    return states;
  };
  const auto one_by_one = run(false);
  const auto at_once = run(true);
  REQUIRE(one_by_one.size() == 2);
  REQUIRE(at_once.size() == 2);
  CHECK(one_by_one[0].stats.arenas_current > 3);
  CHECK(one_by_one[1].stats.arenas_current == 1);
  CHECK(one_by_one[1].in_use == 0);
  CHECK(one_by_one[1].traced == 0);
  for (std::size_t step = 0; step < 2; ++step) {
    INFO("step " << step);
    const auto& a = one_by_one[step];
    const auto& b = at_once[step];
    CHECK(b.in_use == a.in_use);
    CHECK(b.traced == a.traced);
    CHECK(b.stats.arenas_current == a.stats.arenas_current);
    CHECK(b.stats.arenas_reclaimed == a.stats.arenas_reclaimed);
    CHECK(b.stats.pools_free == a.stats.pools_free);
    CHECK(b.stats.thread_cached_blocks == 0);
    CHECK(b.stats.large_blocks_in_use == a.stats.large_blocks_in_use);
    for (std::size_t c = 0; c < lifecycle::size_class_count; ++c) {
      INFO("class " << c);
      CHECK(b.stats.classes[c].pools == a.stats.classes[c].pools);
      CHECK(b.stats.classes[c].blocks_in_use == a.stats.classes[c].blocks_in_use);
      CHECK(b.stats.classes[c].available_blocks == a.stats.classes[c].available_blocks);
    }
  }
  // The freed blocks are handed out again.
  void* again = lifecycle::object_malloc(48);
  CHECK(lifecycle::allocator_owns(again));
  lifecycle::object_free(again);
}

TEST_CASE("the classic preset uses 256 KiB arenas and 4 KiB pools, and re-initialising works") {
  constexpr auto classic = allocator_config::preset(lifecycle::allocator_preset::classic);
  STATIC_REQUIRE(classic.arena_size == 256 * 1024);
  STATIC_REQUIRE(classic.pool_size == 4 * 1024);
  for (int round = 0; round < 3; ++round) {
    fresh_allocator(round % 2 == 0 ? classic : allocator_config{});
    const auto config = lifecycle::allocator_current_config();
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(lifecycle::object_malloc(512));
    lifecycle::allocator_flush_thread_cache();
    const auto stats = lifecycle::allocator_get_stats();
    const std::size_t per_pool = (config.pool_size - 48) / 512;  // 7 classic, 31 modern
    CHECK(stats.classes[31].pools == (100 + per_pool - 1) / per_pool);
    CHECK(arena_of(blocks[0]) % config.arena_size == 0);
    CHECK(pool_of(blocks[0]) % config.pool_size == 0);
    for (void* p : blocks) lifecycle::object_free(p);
  }
  CHECK(lifecycle::allocator_current_config().arena_size == 256 * 1024);
}

TEST_CASE("allocator_init rejects bad configurations and blocks still in use") {
  fresh_allocator();
  CHECK_THROWS_AS(lifecycle::allocator_init({1000, 4096}), std::invalid_argument);
  CHECK_THROWS_AS(lifecycle::allocator_init({1 << 20, 2048}), std::invalid_argument);
  CHECK_THROWS_AS(lifecycle::allocator_init({1 << 20, 512 << 10}), std::invalid_argument);
  void* p = lifecycle::object_malloc(8);
  CHECK_THROWS_AS(lifecycle::allocator_init({}), std::logic_error);
  lifecycle::object_free(p);
  CHECK_NOTHROW(lifecycle::allocator_init(
      allocator_config::preset(lifecycle::allocator_preset::classic)));
}

TEST_CASE("allocator_release reports exactly the blocks still in use and unmaps every arena") {
  fresh_allocator();
  std::vector<void*> kept;
  std::vector<void*> freed;
  for (int i = 0; i < 300; ++i) {
    void* p = lifecycle::object_malloc(24 + i % 200);
    (i % 3 == 0 ? kept : freed).push_back(p);
  }
  void* large = lifecycle::object_malloc(4000);
  for (void* p : freed) lifecycle::object_free(p);
  const std::uintptr_t arena = arena_of(kept.front());

  const auto report = lifecycle::allocator_release();
  CHECK(report.blocks_in_use == kept.size() + 1);
  CHECK(report.small_blocks_in_use == kept.size());
  CHECK(report.arenas_unmapped == 1);
  REQUIRE(report.leaks.size() == kept.size());
  std::set<const void*> expected(kept.begin(), kept.end());
  std::set<const void*> reported;
  for (const auto& leak : report.leaks) {
    reported.insert(leak.address);
    CHECK(leak.traceback.empty());  // not traced
  }
  CHECK(reported == expected);
  CHECK_FALSE(report.leaks_truncated);
  CHECK_FALSE(range_mapped(arena, lifecycle::allocator_config{}.arena_size));
  // Large blocks stay with the system allocator and can still be freed.
  lifecycle::object_free(large);

  // Listing is capped; the count is not.
  std::vector<void*> more;
  for (int i = 0; i < 20; ++i) more.push_back(lifecycle::object_malloc(64));
  const auto capped = lifecycle::allocator_release(5);
  CHECK(capped.blocks_in_use == 20);
  CHECK(capped.leaks.size() == 5);
  CHECK(capped.leaks_truncated);
}

TEST_CASE("arenas share a transparent huge page where the OS offers them, and each is still unmapped when wholly free") {
  const std::size_t huge_page = expected_huge_page_size();
  fresh_allocator(allocator_config{.huge_pages = false});
  const std::size_t arena_size = lifecycle::allocator_current_config().arena_size;
  CHECK(lifecycle::allocator_get_stats().region_size == arena_size);
  CHECK_FALSE(lifecycle::allocator_current_config().huge_pages);

  fresh_allocator();
  const std::size_t region_size = lifecycle::allocator_get_stats().region_size;
  CHECK(lifecycle::allocator_current_config().huge_pages);
  if (huge_page == 0) {
    CHECK(region_size == arena_size);
    return;  // nothing else differs without huge pages: the other tests cover it
  }
  REQUIRE(region_size == std::max(arena_size, huge_page));
  const std::size_t arenas_per_region = region_size / arena_size;
  REQUIRE(arenas_per_region == 2);  // 1 MiB arenas, 2 MiB pages (x86-64, arm64 with 4 KiB pages)
  const std::size_t side_tables = side_table_bytes(region_size);
  auto region_of = [&](std::uintptr_t arena) { return arena & ~(std::uintptr_t{region_size} - 1); };

  // Three arenas: A and B fill one region, in address order; C starts the next one.
  std::vector<void*> blocks;
  const std::vector<std::uintptr_t> arenas = fill_arenas(3, blocks);
  REQUIRE(arenas.size() == 3);
  const std::uintptr_t a = arenas[0], b = arenas[1], c = arenas[2];
  // C has one pool in use (the thread cache's refill took 16 blocks, a pool holds 31): as A
  // empties, it never has more free pools than C, so it stays ahead of C in the usable list and
  // is unmapped (only the last usable arena is kept).
  REQUIRE(lifecycle::allocator_get_stats().pools_free == 63);
  CHECK(a % region_size == 0);
  CHECK(b == a + arena_size);
  CHECK(c % region_size == 0);
  CHECK(region_of(c) != region_of(a));
  // The kernel may back the range with small pages when it has no free huge page, but the
  // advice itself is certain: the mapping is eligible (smaps says so since Linux 5.0).
  if (smaps_field(a, "THPeligible:") != -1) {
    CHECK(smaps_field(a, "THPeligible:") == 1);
    CHECK(smaps_field(b, "THPeligible:") == 1);
  }

  auto free_arena_blocks = [&](std::uintptr_t arena) {
    for (void*& p : blocks) {
      if (p != nullptr && arena_of(p) == arena) {
        lifecycle::object_free(p);
        p = nullptr;
      }
    }
    lifecycle::allocator_flush_thread_cache();
  };
  // A wholly free: unmapped at once, as in CPython, though B shares its huge page.
  free_arena_blocks(a);
  CHECK_FALSE(range_mapped(a, arena_size));
  CHECK(range_mapped(b, arena_size));
  CHECK(range_mapped(a + region_size, side_tables));
  CHECK(lifecycle::allocator_owns(reinterpret_cast<void*>(b)));
  CHECK_FALSE(lifecycle::allocator_owns(reinterpret_cast<void*>(a)));
  // B wholly free too: nothing of the region is left, side tables included.
  free_arena_blocks(b);
  CHECK_FALSE(range_mapped(a, region_size + side_tables));
  auto stats = lifecycle::allocator_get_stats();
  CHECK(stats.arenas_reclaimed == 2);
  CHECK(stats.arenas_current == 1);

  // C's region still has a never-used arena; the next arena is that one, not a new region.
  do {
    blocks.push_back(lifecycle::object_malloc(512));
  } while (arena_of(blocks.back()) == c);
  CHECK(arena_of(blocks.back()) == c + arena_size);
  CHECK(lifecycle::allocator_get_stats().arenas_allocated_total == 4);

  // Release unmaps every region whole.
  const auto report = lifecycle::allocator_release();
  CHECK(report.arenas_unmapped == 2);
  CHECK_FALSE(range_mapped(region_of(c), region_size + side_tables));
}

TEST_CASE("a region whose arenas are all freed gives back its never-used ones too") {
  if (!regions_hold_several_arenas()) return;
  auto count_live = [](const std::vector<void*>& blocks) {
    return static_cast<std::size_t>(
        std::count_if(blocks.begin(), blocks.end(), [](void* p) { return p != nullptr; }));
  };
  auto free_where = [](std::vector<void*>& blocks, auto predicate) {
    for (void*& p : blocks) {
      if (p != nullptr && predicate(p)) {
        lifecycle::object_free(p);
        p = nullptr;
      }
    }
    lifecycle::allocator_flush_thread_cache();
  };
  // Classic arenas (256 KiB): eight to a 2 MiB region. Two arenas in use, six never used; a
  // release unmaps all of it.
  {
    fresh_allocator(allocator_config::preset(lifecycle::allocator_preset::classic));
    const std::size_t arena_size = lifecycle::allocator_current_config().arena_size;
    const std::size_t region_size = lifecycle::allocator_get_stats().region_size;
    REQUIRE(region_size == std::size_t{2} << 20);
    std::vector<void*> blocks;
    fill_arenas(2, blocks);
    const std::uintptr_t region = arena_of(blocks.front());
    REQUIRE(region % region_size == 0);
    std::set<std::uintptr_t> live_arenas;
    for (void* p : blocks) live_arenas.insert(arena_of(p));
    CHECK(live_arenas == std::set<std::uintptr_t>{region, region + arena_size});
    CHECK(range_mapped(region + 7 * arena_size, arena_size));  // never used, mapped
    free_where(blocks, [&](void* p) { return arena_of(p) == region + arena_size; });
    const auto report = lifecycle::allocator_release();
    CHECK(report.arenas_unmapped == 2);  // the second is kept: the last usable arena
    CHECK(report.blocks_in_use == count_live(blocks));
    CHECK_FALSE(range_mapped(region, region_size + side_table_bytes(region_size)));
  }
  // Default arenas (1 MiB), two to a region. A and B fill the first region; C, with a dozen pools
  // in use, starts the second, whose other arena is never used.
  fresh_allocator();
  const std::size_t arena_size = lifecycle::allocator_current_config().arena_size;
  const std::size_t region_size = lifecycle::allocator_get_stats().region_size;
  const std::size_t side_tables = side_table_bytes(region_size);
  std::vector<void*> blocks;
  fill_arenas(3, blocks);
  for (int i = 0; i < 12 * 31; ++i) blocks.push_back(lifecycle::object_malloc(512));
  REQUIRE(lifecycle::allocator_get_stats().arenas_current == 3);
  // C has at least two pools in use: A, emptying, overtakes it in the usable list (fewest free
  // pools first) and ends last, where a wholly free arena is kept.
  REQUIRE(lifecycle::allocator_get_stats().pools_free <= 62);
  const std::uintptr_t a = arena_of(blocks.front());
  const std::uintptr_t c = arena_of(blocks.back());
  REQUIRE(c % region_size == 0);
  REQUIRE(c != a);
  CHECK(range_mapped(c + arena_size, arena_size));  // the never-used one
  // A wholly free is the last usable arena: kept, as CPython keeps one.
  free_where(blocks, [&](void* p) { return arena_of(p) == a; });
  CHECK(range_mapped(a, arena_size));
  // C wholly free, not last: unmapped, and with it its region's never-used arena and side tables.
  free_where(blocks, [&](void* p) { return arena_of(p) == c; });
  CHECK_FALSE(range_mapped(c, region_size + side_tables));
  const auto stats = lifecycle::allocator_get_stats();
  CHECK(stats.arenas_current == 2);
  CHECK(stats.arenas_reclaimed == 1);
  // The next arena starts a new region.
  fill_arenas(3, blocks);
  CHECK(lifecycle::allocator_get_stats().arenas_allocated_total == 4);
  free_where(blocks, [](void*) { return true; });
  lifecycle::allocator_release();
}

TEST_CASE("a freed arena's share of its region's trace table is given back while tracing") {
  if (!regions_hold_several_arenas()) return;  // one arena per region: its table goes with it
  fresh_allocator();
  const std::size_t arena_size = lifecycle::allocator_current_config().arena_size;
  const std::size_t region_size = lifecycle::allocator_get_stats().region_size;
  REQUIRE(region_size == 2 * arena_size);
  lifecycle::tracemalloc::start();
  // A and B fill one region; C starts the next.
  std::vector<void*> blocks;
  fill_arenas(3, blocks);
  const std::uintptr_t a = arena_of(blocks.front());
  REQUIRE(a % region_size == 0);
  // C has one pool in use, so A, emptying, stays ahead of it and is unmapped (see the first
  // huge-page test).
  REQUIRE(lifecycle::allocator_get_stats().pools_free == 63);
  // The region's trace table follows its arenas: A's share first (4 bytes per 16), then B's.
  const std::uintptr_t share_a = a + region_size;
  const std::uintptr_t share_b = share_a + arena_size / 4;
  const long pages_per_share = static_cast<long>(arena_size / 4 / 4096);
  // A traced 512-byte block every 128 bytes of table: every page of both shares is written.
  CHECK(resident_pages(share_a, arena_size / 4) == pages_per_share);
  CHECK(resident_pages(share_b, arena_size / 4) == pages_per_share);
  for (void*& p : blocks) {
    if (arena_of(p) == a) {
      lifecycle::object_free(p);
      p = nullptr;
    }
  }
  lifecycle::allocator_flush_thread_cache();
  REQUIRE_FALSE(range_mapped(a, arena_size));
  CHECK(resident_pages(share_a, arena_size / 4) == 0);
  CHECK(resident_pages(share_b, arena_size / 4) == pages_per_share);
  lifecycle::tracemalloc::stop();
  for (void* p : blocks) lifecycle::object_free(p);
  lifecycle::allocator_release();
}

TEST_CASE("arenas of a huge page or more are each advised as huge pages") {
  const std::size_t huge_page = expected_huge_page_size();
  for (const std::size_t arena_size : {std::size_t{2} << 20, std::size_t{4} << 20}) {
    INFO("arena_size " << arena_size);
    fresh_allocator(allocator_config{.arena_size = arena_size, .pool_size = std::size_t{16} << 10});
    void* block = lifecycle::object_malloc(64);
    const std::uintptr_t arena = arena_of(block);
    CHECK(lifecycle::allocator_get_stats().region_size == arena_size);  // one arena per region
    const long eligible = smaps_field(arena, "THPeligible:");
    if (huge_page != 0 && eligible != -1) CHECK(eligible == 1);
    lifecycle::object_free(block);
  }
  fresh_allocator();
}

// The allocator and tracer benchmark: one mixed workload of 16..512-byte allocations and frees,
// run through lifecycle::object_malloc, glibc malloc (the system allocator) and mimalloc, then
// through object_malloc with the tracer on (1 and 25 frames, under 30 scoped frames).
// items_per_second counts allocate+free pairs.
//
// 1024 blocks are alive at any time; each step frees a randomly chosen one and allocates a block
// of a random size (uniform 16..512) in its place. The BM_mixed_alloc* benchmarks initialise
// every new object (memset of its size), as any program does; the BM_bare_alloc* ones write only
// its first word, which isolates the allocator's own cost and makes every per-call overhead
// (the tracer's included) look larger. Measure in the release preset:
//
//   cmake --preset release && cmake --build --preset release --target alloc_bench
//   build/release/tests/bench/alloc_bench --benchmark_repetitions=3
//
// mimalloc is loaded with dlopen(RTLD_LOCAL) and called through mi_malloc/mi_free: Debian's
// libmimalloc.so exports malloc/free, so linking it would replace the system allocator for the
// whole process and the glibc figure would be mimalloc's.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "lifecycle/allocator.hpp"
#include "lifecycle/frames.hpp"
#include "lifecycle/tracemalloc.hpp"

namespace {

constexpr std::size_t live_blocks = 1024;     // blocks alive at any moment
constexpr std::size_t ops_per_iteration = 1024;
constexpr std::size_t table_size = 1 << 16;   // pre-drawn (slot, size) pairs, replayed cyclically
constexpr int frame_depth = 30;               // deeper than the largest traceback limit

using malloc_fn = void* (*)(std::size_t);
using free_fn = void (*)(void*);
constinit malloc_fn g_mi_malloc = nullptr;
constinit free_fn g_mi_free = nullptr;

struct workload {
  std::vector<std::uint32_t> slots;
  std::vector<std::uint32_t> sizes;
};

// The same pseudo-random sequence for every allocator: uniform sizes in 16..512 and a uniformly
// chosen live block to replace, so frees come in an order unrelated to allocation order.
workload make_workload() {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<std::uint32_t> size(16, 512);
  std::uniform_int_distribution<std::uint32_t> slot(0, live_blocks - 1);
  workload w;
  w.slots.resize(table_size);
  w.sizes.resize(table_size);
  for (std::size_t i = 0; i < table_size; ++i) {
    w.slots[i] = slot(rng);
    w.sizes[i] = size(rng);
  }
  return w;
}

enum class touch { initialise, first_word };

template <touch Touch, class Alloc, class Free>
void run_mixed(benchmark::State& state, Alloc allocate, Free release) {
  const workload w = make_workload();
  std::vector<void*> live(live_blocks);
  for (std::size_t i = 0; i < live_blocks; ++i) live[i] = allocate(w.sizes[i]);
  std::size_t k = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < ops_per_iteration; ++i) {
      const std::uint32_t slot = w.slots[k];
      const std::uint32_t size = w.sizes[k];
      k = (k + 1) & (table_size - 1);
      release(live[slot]);
      void* p = allocate(size);
      if constexpr (Touch == touch::initialise) {
        std::memset(p, static_cast<int>(k), size);
      } else {
        *static_cast<std::uint64_t*>(p) = k;
      }
      live[slot] = p;
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ops_per_iteration));
  for (void* p : live) release(p);
}

template <touch Touch>
void bm_lifecycle(benchmark::State& state) {
  run_mixed<Touch>(
      state, [](std::size_t n) { return lifecycle::object_malloc(n); },
      [](void* p) { lifecycle::object_free(p); });
}

template <touch Touch>
void bm_glibc(benchmark::State& state) {
  run_mixed<Touch>(
      state, [](std::size_t n) { return std::malloc(n); }, [](void* p) { std::free(p); });
}

template <touch Touch>
void bm_mimalloc(benchmark::State& state) {
  run_mixed<Touch>(
      state, [](std::size_t n) { return g_mi_malloc(n); }, [](void* p) { g_mi_free(p); });
}

void nested_frames(int depth, const std::function<void()>& body) {
  lifecycle::scoped_frame frame("nested_frames");
  if (depth == 0) {
    body();
  } else {
    nested_frames(depth - 1, body);
  }
}

// The workload under `frame_depth` scoped frames, traced with range(0) frames.
template <touch Touch>
void bm_traced(benchmark::State& state) {
  nested_frames(frame_depth, [&] {
    lifecycle::tracemalloc::start(static_cast<unsigned>(state.range(0)));
    bm_lifecycle<Touch>(state);
    lifecycle::tracemalloc::stop();
  });
}

bool load_mimalloc() {
#ifdef AFTERLIFE_MIMALLOC_LIBRARY
  void* handle = dlopen(AFTERLIFE_MIMALLOC_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    std::fprintf(stderr, "alloc_bench: no mimalloc: %s\n", dlerror());
    return false;
  }
  g_mi_malloc = reinterpret_cast<malloc_fn>(dlsym(handle, "mi_malloc"));
  g_mi_free = reinterpret_cast<free_fn>(dlsym(handle, "mi_free"));
  return g_mi_malloc != nullptr && g_mi_free != nullptr;
#else
  std::fprintf(stderr, "alloc_bench: built without mimalloc (libmimalloc-dev)\n");
  return false;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const bool have_mimalloc = load_mimalloc();
  benchmark::RegisterBenchmark("BM_mixed_alloc/lifecycle", bm_lifecycle<touch::initialise>);
  benchmark::RegisterBenchmark("BM_mixed_alloc/glibc", bm_glibc<touch::initialise>);
  if (have_mimalloc) {
    benchmark::RegisterBenchmark("BM_mixed_alloc/mimalloc", bm_mimalloc<touch::initialise>);
  }
  benchmark::RegisterBenchmark("BM_mixed_alloc_traced", bm_traced<touch::initialise>)
      ->Arg(1)
      ->Arg(25);
  benchmark::RegisterBenchmark("BM_bare_alloc/lifecycle", bm_lifecycle<touch::first_word>);
  benchmark::RegisterBenchmark("BM_bare_alloc/glibc", bm_glibc<touch::first_word>);
  if (have_mimalloc) {
    benchmark::RegisterBenchmark("BM_bare_alloc/mimalloc", bm_mimalloc<touch::first_word>);
  }
  benchmark::RegisterBenchmark("BM_bare_alloc_traced", bm_traced<touch::first_word>)
      ->Arg(1)
      ->Arg(25);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

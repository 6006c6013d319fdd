// Collector throughput against CPython 3.11 (tests/bench/gc_cpython.py builds the same graphs):
// - BM_collect_cycles/N: N objects in 2-cycles (a.other = b, b.other = a), one gc.collect().
//   The objects are a registered user type with one reference field, the counterpart of
//   CPython's `class Node: __slots__ = ('other',)` (one allocation, one reference each).
// - BM_collect_list_cycles/N: the same with lists ([b] / [a]), two allocations per object.
// - BM_collect_mixed/N: N objects in 2-cycles of which every 10th pair is kept alive by a list:
//   the general path (no "everything is garbage" shortcut); ns per object in the collected set.
// - BM_young_pause/N: collect(0) with 700 young objects (350 garbage 2-cycles) beside N old ones.
// - BM_collect_cycles_small_pages/N: BM_collect_cycles with the allocator's huge pages turned
//   off (allocator_config::huge_pages), to show what they are worth: CPython's arenas have
//   small pages.
// Timing covers the collection only (building the graph is excluded), destruction included.
#include "gc/gc_shutdown.hpp"
#include "lifecycle/allocator.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/types.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <ctime>
#include <exception>
#include <vector>

namespace {

namespace gc = lifecycle::gc;
using lifecycle::ref;

// Thread CPU time: unlike wall time it does not count time the thread spent preempted, which
// matters on a shared machine. gc_cpython.py reports the same pair.
double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct node : lifecycle::object {
  ref other;
};

void node_traverse(lifecycle::object* self, lifecycle::visit_fn visit, void* arg) {
  auto* n = static_cast<node*>(self);
  if (n->other) visit(n->other.get(), arg);
}
void node_clear(lifecycle::object* self) noexcept { static_cast<node*>(self)->other.reset(); }

constinit lifecycle::type_object node_type = [] {
  auto type = lifecycle::make_type<node>("Node", lifecycle::type_flags::gc);
  type.traverse = &node_traverse;
  type.clear = &node_clear;
  return type;
}();

void fresh_gc() {
  gc::detail::collect_no_fail();
  gc::detail::reset_state();
  lifecycle::register_type(node_type);
  // Automatic collections would interleave with building the graph.
  gc::disable();
}

void make_node_pairs(std::int64_t objects) {
  for (std::int64_t i = 0; i < objects / 2; ++i) {
    auto a = lifecycle::new_object<node>(node_type);
    auto b = lifecycle::new_object<node>(node_type);
    a->other = b;
    b->other = a;
  }
}

void make_list_pairs(std::int64_t objects) {
  for (std::int64_t i = 0; i < objects / 2; ++i) {
    auto a = lifecycle::new_list();
    auto b = lifecycle::new_list();
    a->append(b);
    b->append(a);
  }
}

template <void (*make)(std::int64_t)>
void collect_cycles(benchmark::State& state) {
  fresh_gc();
  const std::int64_t objects = state.range(0);
  double total_ns = 0;
  double total_cpu_ns = 0;
  for (auto _ : state) {
    make(objects);
    const double cpu_start = thread_cpu_ns();
    const auto start = std::chrono::steady_clock::now();
    const std::size_t collected = gc::collect();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    total_cpu_ns += thread_cpu_ns() - cpu_start;
    if (collected != static_cast<std::size_t>(objects)) {
      state.SkipWithError("collect() did not find every object");
      break;
    }
    state.SetIterationTime(elapsed.count());
    total_ns += elapsed.count() * 1e9;
  }
  const auto measured = static_cast<double>(objects * static_cast<std::int64_t>(state.iterations()));
  state.counters["ns_per_object"] = total_ns / measured;
  state.counters["cpu_ns_per_object"] = total_cpu_ns / measured;
  gc::enable();
}

void BM_collect_cycles(benchmark::State& state) { collect_cycles<make_node_pairs>(state); }

// The allocator can be reconfigured only with nothing in use: after fresh_gc's collection.
bool configure_allocator(benchmark::State& state, bool huge_pages) {
  try {
    lifecycle::allocator_init(lifecycle::allocator_config{.huge_pages = huge_pages});
    return true;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

void BM_collect_cycles_small_pages(benchmark::State& state) {
  fresh_gc();
  if (!configure_allocator(state, false)) return;
  collect_cycles<make_node_pairs>(state);
  configure_allocator(state, true);
}

void BM_collect_list_cycles(benchmark::State& state) { collect_cycles<make_list_pairs>(state); }

void BM_collect_mixed(benchmark::State& state) {
  fresh_gc();
  const std::int64_t objects = state.range(0);
  const std::int64_t kept = objects / 10;
  double total_ns = 0;
  double total_cpu_ns = 0;
  for (auto _ : state) {
    auto roots = lifecycle::new_list();
    for (std::int64_t i = 0; i < objects / 2; ++i) {
      auto a = lifecycle::new_object<node>(node_type);
      auto b = lifecycle::new_object<node>(node_type);
      a->other = b;
      b->other = a;
      if (i % 10 == 0) roots->append(a);
    }
    const double cpu_start = thread_cpu_ns();
    const auto start = std::chrono::steady_clock::now();
    const std::size_t collected = gc::collect();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    total_cpu_ns += thread_cpu_ns() - cpu_start;
    if (collected != static_cast<std::size_t>(objects - kept)) {
      state.SkipWithError("collect() did not find exactly the unreferred pairs");
      break;
    }
    state.SetIterationTime(elapsed.count());
    total_ns += elapsed.count() * 1e9;
    roots.reset();  // untimed: the survivors go before the next graph is built
    gc::collect();
  }
  // The set scanned: every object plus the roots list.
  const auto measured = static_cast<double>((objects + 1) * static_cast<std::int64_t>(state.iterations()));
  state.counters["ns_per_object"] = total_ns / measured;
  state.counters["cpu_ns_per_object"] = total_cpu_ns / measured;
  gc::enable();
}

void BM_young_pause(benchmark::State& state) {
  fresh_gc();
  const std::int64_t old_objects = state.range(0);
  constexpr std::int64_t young_objects = 700;
  // Old objects: kept alive, promoted to the oldest generation by one full collection.
  std::vector<ref> old;
  old.reserve(static_cast<std::size_t>(old_objects));
  for (std::int64_t i = 0; i < old_objects; ++i)
    old.push_back(lifecycle::new_object<node>(node_type));
  gc::collect();
  double total_ns = 0;
  for (auto _ : state) {
    make_node_pairs(young_objects);
    const auto start = std::chrono::steady_clock::now();
    const std::size_t collected = gc::collect(0);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    if (collected != static_cast<std::size_t>(young_objects)) {
      state.SkipWithError("collect(0) did not find the young garbage");
      break;
    }
    state.SetIterationTime(elapsed.count());
    total_ns += elapsed.count() * 1e9;
  }
  state.counters["pause_ns"] = total_ns / static_cast<double>(state.iterations());
  state.counters["ns_per_object"] = total_ns / static_cast<double>(young_objects * state.iterations());
  old.clear();
  gc::enable();
}

}  // namespace

BENCHMARK(BM_collect_cycles)->Arg(1000000)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_collect_list_cycles)->Arg(1000000)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_collect_mixed)->Arg(1000000)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_young_pause)->Arg(1000000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_collect_cycles_small_pages)->Arg(1000000)->UseManualTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

// finalize_bench N: N lists [int, str, dict] reachable from __main__'s globals, then one
// finalize() (all ten phases: the modules die, the collector runs, the arenas are unmapped).
// Prints `finalize_ms=X` (wall) and `finalize_cpu_ms=Y` (process CPU time, which a loaded
// machine disturbs less), best of 3 runtime cycles each; then, when python3 is on PATH, runs
// finalize_cpython.py N for CPython's figures and prints both side by side with the ratios.
// Also prints `phase_ms NAME=X cpu=Y` for every phase of the best run (wall time and thread CPU
// time between its begin and end events), to show where the time goes.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "lifecycle/module.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/types.hpp"

namespace {

using namespace lifecycle;

void build_heap(long n) {
  auto data = new_list();
  for (long i = 0; i < n; ++i) {
    auto row = new_list();
    row->append(new_int(i));
    row->append(new_str(std::to_string(i)));
    row->append(new_dict());
    data->append(std::move(row));
  }
  main_module()->dict->set("data", std::move(data));
}

struct figures {
  double wall_ms = -1;
  double cpu_ms = -1;
  double phase_ms[phase_count] = {};
  double phase_cpu_ms[phase_count] = {};
};

using bench_clock = std::chrono::steady_clock;

double thread_cpu_ms() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

struct phase_timer {
  bench_clock::time_point begun[phase_count];
  double begun_cpu_ms[phase_count];
  figures* f;
};

void time_phase(void* context, phase p, phase_event e) noexcept {
  auto* timer = static_cast<phase_timer*>(context);
  const auto index = static_cast<std::size_t>(p);
  if (e == phase_event::begin) {
    timer->begun[index] = bench_clock::now();
    timer->begun_cpu_ms[index] = thread_cpu_ms();
  } else {
    const std::chrono::duration<double, std::milli> took = bench_clock::now() - timer->begun[index];
    timer->f->phase_ms[index] = took.count();
    timer->f->phase_cpu_ms[index] = thread_cpu_ms() - timer->begun_cpu_ms[index];
  }
}

figures finalize_once(long n) {
  figures f;
  initialize();
  build_heap(n);
  phase_timer timer{{}, {}, &f};
  add_phase_observer(&time_phase, &timer);
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu_start = std::clock();
  if (finalize() != 0) std::fprintf(stderr, "finalize reported a failure\n");
  std::clock_t cpu_end = std::clock();
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  f.wall_ms = took.count();
  f.cpu_ms = 1000.0 * static_cast<double>(cpu_end - cpu_start) / CLOCKS_PER_SEC;
  return f;
}

// CPython's figures from finalize_cpython.py; negative when it cannot run.
figures cpython_figures(long n) {
  std::string command = fmt::format("python3 '{}' {} 2>/dev/null", FINALIZE_CPYTHON_SCRIPT, n);
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  figures f;
  if (std::fscanf(pipe, "finalize_ms=%lf finalize_cpu_ms=%lf", &f.wall_ms, &f.cpu_ms) != 2) f = {};
  if (::pclose(pipe) != 0) f = {};
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  long n = argc == 2 ? std::strtol(argv[1], nullptr, 10) : 0;
  if (n <= 0) {
    std::fprintf(stderr, "usage: finalize_bench N\n");
    return 2;
  }
  figures best = finalize_once(n);
  double best_cpu_ms = best.cpu_ms;
  for (int i = 1; i < 3; ++i) {
    figures next = finalize_once(n);
    best_cpu_ms = std::min(best_cpu_ms, next.cpu_ms);
    if (next.wall_ms < best.wall_ms) best = next;
  }
  best.cpu_ms = best_cpu_ms;
  std::printf("finalize_ms=%.1f\nfinalize_cpu_ms=%.1f\n", best.wall_ms, best.cpu_ms);
  for (std::size_t i = 0; i < phase_count; ++i) {
    std::printf("phase_ms %s=%.2f cpu=%.2f\n",
                std::string(phase_name(static_cast<phase>(i))).c_str(), best.phase_ms[i],
                best.phase_cpu_ms[i]);
  }
  std::fflush(stdout);
  figures cpython = cpython_figures(n);
  if (cpython.wall_ms < 0) {
    std::printf("cpython_finalize_ms=unavailable (python3 not found or failed)\n");
    return 0;
  }
  std::printf("cpython_finalize_ms=%.1f\ncpython_finalize_cpu_ms=%.1f\n", cpython.wall_ms,
              cpython.cpu_ms);
  std::printf("speedup=%.1fx\nspeedup_cpu=%.1fx\n", cpython.wall_ms / best.wall_ms,
              cpython.cpu_ms / best.cpu_ms);
  return 0;
}

// finalize_bench N: N lists [int, str, dict] reachable from __main__'s globals, then one
// finalize() (all ten phases: the modules die, the collector runs, the arenas are unmapped).
// Prints `finalize_ms=X` (wall) and `finalize_cpu_ms=Y` (process CPU time, which a loaded
// machine disturbs less), best of 3 runtime cycles each; then, when python3 is on PATH, runs
// finalize_cpython.py N for CPython's figures and prints both side by side with the ratios.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "lifecycle/module.hpp"
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
};

figures finalize_once(long n) {
  initialize();
  build_heap(n);
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu_start = std::clock();
  if (finalize() != 0) std::fprintf(stderr, "finalize reported a failure\n");
  std::clock_t cpu_end = std::clock();
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  return {took.count(), 1000.0 * static_cast<double>(cpu_end - cpu_start) / CLOCKS_PER_SEC};
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
  for (int i = 1; i < 3; ++i) {
    figures next = finalize_once(n);
    best.wall_ms = std::min(best.wall_ms, next.wall_ms);
    best.cpu_ms = std::min(best.cpu_ms, next.cpu_ms);
  }
  std::printf("finalize_ms=%.1f\nfinalize_cpu_ms=%.1f\n", best.wall_ms, best.cpu_ms);
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

// finalize_bench N: N lists [int, str, dict] reachable from __main__'s globals, then one
// finalize() (all ten phases: the modules die, the collector runs, the arenas are unmapped).
// Prints `finalize_ms=X` (best of 3 runtime cycles), then, when python3 is on PATH, runs
// finalize_cpython.py N for CPython's figure and prints both side by side with the ratio.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

double finalize_ms(long n) {
  initialize();
  build_heap(n);
  auto start = std::chrono::steady_clock::now();
  if (finalize() != 0) std::fprintf(stderr, "finalize reported a failure\n");
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  return took.count();
}

// CPython's figure from finalize_cpython.py, or a negative number when it cannot run.
double cpython_finalize_ms(long n) {
  std::string command =
      fmt::format("python3 '{}' {} 2>/dev/null", FINALIZE_CPYTHON_SCRIPT, n);
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  double ms = -1;
  if (std::fscanf(pipe, "finalize_ms=%lf", &ms) != 1) ms = -1;
  if (::pclose(pipe) != 0) ms = -1;
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  long n = argc == 2 ? std::strtol(argv[1], nullptr, 10) : 0;
  if (n <= 0) {
    std::fprintf(stderr, "usage: finalize_bench N\n");
    return 2;
  }
  double best = finalize_ms(n);
  for (int i = 1; i < 3; ++i) best = std::min(best, finalize_ms(n));
  std::printf("finalize_ms=%.1f\n", best);
  std::fflush(stdout);
  double cpython = cpython_finalize_ms(n);
  if (cpython < 0) {
    std::printf("cpython_finalize_ms=unavailable (python3 not found or failed)\n");
    return 0;
  }
  std::printf("cpython_finalize_ms=%.1f\nspeedup=%.1fx\n", cpython, cpython / best);
  return 0;
}

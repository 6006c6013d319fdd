// What reporting creations costs a program that makes many: 10,000 shm_open + shm_unlink pairs
// (shm_pairs.c) run bare, under this build's `afterlife run` and under a baseline afterlife
// (e.g. main's, built in a directory of its own), interleaved, side by side. Goal (issue 13):
// this build at most 2x the baseline.
//
//   build/release/tests/bench/shm_churn [RUNS] [BASELINE_AFTERLIFE]
#include "spawn_wait.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

double run_ms(const std::vector<std::string>& argv) {
  auto start = std::chrono::steady_clock::now();
  int status = afterlife_bench::spawn_and_wait(argv);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(argv[0] + " failed");
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 10;
  std::string baseline = argc > 2 ? argv[2] : "";
  std::string pairs = "10000";
  // Each afterlife in a runtime directory of its own: an older one may not accept the modes a
  // newer one gives the directory.
  char ours_dir[] = "/dev/shm/afterlife-bench-ours-XXXXXX";
  char base_dir[] = "/dev/shm/afterlife-bench-base-XXXXXX";
  if (mkdtemp(ours_dir) == nullptr || mkdtemp(base_dir) == nullptr) {
    fmt::print(stderr, "shm_churn: mkdtemp failed\n");
    return 1;
  }
  int rc = 0;
  try {
    std::vector<double> bare, ours, base;
    for (int i = 0; i < runs; ++i) {
      bare.push_back(run_ms({SHM_PAIRS_EXE, pairs}));
      setenv("AFTERLIFE_RUNTIME_DIR", ours_dir, 1);
      ours.push_back(run_ms({AFTERLIFE_EXE, "run", "--", SHM_PAIRS_EXE, pairs}));
      setenv("AFTERLIFE_RUNTIME_DIR", base_dir, 1);
      if (!baseline.empty()) base.push_back(run_ms({baseline, "run", "--", SHM_PAIRS_EXE, pairs}));
    }
    fmt::print("shm_churn: {} shm_open + shm_unlink pairs, {} runs each (interleaved), medians\n",
               pairs, runs);
    fmt::print("  bare                     {:8.1f} ms\n", median(bare));
    fmt::print("  this afterlife run       {:8.1f} ms  ({:.2f}x bare)\n", median(ours),
               median(ours) / median(bare));
    if (!base.empty())
      fmt::print("  baseline afterlife run   {:8.1f} ms  ({:.2f}x bare)\n  this / baseline: {:.2f}x\n",
                 median(base), median(base) / median(bare), median(ours) / median(base));
  } catch (const std::exception& e) {
    fmt::print(stderr, "shm_churn: {}\n", e.what());
    rc = 1;
  }
  std::error_code ignored;
  std::filesystem::remove_all(ours_dir, ignored);
  std::filesystem::remove_all(base_dir, ignored);
  return rc;
}

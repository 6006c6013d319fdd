// What `afterlife run` adds to a run: `afterlife run -- /bin/true` (the command, and the
// library's run() in-process) against a bare spawn + wait of /bin/true, measured in the same
// process, with 1,000 unrelated entries in /dev/shm (created here and removed at the end), as
// on a busy machine. Goal: at most 2 ms added per run. Prints wall time (min, median, mean;
// the three are interleaved so that other load weighs on each alike) and CPU time per run
// (this process + children: independent of how busy the machine is), each with what it adds
// to the bare spawn.
//
//   cmake --preset release && cmake --build --preset release --target run_overhead
//   build/release/tests/bench/run_overhead [RUNS] [BASELINE_AFTERLIFE]
// With a baseline (e.g. main's afterlife, built in a directory of its own), its
// `afterlife run -- /bin/true` is timed too, interleaved with the others.
#include "afterlife/harness/run.hpp"
#include "spawn_wait.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace {

using steady = std::chrono::steady_clock;

constexpr int unrelated_entries = 1000;

std::string entry_name(int i) { return fmt::format("/afterlife-bench-{}-{}", getpid(), i); }

void create_unrelated_entries() {
  for (int i = 0; i < unrelated_entries; ++i) {
    int fd = shm_open(entry_name(i).c_str(), O_CREAT | O_RDWR, 0600);
    if (fd < 0) throw std::runtime_error("shm_open " + entry_name(i));
    close(fd);
  }
}

void remove_unrelated_entries() {
  for (int i = 0; i < unrelated_entries; ++i) shm_unlink(entry_name(i).c_str());
}

using afterlife_bench::spawn_and_wait;

struct figures {
  std::vector<double> ms;
  double cpu_ms = 0;  // user + system time of this process and its waited-for children, total
  double min() const { return *std::min_element(ms.begin(), ms.end()); }
  double median() const {
    auto sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    return sorted[sorted.size() / 2];
  }
  double mean() const {
    return std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  }
};

double cpu_ms_now() {
  double total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage usage{};
    getrusage(who, &usage);
    for (const timeval& t : {usage.ru_utime, usage.ru_stime})
      total += static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0;
  }
  return total;
}

// Wall time of one call; adds its CPU time (ours and the children's) to f.
void time_once(figures& f, const std::function<void()>& once) {
  double cpu = cpu_ms_now();
  auto start = steady::now();
  once();
  f.ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - start).count());
  f.cpu_ms += cpu_ms_now() - cpu;
}

void print(const char* what, const figures& f, const figures& bare) {
  double cpu = f.cpu_ms / static_cast<double>(f.ms.size());
  double bare_cpu = bare.cpu_ms / static_cast<double>(bare.ms.size());
  fmt::print("  {:<32} wall: min {:6.3f} median {:6.3f} mean {:6.3f} ms (median {:+.3f})   "
             "cpu: {:6.3f} ms ({:+.3f})\n",
             what, f.min(), f.median(), f.mean(), f.median() - bare.median(), cpu, cpu - bare_cpu);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 200;
  if (runs <= 0) runs = 200;
  create_unrelated_entries();
  try {
    afterlife::run_options options;
    options.command = {"/bin/true"};
    options.copy_stdout_to = -1;
    options.copy_stderr_to = -1;
    options.inherit_stdin = false;
    auto bare_once = [] {
      if (spawn_and_wait({"/bin/true"}) != 0) throw std::runtime_error("/bin/true failed");
    };
    auto command_once = [] {
      if (spawn_and_wait({AFTERLIFE_EXE, "run", "--", "/bin/true"}) != 0)
        throw std::runtime_error("afterlife run -- /bin/true failed");
    };
    std::string baseline = argc > 2 ? argv[2] : "";
    // Each afterlife in a runtime directory of its own: an older one may not accept the modes a
    // newer one gives the directory.
    std::string ours_dir = fmt::format("/dev/shm/afterlife-overhead-ours-{}", getpid());
    std::string base_dir = fmt::format("/dev/shm/afterlife-overhead-base-{}", getpid());
    mkdir(ours_dir.c_str(), 0700);
    mkdir(base_dir.c_str(), 0700);
    setenv("AFTERLIFE_RUNTIME_DIR", ours_dir.c_str(), 1);
    auto baseline_once = [&] {
      setenv("AFTERLIFE_RUNTIME_DIR", base_dir.c_str(), 1);
      int status = spawn_and_wait({baseline, "run", "--", "/bin/true"});
      setenv("AFTERLIFE_RUNTIME_DIR", ours_dir.c_str(), 1);
      if (status != 0) throw std::runtime_error("baseline afterlife run -- /bin/true failed");
    };
    auto library_once = [&] {
      if (!afterlife::run(options).pass) throw std::runtime_error("run() did not pass");
    };
    // Warm caches (page cache, dynamic loader), then interleave the three so that whatever
    // else the machine does weighs on each alike.
    bare_once();
    command_once();
    library_once();
    figures bare, command, library, base;
    for (int i = 0; i < runs; ++i) {
      time_once(bare, bare_once);
      time_once(command, command_once);
      time_once(library, library_once);
      if (!baseline.empty()) time_once(base, baseline_once);
    }
    fmt::print("run_overhead: {} runs each (interleaved), {} unrelated entries in /dev/shm\n", runs,
               unrelated_entries);
    print("bare spawn + wait of /bin/true", bare, bare);
    print("afterlife run -- /bin/true", command, bare);
    print("afterlife::run() in-process", library, bare);
    // Issue 13's bound: the command within 3.6x the bare spawn + wait, medians side by side.
    fmt::print("  ratio afterlife run / bare (medians): {:.2f}x\n", command.median() / bare.median());
    if (!baseline.empty()) {
      print("baseline afterlife run", base, bare);
      fmt::print("  ratio baseline / bare (medians): {:.2f}x\n", base.median() / bare.median());
    }
  } catch (const std::exception& e) {
    remove_unrelated_entries();
    fmt::print(stderr, "run_overhead: {}\n", e.what());
    return 1;
  }
  remove_unrelated_entries();
  return 0;
}

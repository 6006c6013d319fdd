// finalize_bench N: N lists [int, str, dict] reachable from __main__'s globals, then one
// finalize() (all ten phases: the modules die, the collector runs, the arenas are unmapped).
// Prints `finalize_ms=X` (wall) and `finalize_cpu_ms=Y` (process CPU time, which a loaded
// machine disturbs less), best of 3 runtime cycles each; then, when python3 is on PATH, runs
// finalize_cpython.py N for CPython's figures and prints both side by side with the ratios.
// Also prints `phase_ms NAME=X cpu=Y` for every phase of the best run (wall time and thread CPU
// time between its begin and end events), to show where the time goes.
//
// finalize_cpython.py measures CPython differently, from outside: a child's normal exit minus an
// os._exit of the same heap, so that what the kernel spends tearing the pages down is not
// counted. finalize() here unmaps the arenas itself, which the kernel's exit would otherwise
// do. `exit_finalize_ms=X` / `exit_finalize_cpu_ms=Y` measure lifecycle the same way as CPython:
// this program re-runs itself as `finalize_bench --child normal|immediate N` (lifecycle::exit vs
// lifecycle::immediate_exit after building the heap), best of 3 each, and prints the difference.
// `touch_heap_ms=X` is a floor for comparison: one read of every object's header, in the order
// they were allocated, with cold caches; any finalization that visits each dying object once
// costs at least that much.
#include <fmt/format.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "lifecycle/exit.hpp"
#include "lifecycle/object.hpp"

#include "lifecycle/module.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/types.hpp"

extern char** environ;

namespace {

using namespace lifecycle;

// The benchmark's heap: `data = [[i, str(i), {}] for i in range(n)]` in __main__. When `every`
// is given, it receives each row and its three items, in allocation order.
void build_heap(long n, std::vector<object*>* every = nullptr) {
  auto data = new_list();
  for (long i = 0; i < n; ++i) {
    auto row = new_list();
    row->append(new_int(i));
    row->append(new_str(std::to_string(i)));
    row->append(new_dict());
    if (every != nullptr) {
      every->push_back(row.get());
      for (std::size_t k = 0; k < row->size(); ++k) every->push_back(row->at(k));
    }
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

// One read of every object's header in allocation order, after evicting the caches; best of 3.
double touch_heap_ms(long n) {
  initialize();
  std::vector<object*> every;
  every.reserve(static_cast<std::size_t>(4 * n));
  build_heap(n, &every);
  double best = -1;
  for (int i = 0; i < 3; ++i) {
    std::vector<char> evict(std::size_t{64} << 20, 1);
    std::intptr_t sum = 0;
    for (std::size_t k = 0; k < evict.size(); k += 64) sum += evict[k];
    auto start = bench_clock::now();
    for (const object* op : every) sum += refcount(op);
    std::chrono::duration<double, std::milli> took = bench_clock::now() - start;
    // The sum is printed nowhere but must not be optimized away.
    if (sum == 0) std::fprintf(stderr, "touch_heap: empty heap\n");
    if (best < 0 || took.count() < best) best = took.count();
  }
  (void)finalize();
  return best;
}

double seconds_of(const timeval& tv) noexcept {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// --child MODE N: build the heap, print the monotonic clock and this process's CPU time, then end
// with lifecycle::exit (all phases) or lifecycle::immediate_exit (none).
[[noreturn]] void run_child(const char* mode, long n) {
  initialize();
  build_heap(n);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto now = std::chrono::duration<double>(bench_clock::now().time_since_epoch()).count();
  std::printf("%.9f %.9f\n", now, seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime));
  std::fflush(stdout);
  if (std::strcmp(mode, "immediate") == 0) immediate_exit(0);
  lifecycle::exit(0);
}

double children_cpu_seconds() noexcept {
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  return seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
}

// One child run: {wall seconds from its last line to its reaping, its CPU seconds after that
// line}; {-1, -1} when it failed.
std::pair<double, double> exit_seconds(const char* self, const char* mode, long n) {
  int out[2];
  if (pipe(out) != 0) return {-1, -1};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const std::string count = std::to_string(n);
  std::vector<char*> argv{const_cast<char*>(self), const_cast<char*>("--child"),
                          const_cast<char*>(mode), const_cast<char*>(count.c_str()), nullptr};
  const double cpu_before = children_cpu_seconds();
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, self, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return {-1, -1};
  }
  std::FILE* lines = fdopen(out[0], "r");
  double stamp = 0;
  double cpu_at_line = 0;
  const bool read = lines != nullptr && std::fscanf(lines, "%lf %lf", &stamp, &cpu_at_line) == 2;
  int status = 0;
  waitpid(pid, &status, 0);
  const double end = std::chrono::duration<double>(bench_clock::now().time_since_epoch()).count();
  if (lines != nullptr) std::fclose(lines);
  if (!read || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return {-1, -1};
  return {end - stamp, children_cpu_seconds() - cpu_before - cpu_at_line};
}

// finalize_cpython.py's method applied to lifecycle: best normal exit minus best immediate exit.
figures exit_difference(const char* self, long n) {
  double wall[2] = {1e9, 1e9};
  double cpu[2] = {1e9, 1e9};
  const char* modes[2] = {"normal", "immediate"};
  for (int m = 0; m < 2; ++m) {
    for (int i = 0; i < 3; ++i) {
      auto [w, c] = exit_seconds(self, modes[m], n);
      if (w < 0) return {};
      wall[m] = std::min(wall[m], w);
      cpu[m] = std::min(cpu[m], c);
    }
  }
  figures f;
  f.wall_ms = (wall[0] - wall[1]) * 1e3;
  f.cpu_ms = (cpu[0] - cpu[1]) * 1e3;
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
  if (argc == 4 && std::strcmp(argv[1], "--child") == 0) {
    run_child(argv[2], std::strtol(argv[3], nullptr, 10));
  }
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
  figures by_exit = exit_difference(argv[0], n);
  std::printf("exit_finalize_ms=%.1f\nexit_finalize_cpu_ms=%.1f\n", by_exit.wall_ms, by_exit.cpu_ms);
  std::printf("touch_heap_ms=%.1f\n", touch_heap_ms(n));
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
  std::printf("speedup_by_exit=%.1fx\nspeedup_by_exit_cpu=%.1fx\n",
              cpython.wall_ms / by_exit.wall_ms, cpython.cpu_ms / by_exit.cpu_ms);
  return 0;
}

// Runtime init / finalize in this process: the ten phases in order, observers, repeat cycles
// back to baseline (the embedding case).
#include "lifecycle/runtime.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "lifecycle/atexit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/module.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/threads.hpp"
#include "lifecycle/types.hpp"

namespace {

using namespace lifecycle;

struct recorder {
  std::vector<std::string> lines;
  static void observe(void* context, phase p, phase_event e) noexcept {
    static_cast<recorder*>(context)->lines.push_back(std::string(phase_name(p)) + " " +
                                                     std::string(phase_event_name(e)));
  }
};

const std::vector<std::string> ten_phases = {
    "wait_for_threads", "atexit",        "mark_finalizing", "flush_streams",     "collect",
    "finalize_modules", "clear_objects", "stop_tracer",     "release_allocator", "low_level_exit",
};

std::size_t open_fds() {
  std::size_t count = 0;
  for (int fd = 0; fd < 4096; ++fd) count += ::fcntl(fd, F_GETFD) != -1 ? 1 : 0;
  return count;
}

// Lines of /proc/self/maps; 0 where there is no /proc (the check then compares 0 with 0).
std::size_t mappings() {
  std::ifstream maps("/proc/self/maps");
  std::size_t count = 0;
  for (std::string line; std::getline(maps, line);) ++count;
  return count;
}

// Resident pages from /proc/self/statm; 0 where there is no /proc.
long resident_kib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// finalize() joins the OS threads of non-daemon threads, but the kernel may still be tearing the
// last one down when join returns. Wait (at most 2 s) until this process is down to its main
// thread again; nothing to wait for where there is no /proc.
void settle_threads() {
  std::error_code error;
  for (int i = 0; i < 200; ++i) {
    std::size_t tasks = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/task", error);
         !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
      ++tasks;
    }
    if (error || tasks <= 1) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void note(int n) { (void)n; }

#ifndef AFTERLIFE_SANITIZED
#define AFTERLIFE_SANITIZED 0
#endif
constexpr bool sanitized = AFTERLIFE_SANITIZED != 0;

// One cycle's work: objects reachable from module globals, a cycle, a module defined in C++,
// an atexit callback with an argument, a non-daemon thread.
void one_cycle() {
  initialize();
  {
    auto data = new_list();
    for (int i = 0; i < 1000; ++i) {
      auto row = new_list();
      row->append(new_int(i));
      row->append(new_str("row"));
      row->append(new_dict());
      data->append(row);
    }
    main_module()->dict->set("data", data);
    auto cls = new_class("Node");
    auto node = new_instance(cls);
    node->set_attr("self", node);
    define_module("work", [](module_object& m) { m.dict->set("_private", new_list()); });
    import_module("work");
    atexit::register_callback("note", &note, 1);
    start_thread("worker", [] {});
  }
  REQUIRE(finalize() == 0);
}

}  // namespace

TEST_CASE("finalize runs the ten phases in order, each observer hears begin and end") {
  recorder first, second;
  initialize();
  add_phase_observer(&recorder::observe, &first);
  add_phase_observer(&recorder::observe, &second);
  REQUIRE(finalize() == 0);
  std::vector<std::string> expected;
  for (const auto& name : ten_phases) {
    expected.push_back(name + " begin");
    expected.push_back(name + " end");
  }
  CHECK(first.lines == expected);
  CHECK(second.lines == expected);
}

TEST_CASE("observers belong to one cycle and are bounded") {
  CHECK_THROWS_AS(add_phase_observer(&recorder::observe, nullptr), std::logic_error);
  initialize();
  recorder r;
  for (std::size_t i = 0; i < max_phase_observers; ++i) add_phase_observer(&recorder::observe, &r);
  CHECK_THROWS_AS(add_phase_observer(&recorder::observe, &r), std::length_error);
  CHECK(remove_phase_observer(&recorder::observe, &r));
  REQUIRE(finalize() == 0);
  CHECK(r.lines.size() == 2 * ten_phases.size() * (max_phase_observers - 1));
  // The next cycle starts without them.
  recorder later;
  initialize();
  add_phase_observer(&recorder::observe, &later);
  REQUIRE(finalize() == 0);
  CHECK(later.lines.size() == 2 * ten_phases.size());
  CHECK(r.lines.size() == 2 * ten_phases.size() * (max_phase_observers - 1));
}

TEST_CASE("initialize twice throws, finalize is harmless when not initialized or re-entered") {
  CHECK(finalize() == 0);
  initialize();
  CHECK(is_initialized());
  CHECK_THROWS_AS(initialize(), std::logic_error);
  int nested = -1;
  add_phase_observer(
      [](void* context, phase p, phase_event e) noexcept {
        if (p == phase::collect && e == phase_event::begin)
          *static_cast<int*>(context) = finalize();
      },
      &nested);
  REQUIRE(finalize() == 0);
  CHECK(nested == 0);
  CHECK_FALSE(is_initialized());
  CHECK(finalize() == 0);
}

namespace {
std::vector<std::string>* finalizing_log = nullptr;
void log_finalizing() {
  finalizing_log->push_back(is_finalizing() ? "atexit true" : "atexit false");
}
}  // namespace

TEST_CASE("is_finalizing is false in atexit callbacks and true from mark_finalizing on") {
  std::vector<std::string> log;
  finalizing_log = &log;
  initialize();
  atexit::register_callback("log_finalizing", &log_finalizing);
  add_phase_observer(
      [](void* context, phase p, phase_event e) noexcept {
        if (e != phase_event::begin) return;
        if (p == phase::mark_finalizing || p == phase::collect) {
          static_cast<std::vector<std::string>*>(context)->push_back(
              std::string(phase_name(p)) + (is_finalizing() ? " true" : " false"));
        }
      },
      &log);
  REQUIRE(finalize() == 0);
  CHECK(log == std::vector<std::string>{"atexit false", "mark_finalizing false", "collect true"});
  CHECK_FALSE(is_finalizing());
}

TEST_CASE("100 init-work-finalize cycles leave fds, mappings, RSS and objects at baseline") {
  // Warm-up: first-use allocations (the runtime lock, glibc's thread stack cache, iostreams).
  for (int i = 0; i < 10; ++i) one_cycle();
  settle_threads();
  std::size_t fds = open_fds();
  std::size_t maps = mappings();
  long rss = resident_kib();
  for (int i = 0; i < 100; ++i) {
    one_cycle();
    // The Node self-cycle and everything under the modules died: nothing left over.
    CHECK(last_finalize_stats().leftover_objects == 0);
    CHECK(last_finalize_stats().blocks_in_use == 0);
  }
  settle_threads();
  CHECK(open_fds() == fds);
  // Sanitizers keep freed memory in a quarantine and map their own tables as they go: mappings
  // and RSS are only ours to judge without them (blocks and leftovers above still are).
  if (!sanitized) {
    CHECK(mappings() == maps);
    // 100 cycles of ~3000 objects each: a leak of one cycle's objects would exceed this.
    CHECK(resident_kib() - rss < 256);
  }
}

TEST_CASE("objects left alive at finalization are counted as leftovers") {
  initialize();
  ref leaked;
  {
    auto cls = new_class("Holder");
    auto a = new_instance(cls);
    a->set_attr("self", a);
    leaked = a;  // a reference from outside any module: finalization cannot free it
  }
  REQUIRE(finalize() == 0);
  // The instance and its attribute dict; their memory went with the arenas.
  CHECK(last_finalize_stats().leftover_objects == 2);
  CHECK(last_finalize_stats().leftover_refs >= 2);
  CHECK(last_finalize_stats().blocks_in_use > 0);
  (void)leaked.release();
}

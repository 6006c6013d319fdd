// Runtime init and the ordered finalization (CPython's Py_InitializeEx / Py_FinalizeEx).
// finalize() reads like a table of contents: one function per phase, the reason for each
// ordering above its call.
#include "lifecycle/runtime.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "lifecycle/allocator.hpp"
#include "lifecycle/atexit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/object.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/resources.hpp"
#include "lifecycle/threads.hpp"
#include "lifecycle/tracemalloc.hpp"
#include "lifecycle/unraisable.hpp"
#include "lifecycle/warnings.hpp"
#include "common/env_flag.hpp"
#include "gc/gc_shutdown.hpp"
#include "runtime/runtime_internal.hpp"
#include "runtime/signals.hpp"

namespace lifecycle {

namespace {

struct runtime_state {
  runtime_config config;
  bool finalize_started = false;
  bool failed = false;  // a step failed: finalize() returns -1
  finalize_stats leftovers;
};

// Only the thread running initialize() / finalize() touches *state. Other threads (a daemon
// calling sleep_for while the main thread finalizes) ask runtime_active() / on_main_thread(),
// which read these instead: the number of the cycle running (0: none) and, per thread, the
// cycle it is the main thread of.
constinit runtime_state* state = nullptr;
constinit std::atomic<std::uint64_t> running_cycle{0};
constinit std::uint64_t cycles_started = 0;
constinit thread_local std::uint64_t main_of_cycle = 0;
constinit std::atomic<bool> finalizing{false};  // from mark_finalizing to the end of the cycle
constinit bool process_exit_hook_registered = false;
constinit finalize_stats last_stats = {};

// Emits `begin` on entry and `end` on exit of one phase function.
class phase_scope {
 public:
  explicit phase_scope(phase p) noexcept : phase_(p) {
    detail::emit_phase(phase_, phase_event::begin);
  }
  ~phase_scope() { detail::emit_phase(phase_, phase_event::end); }
  phase_scope(const phase_scope&) = delete;
  phase_scope& operator=(const phase_scope&) = delete;

 private:
  phase phase_;
};

// fflush with CPython's report for a stream that cannot be written (stdout to /dev/full:
// "Exception ignored in: <stdout>" and exit status 120).
bool flush_stream(std::FILE* stream, const char* name) noexcept {
  bool ok = std::fflush(stream) == 0 && std::ferror(stream) == 0;
  if (!ok) {
    int error = errno;
    std::clearerr(stream);
    detail::write_stderr(fmt::format("Exception ignored in: <{}>\nOSError: [Errno {}] {}\n", name,
                                     error, std::strerror(error)));
  }
  return ok;
}

// --- the ten phases, in order

void wait_for_threads() noexcept {
  phase_scope scope(phase::wait_for_threads);
  detail::join_non_daemon_threads();
}

void run_atexit() noexcept {
  phase_scope scope(phase::atexit);
  // From here to the end the finalizing thread holds the runtime lock, as CPython's holds the
  // GIL: a daemon thread woken by a callback waits for it, then stops at it for good.
  acquire_runtime_lock();
  atexit::run_callbacks();
}

void mark_finalizing() noexcept {
  phase_scope scope(phase::mark_finalizing);
  finalizing.store(true);
  detail::close_thread_cycle();
}

void flush_streams() noexcept {
  phase_scope scope(phase::flush_streams);
  bool ok = true;
  try {
    std::cout.flush();
    std::clog.flush();
  } catch (...) {
    ok = false;
  }
  ok = flush_stream(stdout, "stdout") && ok;
  ok = flush_stream(stderr, "stderr") && ok;
  if (!ok) detail::record_finalize_failure();
  // CPython tears signal handling down right after the flush: a SIGINT from here on has its
  // default action instead of becoming a KeyboardInterrupt nobody would handle.
  detail::restore_signal_handlers();
}

void collect() noexcept {
  phase_scope scope(phase::collect);
  // PyGC_Collect: a full collection with the gc callbacks, and nothing when gc is disabled.
  if (!gc::is_enabled()) return;
  try {
    (void)gc::collect(gc::generations - 1);
  } catch (...) {
    write_unraisable(std::current_exception(), nullptr);
  }
}

void finalize_modules() noexcept {
  phase_scope scope(phase::finalize_modules);
  detail::finalize_modules();
}

// _PyGC_DumpShutdownStats, in the collector's words (gc/gc_shutdown.hpp): nothing under SAVEALL
// (garbage is expected then); the list itself with DEBUG_UNCOLLECTABLE; otherwise a hint how to
// get it.
void report_uncollectable_garbage() noexcept {
  try {
    if (auto report = gc::detail::shutdown_garbage_report_text()) {
      warn(warning_category::resource_warning,
           report->listing.empty() ? report->warning : report->warning + "\n" + report->listing);
    }
  } catch (...) {
    write_unraisable(std::current_exception(), nullptr);
  }
}

// Sum of the reference counts of what is still tracked: the `refs` of -X showrefcount, for
// the objects the collector can see. gc.garbage itself is the collector's bookkeeping (and
// exists once anyone asked for it), so it does not count; what it holds does.
std::intptr_t tracked_references() noexcept {
  try {
    auto garbage = gc::garbage();
    std::intptr_t total = 0;
    for (const ref& op : gc::get_objects()) {
      if (op.get() != garbage.get()) total += refcount(op.get()) - 1;
    }
    return total;
  } catch (...) {
    return -1;
  }
}

void clear_objects() noexcept {
  phase_scope scope(phase::clear_objects);
  // sys and builtins were cleared last by finalize_modules; now they go, and one more
  // collection takes what only they kept.
  detail::release_modules();
  gc::detail::collect_no_fail();
  // Resources still open now were never closed by the program: their finalizers close them
  // (never unlink) and warn "unclosed", as CPython's do when the last module dicts go.
  finalize_open_resources();
  report_uncollectable_garbage();
  state->leftovers.leftover_refs = tracked_references();
  // What is left (garbage cycles, leaks) is untracked and stays allocated: it is reported as
  // blocks in use when the allocator is released. gc state returns to its defaults for the
  // next cycle.
  state->leftovers.leftover_objects = gc::detail::reset_state();
}

void stop_tracer() noexcept {
  phase_scope scope(phase::stop_tracer);
  // New allocations are no longer traced, but the live traces stay: release_allocator names
  // the sites of the blocks that leak.
  tracemalloc::stop(tracemalloc::stop_mode::keep_traces);
}

// The leaked blocks grouped by traceback (newest frame first, `file:line <- caller...`), biggest
// first, at most ten lines: the newest frame alone is mostly the allocator's caller inside
// lifecycle, the runtime frames above it say whose object it was.
void report_leak_sites(const release_report& report) noexcept {
  try {
    struct site_total {
      std::size_t size = 0;
      std::size_t count = 0;
    };
    std::map<std::string, site_total> sites;
    for (const auto& block : report.leaks) {
      if (block.traceback.empty()) continue;
      std::string key;
      for (auto f = block.traceback.rbegin(); f != block.traceback.rend(); ++f) {
        key += fmt::format("{}{}:{}", key.empty() ? "" : " <- ", f->filename, f->lineno);
      }
      auto& total = sites[key];
      total.size += block.size;
      ++total.count;
    }
    if (sites.empty()) return;
    std::vector<std::pair<std::string, site_total>> sorted(sites.begin(), sites.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second.size > b.second.size; });
    std::string text = fmt::format(
        "lifecycle: {} blocks still in use at exit, by allocation site:\n", report.blocks_in_use);
    for (std::size_t i = 0; i < sorted.size() && i < 10; ++i) {
      text += fmt::format("  {}: size={} B, count={}\n", sorted[i].first, sorted[i].second.size,
                          sorted[i].second.count);
    }
    detail::write_stderr(text);
  } catch (...) {
    write_unraisable(std::current_exception(), nullptr);
  }
}

void release_allocator() noexcept {
  phase_scope scope(phase::release_allocator);
  release_report report = allocator_release();
  state->leftovers.blocks_in_use = report.blocks_in_use;
  // -X showrefcount prints after the interpreter is gone, before the low-level functions.
  if (detail::env_flag("LIFECYCLE_SHOWREFCOUNT")) {
    detail::write_stderr(fmt::format("[{} refs, {} blocks]\n", state->leftovers.leftover_refs,
                                     report.blocks_in_use));
  }
  report_leak_sites(report);
}

void low_level_exit() noexcept {
  phase_scope scope(phase::low_level_exit);
  detail::run_low_level_exit_functions();
  // call_ll_exitfuncs ends with a flush: the functions may have printed.
  std::fflush(stdout);
  std::fflush(stderr);
}

// After the last phase: forget the cycle so that initialize() may start another.
void end_cycle() noexcept {
  running_cycle.store(0);
  finalizing.store(false);
  detail::end_thread_cycle();
  detail::restore_terminate_handler();
  detail::forget_phase_observers();
  // Without a runtime, resources opened from now on are finalized by their own atexit hook.
  set_finalize_resources_at_exit(true);
  delete state;
  state = nullptr;
}

// Returning from main() or calling std::exit() with the runtime still initialized is a normal
// exit, as the end of a Python script is: every phase runs. The status cannot be changed from
// here except by ending the process at once, which is what a failed finalization does (120,
// like Py_RunMain); C atexit handlers registered before initialize() are then skipped.
extern "C" void finalize_at_process_exit() {
  if (state == nullptr) return;
  if (finalize() < 0) _exit(120);
}

}  // namespace

namespace detail {

bool runtime_active() noexcept { return running_cycle.load() != 0; }

bool on_main_thread() noexcept {
  return main_of_cycle != 0 && main_of_cycle == running_cycle.load();
}

void record_finalize_failure() noexcept {
  if (state != nullptr) state->failed = true;
}

}  // namespace detail

void initialize(const runtime_config& config) {
  if (state != nullptr) throw std::logic_error("lifecycle::initialize: already initialized");
  state = new runtime_state;
  state->config = config;
  main_of_cycle = ++cycles_started;
  running_cycle.store(main_of_cycle);
  try {
    if (!process_exit_hook_registered && std::atexit(&finalize_at_process_exit) != 0) {
      throw std::runtime_error("lifecycle::initialize: std::atexit refused the exit hook");
    }
    process_exit_hook_registered = true;
    allocator_init(config.allocator);
    (void)tracemalloc::start_from_environment();
    detail::open_thread_cycle();
    detail::install_environment_observers();
    if (config.install_signal_handlers) detail::install_signal_handlers();
    detail::install_terminate_handler();
    // Open resources are finalized by the clear_objects phase, not by their own atexit hook.
    set_finalize_resources_at_exit(false);
    detail::init_modules();
  } catch (...) {
    detail::restore_signal_handlers();
    detail::release_modules();
    tracemalloc::stop();
    end_cycle();
    throw;
  }
}

int finalize() noexcept {
  if (state == nullptr || state->finalize_started) return 0;
  state->finalize_started = true;

  // First, before atexit: callbacks may rely on what non-daemon threads finish (CPython joins
  // them in threading._shutdown before anything else).
  wait_for_threads();
  // While the runtime is fully intact: modules, builtins, is_finalizing() still false.
  run_atexit();
  // After atexit, which may still start threads; from here daemon threads stop at the lock.
  mark_finalizing();
  // Before any object dies: finalizers that print must not reorder or lose buffered output,
  // and a flush failure is the one error that changes the exit status (120).
  flush_streams();
  // Cycles that are already garbage die while every module is intact, so their finalizers
  // can still use globals.
  collect();
  // Then the modules, in CPython's order; what their globals kept alive dies here.
  finalize_modules();
  // Whatever outlived its module: uncollectable garbage is reported, not freed.
  clear_objects();
  // The tracer works inside every finalizer above; it stops only when no object can die.
  stop_tracer();
  // Blocks still in use now are leaks; their sites come from the tracer's last traces, taken
  // before it stopped.
  release_allocator();
  // Last: C-level functions that must not touch managed objects, which are gone.
  low_level_exit();

  int result = state->failed ? -1 : 0;
  last_stats = state->leftovers;
  end_cycle();
  return result;
}

bool is_initialized() noexcept { return detail::runtime_active(); }

finalize_stats last_finalize_stats() noexcept { return last_stats; }

bool is_finalizing() noexcept { return finalizing.load(); }

}  // namespace lifecycle

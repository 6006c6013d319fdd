// Embedding: initialize -> work -> finalize, 100 times in one process (Py_Initialize /
// Py_FinalizeEx in a loop). Each cycle imports a module, builds a garbage cycle with a
// __del__, registers an atexit callback, runs and joins a thread, and finalizes. The baseline
// taken after 10 warm-up cycles must hold after the hundredth: the same open fds, no objects
// or allocator blocks left over in any cycle, every finalizer and callback run, resident
// memory within 1 MiB. Printed before checkpoint `ready` (the runtime is then initialized
// once more, for the exit the mode asks for):
//   reinit: 100 cycles, fds N -> N, leftover objects 0, blocks 0, every cycle clean: yes,
//           finalizers 200, atexit 100, threads 100
//   reinit: rss A KiB after cycle 10 -> B KiB after cycle 100 (held within 1 MiB: yes)
// Under the harness every cycle reports its ten phases: 1000 before `ready`, 1010 in all
// when the exit finalizes too.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>

#include "lifecycle/atexit.hpp"
#include "lifecycle/module.hpp"
#include "lifecycle/process_memory.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/threads.hpp"
#include "lifecycle/types.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constexpr int cycles = 100;
constexpr int warm_up_cycles = 10;

constinit std::atomic<int> finalizers_run{0};
constinit std::atomic<int> callbacks_run{0};
constinit std::atomic<int> threads_run{0};

struct baseline {
  int fds = 0;
  std::size_t rss = 0;
};

int open_fds() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) n += ::fcntl(fd, F_GETFD) != -1 ? 1 : 0;
  return n;
}

baseline measure() { return {open_fds(), process_memory().current_rss}; }

void count_callback() { callbacks_run.fetch_add(1); }

// One cycle's work: what a small embedded script does.
void work() {
  define_module("job", [](module_object& job) {
    auto cls =
        new_class("Node", {.del = [](object*) { finalizers_run.fetch_add(1); }, .legacy_del = {}});
    job.dict->set("Node", cls);
    auto items = new_list();
    for (int i = 0; i < 200; ++i) items->append(new_str(fmt::format("item {}", i)));
    job.dict->set("items", items);
  });
  auto job = import_module("job");
  auto cls = handle_cast<class_object>(job->dict->get("Node"));
  auto a = new_instance(cls);
  auto b = new_instance(cls);
  a->set_attr("other", b);
  b->set_attr("other", a);
  atexit::register_callback("count_callback", &count_callback);
  start_thread("job thread", [] { threads_run.fetch_add(1); }).join();
}

// One full cycle after the one scenario::parse started; leaves the runtime finalized.
bool run_cycle(bool initialize_first) {
  if (initialize_first) initialize();
  work();
  (void)finalize();
  auto stats = last_finalize_stats();
  return stats.leftover_objects == 0 && stats.blocks_in_use == 0;
}

void run_cycles() {
  bool clean = run_cycle(false);  // the cycle scenario::parse began
  // The baseline is taken after a warm-up: the first cycles make first-use allocations that
  // stay (the runtime lock, the thread stack cache, the allocator's own tables).
  for (int i = 1; i < warm_up_cycles; ++i) clean = run_cycle(true) && clean;
  baseline first = measure();
  for (int i = warm_up_cycles; i < cycles; ++i) clean = run_cycle(true) && clean;
  baseline last = measure();
  auto stats = last_finalize_stats();
  initialize();  // the cycle the exit modes end
  runtime_scenario::say(fmt::format(
      "reinit: {} cycles, fds {} -> {}, leftover objects {}, blocks {}, every cycle clean: {}, "
      "finalizers {}, atexit {}, threads {}",
      cycles, first.fds, last.fds, stats.leftover_objects, stats.blocks_in_use,
      clean ? "yes" : "no", finalizers_run.load(), callbacks_run.load(), threads_run.load()));
  bool held = last.rss <= first.rss + (std::size_t{1} << 20);
  runtime_scenario::say(fmt::format(
      "reinit: rss {} KiB after cycle {} -> {} KiB after cycle {} (held within 1 MiB: {})",
      first.rss >> 10, warm_up_cycles, last.rss >> 10, cycles, held ? "yes" : "no"));
}

}  // namespace

// Under the asan preset AddressSanitizer keeps freed memory in a quarantine (256 MiB by default)
// so that a use after free is caught: resident memory then grows with every cycle by design,
// which is the very figure this program judges. Without the quarantine ASan still checks every
// access; only use-after-free detection is weaker in this one program.
extern "C" const char* __asan_default_options();
extern "C" const char* __asan_default_options() {
  return "quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
}

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  run_cycles();
  scenario::ready(opts);
  scenario::finish(opts);
}

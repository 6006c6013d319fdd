// A non-daemon thread still working when the main thread is done is joined in the first
// phase, `wait_for_threads`, before any atexit callback runs (threading._shutdown). The worker
// waits for its last job, which arrives when shutdown begins (a phase observer hands it over,
// so the order does not depend on timing), takes 30 ms, and ends; the atexit callback then
// finds it finished. On every exit that finalizes:
//   wait_for_threads: worker alive=true
//   worker: last job done in phase wait_for_threads
//   atexit: worker alive=false, jobs done=1
// _exit, abort and default-action signals run no phase: the worker dies with the process.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/threads.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constinit std::atomic<bool> last_job_posted{false};
constinit std::atomic<int> jobs_done{0};
// The worker's handle, for the observer and the callback (a heap object: no static destructor).
constinit lifecycle::thread* worker = nullptr;

void worker_body() {
  while (!last_job_posted.load()) lifecycle::sleep_for(std::chrono::milliseconds(2));
  lifecycle::sleep_for(std::chrono::milliseconds(30));  // the job
  jobs_done.fetch_add(1);
  runtime_scenario::say(
      fmt::format("worker: last job done in phase {}", runtime_scenario::phase_now()));
}

void on_phase(void*, phase p, phase_event e) noexcept {
  if (p != phase::wait_for_threads || e != phase_event::begin) return;
  runtime_scenario::say(fmt::format("wait_for_threads: worker alive={}", worker->is_alive()));
  last_job_posted.store(true);
}

void check_worker() {
  runtime_scenario::say(
      fmt::format("atexit: worker alive={}, jobs done={}", worker->is_alive(), jobs_done.load()));
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  runtime_scenario::track_phases();
  add_phase_observer(&on_phase, nullptr);
  worker = new lifecycle::thread(start_thread("worker", &worker_body));
  atexit::register_callback("check_worker", &check_worker);
  scenario::ready(opts);
  scenario::finish(opts);
}

// An exception in an atexit callback: reported as "Exception ignored in atexit callback:
// NAME" with its traceback, the remaining callbacks still run and the exit status does not
// change (CPython >= 3.10). Three callbacks, registered first..third, run last-first:
//   atexit: third ran (registered last, runs first) after 0 others
//   Exception ignored in atexit callback: second_raises
//   RuntimeError: atexit boom
//   atexit: first ran (registered first, runs last) after 2 others
// with the status asked for (0, 1, killed by SIGINT). No phase, no callback on _exit, abort
// and default-action signals.
#include <fmt/format.h>

#include <atomic>

#include "lifecycle/atexit.hpp"
#include "lifecycle/object.hpp"
#include "runtime_scenario.hpp"

namespace {

constinit std::atomic<int> callbacks_started{0};

void first() {
  runtime_scenario::say(
      fmt::format("atexit: first ran (registered first, runs last) after {} others",
                  callbacks_started.fetch_add(1)));
}
void second_raises() {
  callbacks_started.fetch_add(1);
  throw lifecycle::python_error("RuntimeError", "atexit boom");
}
void third() {
  runtime_scenario::say(
      fmt::format("atexit: third ran (registered last, runs first) after {} others",
                  callbacks_started.fetch_add(1)));
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  lifecycle::atexit::register_callback("first", &first);
  lifecycle::atexit::register_callback("second_raises", &second_raises);
  lifecycle::atexit::register_callback("third", &third);
  scenario::ready(opts);
  scenario::finish(opts);
}

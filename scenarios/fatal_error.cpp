// A fatal runtime error (Py_FatalError): the program finds its state corrupt after checkpoint
// `ready` and calls lifecycle::fatal_error, whatever exit it was asked for. The message goes
// straight to stderr, abort() ends the process (SIGABRT), and nothing else runs: no phase, no
// atexit callback, no flush of stdout's buffer. Under the harness's signal modes the process is
// ended at `ready`, before it gets there, and behaves as any program would (SIGINT: all phases).
//   Fatal runtime error: fatal_error: object refcount went negative
#include <cstdio>

#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "runtime_scenario.hpp"

namespace {

void never_on_abort() { runtime_scenario::say("atexit: callback ran"); }

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  lifecycle::atexit::register_callback("never_on_abort", &never_on_abort);
  scenario::ready(opts);
  if (opts.exit != scenario::exit_mode::wait)
    lifecycle::fatal_error("fatal_error: object refcount went negative");
  scenario::finish(opts);
}

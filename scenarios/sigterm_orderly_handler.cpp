// A program that opts into an orderly SIGTERM (Python: signal.signal(SIGTERM, lambda *_:
// sys.exit(143))): SIGTERM becomes SystemExit(143) on the main thread, so every phase runs and
// the atexit callback unlinks the program's shared memory; the status is exit 143, not
// "killed by SIGTERM". The contrast with the default action is SIGKILL and a group kill here
// (no phase, the segment stays) and the sigterm cell of sigint_keyboard_interrupt (no phase).
//   atexit: unlinked /afl_term_PID
//   sigterm_orderly_handler --exit MODE [--name /NAME]
#include <string>

#include "lifecycle/exit.hpp"
#include "resource_scenario.hpp"
#include "runtime_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  lifecycle::enable_orderly_sigterm();
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_term"));
  runtime_scenario::create_segment_unlinked_at_exit(name, "orderly");
  runtime_scenario::say("name=" + name);
  scenario::ready(opts);
  scenario::finish(opts);
}

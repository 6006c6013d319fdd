// A program that opts into an orderly SIGTERM (Python: signal.signal(SIGTERM, lambda *_:
// sys.exit(143))): SIGTERM becomes SystemExit(143) on the main thread, so every phase runs and
// the atexit callback unlinks the program's shared memory; the status is exit 143, not
// "killed by SIGTERM". The contrast with the default action is SIGKILL and a group kill here
// (no phase, the segment stays) and the sigterm cell of sigint_keyboard_interrupt (no phase).
//   atexit: unlinked /afl_term_PID
//   sigterm_orderly_handler --exit MODE [--name /NAME]
#include <cstring>
#include <string>

#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"
#include "runtime_scenario.hpp"

namespace {

constinit lifecycle::shared_memory* segment = nullptr;

void unlink_segment() {
  std::string name = segment->name();
  segment->unlink();
  segment->close();
  delete segment;
  segment = nullptr;
  runtime_scenario::say("atexit: unlinked " + name);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  lifecycle::enable_orderly_sigterm();
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_term"));
  segment = new lifecycle::shared_memory(lifecycle::create, name, 4096);
  std::memcpy(segment->data().data(), "orderly", 8);
  lifecycle::atexit::register_callback("unlink_segment", &unlink_segment);
  runtime_scenario::say("name=" + name);
  scenario::ready(opts);
  scenario::finish(opts);
}

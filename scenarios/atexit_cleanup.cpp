// Cleanup in an atexit callback: the program creates a POSIX shared memory segment and
// registers a callback that closes and unlinks it (atexit.register(shm.unlink)). The callback
// runs in the `atexit` phase, so every exit that finalizes (normal, error, an uncaught
// exception, SIGINT as KeyboardInterrupt) leaves nothing; _exit, abort, SIGTERM's default
// action, SIGKILL and a group kill run no phase and leave /dev/shm/NAME behind (posix_shm=1).
//   atexit: unlinked /afl_atexit_PID        (stdout, from the callback)
//   atexit_cleanup --exit MODE [--name /NAME]
#include <string>

#include "resource_scenario.hpp"
#include "runtime_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_atexit"));
  runtime_scenario::create_segment_unlinked_at_exit(name, "cleaned up at exit");
  runtime_scenario::say("name=" + name);
  scenario::ready(opts);
  scenario::finish(opts);
}

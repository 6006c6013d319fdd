// Cleanup in an atexit callback: the program creates a POSIX shared memory segment and
// registers a callback that closes and unlinks it (atexit.register(shm.unlink)). The callback
// runs in the `atexit` phase, so every exit that finalizes (normal, error, an uncaught
// exception, SIGINT as KeyboardInterrupt) leaves nothing; _exit, abort, SIGTERM's default
// action, SIGKILL and a group kill run no phase and leave /dev/shm/NAME behind (posix_shm=1).
//   atexit: unlinked /afl_atexit_PID        (stdout, from the callback)
//   atexit_cleanup --exit MODE [--name /NAME]
#include <cstring>
#include <string>

#include "lifecycle/atexit.hpp"
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"
#include "runtime_scenario.hpp"

namespace {

// The segment outlives main's frames (an exception escaping main does not unwind them), so
// it lives on the heap and the callback owns its end.
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
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_atexit"));
  segment = new lifecycle::shared_memory(lifecycle::create, name, 4096);
  std::memcpy(segment->data().data(), "cleaned up at exit", 19);
  lifecycle::atexit::register_callback("unlink_segment", &unlink_segment);
  runtime_scenario::say("name=" + name);
  scenario::ready(opts);
  scenario::finish(opts);
}

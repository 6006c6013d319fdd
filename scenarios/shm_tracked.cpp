// POSIX shared memory registered with the resource tracker and never unlinked: the tracker
// unlinks it once the process is gone, however it died -- unless the tracker dies with it, as
// in a SIGKILL of the whole process group (CPython's behaviour; see shm_tracked_detached).
//   shm_tracked --exit MODE [--name /NAME]
#include <cstring>

#include "lifecycle/resource_tracker.hpp"
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_trk"));
  lifecycle::shared_memory segment(lifecycle::create, name, 4096, /*track=*/true);
  std::memcpy(segment.data().data(), "tracked", 8);
  resource_scenario::say("name=" + segment.name());
  resource_scenario::say("tracker=" + std::to_string(lifecycle::resource_tracker::pid()));
  scenario::ready(opts);
  scenario::finish(opts);
}

// Like shm_tracked, but the tracker runs detached in its own session: a SIGKILL of the owners'
// whole process group does not reach it, and it still unlinks the segment.
//   shm_tracked_detached --exit MODE [--name /NAME]
#include <cstring>

#include "lifecycle/resource_tracker.hpp"
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_det"));
  lifecycle::resource_tracker::configure({.detached = true, .executable = {}});
  lifecycle::shared_memory segment(lifecycle::create, name, 4096, /*track=*/true);
  std::memcpy(segment.data().data(), "tracked", 8);
  resource_scenario::say("name=" + segment.name());
  resource_scenario::say("tracker=" + std::to_string(lifecycle::resource_tracker::pid()));
  scenario::ready(opts);
  scenario::finish(opts);
}

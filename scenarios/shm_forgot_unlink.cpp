// POSIX shared memory created and never unlinked (no tracker): /dev/shm/NAME outlives the
// process in every exit mode. Normal and error exits finalize it ("unclosed shared_memory").
//   shm_forgot_unlink --exit MODE [--name /NAME]
#include <cstring>

#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_shm"));
  lifecycle::shared_memory segment(lifecycle::create, name, 4096);
  std::memcpy(segment.data().data(), "left behind", 12);
  resource_scenario::say("name=" + segment.name());
  scenario::ready(opts);
  scenario::finish(opts);
}

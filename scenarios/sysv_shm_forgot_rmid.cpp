// A System V shared memory segment never removed (no IPC_RMID): it stays in
// /proc/sysvipc/shm (ipcs -m) with nattch 0 after the process is gone, in every exit mode.
//   sysv_shm_forgot_rmid --exit MODE [--key HEX]
#include <cstring>
#include <string>

#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  key_t key =
      static_cast<key_t>(std::stoul(resource_scenario::option(opts, "--key", "0"), nullptr, 16));
  lifecycle::sysv_shared_memory segment(lifecycle::create, 4096, key);
  std::memcpy(segment.data().data(), "left behind", 12);
  resource_scenario::say("name=" + segment.name());
  scenario::ready(opts);
  scenario::finish(opts);
}

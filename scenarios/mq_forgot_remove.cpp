// A Boost.Interprocess message queue never removed, with one message still queued. It is a
// shared memory segment (/dev/shm/NAME), not a POSIX mqueue: it is left behind as posix_shm.
//   mq_forgot_remove --exit MODE [--name /NAME]
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_mq"));
  lifecycle::message_queue queue(lifecycle::create, name, 8, 64);
  queue.send("left in the queue");
  resource_scenario::say("name=" + queue.name());
  scenario::ready(opts);
  scenario::finish(opts);
}

// A POSIX named semaphore never unlinked: /dev/shm/sem.NAME outlives the process in every mode.
//   sem_forgot_unlink --exit MODE [--name /NAME]
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_sem"));
  lifecycle::named_semaphore semaphore(lifecycle::create, name, 1);
  semaphore.wait();  // held: a waiter elsewhere would block forever once we are gone
  resource_scenario::say("name=" + semaphore.name());
  scenario::ready(opts);
  scenario::finish(opts);
}

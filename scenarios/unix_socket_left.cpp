// A listening Unix socket never unlinked: closing the socket (at exit, or by the kernel) does
// not remove its path, which stays in the file system in every mode.
//   unix_socket_left --exit MODE [--path PATH]
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string path = resource_scenario::option(
      opts, "--path", resource_scenario::tmp_dir() + "/afl-sock-" + std::to_string(getpid()));
  lifecycle::unix_listener listener(path);
  resource_scenario::say("path=" + listener.name());
  scenario::ready(opts);
  scenario::finish(opts);
}

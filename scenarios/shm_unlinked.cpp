// The counterpart of shm_forgot_unlink: POSIX shared memory created, used (a second handle
// attaches and reads what the creator wrote) and then closed and unlinked by its scope
// (`with SharedMemory(create=True) as shm: ...; shm.unlink()`), all before checkpoint `ready`.
// No exit mode can leave it behind, and nothing is left for a finalizer to warn about.
//   read through the attached handle: shared hello
//   after the scope: /dev/shm entry gone, open resources=0
//   shm_unlinked --exit MODE [--name /NAME]
#include <fmt/format.h>

#include <cstring>
#include <string>
#include <system_error>

#include "lifecycle/atexit.hpp"
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"
#include "runtime_scenario.hpp"

namespace {

using shm_scope =
    lifecycle::scoped<lifecycle::shared_memory, lifecycle::on_scope_exit::close_and_unlink>;

void create_use_unlink(const std::string& name) {
  shm_scope segment(lifecycle::create, name, 4096);
  std::memcpy(segment->data().data(), "shared hello", 13);
  lifecycle::scoped<lifecycle::shared_memory> reader(lifecycle::attach, name);
  runtime_scenario::say(fmt::format("read through the attached handle: {}",
                                    reinterpret_cast<const char*>(reader->data().data())));
}

// Attaching by name must now fail with ENOENT: the name is gone from the system.
bool name_gone(const std::string& name) {
  try {
    lifecycle::shared_memory probe(lifecycle::attach, name);
    probe.close();
    return false;
  } catch (const std::system_error& e) {
    return e.code() == std::errc::no_such_file_or_directory;
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  runtime_scenario::report_warnings_at_exit("shm_unlinked");
  std::string name =
      resource_scenario::option(opts, "--name", resource_scenario::default_ipc_name("afl_shm_ok"));
  create_use_unlink(name);
  runtime_scenario::say(fmt::format("after the scope: name gone={}, open resources={}",
                                    name_gone(name), lifecycle::open_resource_count()));
  scenario::ready(opts);
  scenario::finish(opts);
}

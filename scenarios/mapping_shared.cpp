// A file mapped with mmap and written through the mapping, never unmapped. Stores through a
// shared mapping reach the file in every exit mode (the page cache holds them even when the
// process is killed); with --private (copy-on-write) they never do. The file stays.
//   mapping_shared --exit MODE [--path PATH] [--private]
#include <cstring>

#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string path = resource_scenario::option(
      opts, "--path",
      resource_scenario::tmp_dir() + "/afl-map-" + std::to_string(getpid()) + ".bin");
  {
    // The backing file: one page of '.', created (and announced) through lifecycle::file.
    lifecycle::scoped<lifecycle::file> backing(path);
    backing->write(std::string(4096, '.'));
  }
  auto how = resource_scenario::has_flag(opts, "--private")
                 ? lifecycle::mapping::sharing::private_copy
                 : lifecycle::mapping::sharing::shared;
  lifecycle::mapping map(path, how);
  std::memcpy(map.data().data(), "written through the mapping", 27);
  resource_scenario::say("path=" + map.name());
  scenario::ready(opts);
  scenario::finish(opts);
}

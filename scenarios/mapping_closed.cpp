// The counterpart of mapping_shared: the same shared file mapping, written through and then
// closed by its scope before checkpoint `ready`. What differs from mapping_shared is only what
// the process still holds at exit: nothing, so no "unclosed mapping" warning in any mode
// (low_level_exit prints the count: warnings=0). What does not differ: the stores are in the
// file (read back before `ready`), and the file stays (file=1) — it belongs to its creator.
//   file holds: written through the mapping
//   mapping_closed --exit MODE [--path PATH]
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "lifecycle/atexit.hpp"
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"
#include "runtime_scenario.hpp"

namespace {

constexpr std::string_view message = "written through the mapping";

void map_write_close(const std::string& path) {
  {
    lifecycle::scoped<lifecycle::file> backing(path);
    backing->write(std::string(4096, '.'));
  }
  lifecycle::scoped<lifecycle::mapping> map(path, lifecycle::mapping::sharing::shared);
  std::memcpy(map->data().data(), message.data(), message.size());
}

std::string file_prefix(const std::string& path, std::size_t n) {
  std::string text(n, '\0');
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ssize_t got = fd < 0 ? -1 : ::pread(fd, text.data(), n, 0);
  if (fd >= 0) ::close(fd);
  text.resize(got < 0 ? 0 : static_cast<std::size_t>(got));
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  runtime_scenario::report_warnings_at_exit("mapping_closed");
  std::string path = resource_scenario::option(
      opts, "--path",
      resource_scenario::tmp_dir() + "/afl-mapc-" + std::to_string(getpid()) + ".bin");
  map_write_close(path);
  runtime_scenario::say(fmt::format("file holds: {}, open resources={}",
                                    file_prefix(path, message.size()),
                                    lifecycle::open_resource_count()));
  scenario::ready(opts);
  scenario::finish(opts);
}

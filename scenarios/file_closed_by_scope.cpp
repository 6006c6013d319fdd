// The counterpart of file_unflushed: the buffered file is written inside a scope (`with
// open(...) as f:`) that closes it, so both lines are on disk before checkpoint `ready` and
// nothing is left to finalize — no "unclosed file" warning whatever the exit. The file itself
// stays (nobody deletes it): file=1 in every mode. The program reads it back before `ready`:
//   on disk after the scope: 2 lines, 27 bytes
// and with phases a low-level exit function says how many warnings lifecycle printed:
//   file_closed_by_scope: warnings=0
//   file_closed_by_scope --exit MODE [--path PATH]
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "lifecycle/atexit.hpp"
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"
#include "runtime_scenario.hpp"

namespace {

std::string read_back(const std::string& path) {
  std::string text;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buffer[256];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

void write_in_scope(const std::string& path) {
  lifecycle::scoped<lifecycle::file> out(path);
  out->write("flushed line\n");
  out->flush();
  out->write("buffered tail\n");  // still in the buffer: the end of the scope writes it
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  runtime_scenario::report_warnings_at_exit("file_closed_by_scope");
  std::string path = resource_scenario::option(
      opts, "--path",
      resource_scenario::tmp_dir() + "/afl-scoped-" + std::to_string(getpid()) + ".txt");
  write_in_scope(path);
  std::string text = read_back(path);
  runtime_scenario::say(fmt::format(
      "on disk after the scope: {} lines, {} bytes, open resources={}",
      std::count(text.begin(), text.end(), '\n'), text.size(), lifecycle::open_resource_count()));
  scenario::ready(opts);
  scenario::finish(opts);
}

// afterlife-resource-tracker: the resource tracker process (see resource_tracker.hpp). Its stdin
// is the registration pipe; stdout/stderr are its starter's, so warnings land where the
// program's would. Exit status: 0 clean, 1 leaks cleaned up, 2 cleanup failed, 3 protocol error.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <vector>

#include "lifecycle/resource_tracker.hpp"

namespace {

// Like CPython's tracker: a Ctrl-C or a SIGTERM meant for the program must not end the process
// that cleans up after it; a warning written to a closed stderr must not kill it either.
void ignore_termination_signals() {
  (void)signal(SIGINT, SIG_IGN);
  (void)signal(SIGTERM, SIG_IGN);
  (void)signal(SIGPIPE, SIG_IGN);
}

// Everything but stdin/stdout/stderr is closed: an inherited fd (a socket, another pipe's
// write end) kept open by a long-lived tracker would keep somebody else waiting for EOF.
// /dev/fd lists the open descriptors on Linux and macOS alike.
void close_inherited_fds() {
  DIR* dir = opendir("/dev/fd");
  if (dir == nullptr) return;
  std::vector<int> fds;
  int own = dirfd(dir);
  while (dirent* entry = readdir(dir)) {  // NOLINT(concurrency-mt-unsafe): one thread here
    int fd = -1;
    const char* name = entry->d_name;
    auto [end, ec] = std::from_chars(name, name + std::strlen(name), fd);
    if (ec == std::errc() && *end == '\0' && fd > STDERR_FILENO && fd != own) fds.push_back(fd);
  }
  closedir(dir);
  for (int fd : fds) close(fd);
}

}  // namespace

int main() {
  ignore_termination_signals();
  close_inherited_fds();
  return lifecycle::resource_tracker::serve(STDIN_FILENO);
}

// A grandchild inherits nothing it did not open itself here: it opens a lock file, takes an
// exclusive flock and outlives the main process. The lock lives as long as the grandchild's
// open file description, so the next instance of the program would block on it. The harness
// sees the grandchild as a survivor holding an fd to the lock file. It stays in the process
// group, so a tree kill takes it down too.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "scenario.hpp"

namespace {

// Runs in the grandchild: lock, tell the main process, hold the lock (bounded: 60 s).
[[noreturn]] void hold_lock(const std::string& path, int ready_fd) {
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX) != 0) _exit(3);
  char ok = 'l';
  (void)write(ready_fd, &ok, 1);
  close(ready_fd);
  sleep(60);
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string path = scenario::tmp_dir() + "/flock_held_by_grandchild." + std::to_string(getpid()) + ".lock";

  int ready[2];
  if (pipe(ready) != 0) return 3;
  pid_t child = fork();
  if (child < 0) return 3;
  if (child == 0) {
    // The intermediate child exits at once, so the grandchild is re-parented (to afterlife,
    // the subreaper, or init) — the classic daemon double fork, minus setsid.
    close(ready[0]);
    if (fork() == 0) hold_lock(path, ready[1]);
    _exit(0);
  }
  close(ready[1]);
  waitpid(child, nullptr, 0);
  char ok = 0;
  if (read(ready[0], &ok, 1) != 1 || ok != 'l') {
    std::fprintf(stderr, "flock_held_by_grandchild: the grandchild did not take the lock\n");
    return 3;
  }
  close(ready[0]);
  scenario::ready(opts);
  scenario::finish(opts);
}

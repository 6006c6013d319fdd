// A daemonised grandchild (double fork + setsid) keeps the stdout and stderr it inherited: the
// pipe the caller reads never reaches EOF while the daemon lives, the way gtest death tests or
// `output = subprocess.check_output(...)` hang. It leaves the process group, so neither the end of
// the main process nor a kill of its group takes it down. The harness must report it as a
// survivor holding the pipe, without hanging on the pipe itself.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  int ready[2];
  if (pipe(ready) != 0) return 3;
  pid_t child = fork();
  if (child < 0) return 3;
  if (child == 0) {
    close(ready[0]);
    setsid();
    if (fork() == 0) {
      char ok = 'd';
      (void)write(ready[1], &ok, 1);
      close(ready[1]);
      sleep(60);  // bounded, so a daemon that escapes every harness still goes away
      _exit(0);
    }
    _exit(0);
  }
  close(ready[1]);
  waitpid(child, nullptr, 0);
  char ok = 0;
  if (read(ready[0], &ok, 1) != 1) {
    std::fprintf(stderr, "pipe_held_by_daemon: the daemon did not start\n");
    return 3;
  }
  close(ready[0]);
  std::printf("pipe_held_by_daemon: daemon started\n");
  std::fflush(stdout);
  scenario::ready(opts);
  scenario::finish(opts);
}

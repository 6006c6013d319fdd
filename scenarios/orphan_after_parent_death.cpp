// Parent death: the parent starts a helper that writes a file in TMPDIR and runs on its own; when
// the parent dies (any way but a kill of the whole group) the helper is orphaned and goes on,
// holding its file open. The harness lists it as a survivor and, past --grace, ends it.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string path = scenario::tmp_dir() + "/orphan_after_parent_death." + std::to_string(getpid()) + ".log";
  int ready[2];
  if (pipe(ready) != 0) return 3;
  pid_t helper = fork();
  if (helper < 0) return 3;
  if (helper == 0) {
    close(ready[0]);
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) _exit(3);
    (void)write(fd, "helper started\n", 15);
    char ok = 'h';
    (void)write(ready[1], &ok, 1);
    close(ready[1]);
    sleep(60);  // bounded
    _exit(0);
  }
  close(ready[1]);
  char ok = 0;
  if (read(ready[0], &ok, 1) != 1) {
    std::fprintf(stderr, "orphan_after_parent_death: the helper did not start\n");
    return 3;
  }
  close(ready[0]);
  scenario::ready(opts);
  scenario::finish(opts);
}

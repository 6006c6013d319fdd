// A named pipe (FIFO) is a file-system object: no exit path removes it, only unlink(2) does.
// The scenario makes one in its TMPDIR (the run's private tmp/ under afterlife) and never unlinks.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string path = scenario::tmp_dir() + "/fifo_left_behind." + std::to_string(getpid());
  if (mkfifo(path.c_str(), 0600) != 0) {
    std::perror("fifo_left_behind: mkfifo");
    return 3;
  }
  scenario::ready(opts);
  scenario::finish(opts);
}

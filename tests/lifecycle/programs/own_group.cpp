// own_group PROGRAM [ARG...]: runs PROGRAM in a new process group (its pid), so that a test can
// kill "the whole group" the way the harness's tree kill does without killing itself.
#include <unistd.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: own_group PROGRAM [ARG...]\n");
    return 2;
  }
  if (setpgid(0, 0) != 0) {
    std::perror("own_group: setpgid");
    return 127;
  }
  execv(argv[1], argv + 1);
  std::perror("own_group: execv");
  return 127;
}

/* A statically linked leaker (as a Go or musl program is): the interposer cannot enter it.
 * static_leak NAME creates /dev/shm/NAME with a plain open(2), as glibc's shm_open would, and
 * exits without removing it. Linux only (tests/harness/names_test_linux.cpp). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: static_leak NAME\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "/dev/shm/%s", argv[1][0] == '/' ? argv[1] + 1 : argv[1]);
  int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    perror(path);
    return 1;
  }
  close(fd);
  return 0;
}

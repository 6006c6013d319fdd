/* A user's program: creates a POSIX shared memory segment, reports `ready` to afterlife,
 * then unlinks it (argument "unlink") or leaves it (argument "keep"). */
#include <afterlife/control_client.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
  char name[64];
  int fd;
  snprintf(name, sizeof name, "/consumer-%ld", (long)getpid());
  fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 || ftruncate(fd, 4096) != 0) {
    perror("shm_writer: shm_open");
    return 3;
  }
  close(fd);
  afterlife_checkpoint("ready");
  if (argc > 1 && strcmp(argv[1], "unlink") == 0) shm_unlink(name);
  return 0;
}

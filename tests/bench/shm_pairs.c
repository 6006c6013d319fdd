/* The program the shm_churn bench runs: N shm_open(O_CREAT) + shm_unlink pairs, each one
 * creation the interposer reports to the harness. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 10000;
  char name[64];
  for (long i = 0; i < pairs; ++i) {
    snprintf(name, sizeof name, "/afterlife-churn-%ld-%ld", (long)getpid(), i);
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
    if (fd < 0) return 1;
    close(fd);
    if (shm_unlink(name) != 0) return 1;
  }
  return 0;
}

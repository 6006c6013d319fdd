/* A test program for process evidence (tests/harness/evidence_test_linux.cpp): it holds things
 * and says what, without the control client, so that it can be linked statically (no
 * LD_PRELOAD reaches it then). The actions, in order:
 *
 *   shm-map=NAME:SIZE  creates the POSIX shm segment NAME (exclusively), sizes it, maps it
 *                      shared and closes the descriptor: only the mapping holds it
 *   open=PATH          creates PATH and keeps the descriptor open (prints "fd N PATH")
 *   tcp-listen         a TCP socket listening on 127.0.0.1, port chosen by the kernel
 *                      (prints "port N")
 *   fork-sleep=MS      a child that sleeps MS (holding what was inherited); the parent goes on
 *   print=TEXT         TEXT and a newline on stdout (flushed)
 *   pause              waits for a signal
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what, const char *arg) {
  fprintf(stderr, "holder: %s %s: %s\n", what, arg, strerror(errno));
  exit(100);
}

static void shm_map(const char *value) {
  char name[256];
  long size = 4096;
  snprintf(name, sizeof name, "%s", value);
  char *colon = strchr(name, ':');
  if (colon != NULL) {
    *colon = '\0';
    size = atol(colon + 1);
  }
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 || ftruncate(fd, size) != 0) fail("shm_open", name);
  void *at = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (at == MAP_FAILED) fail("mmap", name);
  memset(at, 1, (size_t)size);
  close(fd);
}

static void tcp_listen(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 4) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
    fail("listen", "127.0.0.1:0");
  printf("port %d\n", ntohs(addr.sin_port));
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    /* A copy: the process's arguments stay as given (the harness reports its command line). */
    char action[4096];
    snprintf(action, sizeof action, "%s", argv[i]);
    char *value = strchr(action, '=');
    if (value != NULL) *value++ = '\0';
    if (strcmp(action, "shm-map") == 0 && value) {
      shm_map(value);
    } else if (strcmp(action, "open") == 0 && value) {
      int fd = open(value, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
      if (fd < 0) fail("open", value);
      printf("fd %d %s\n", fd, value);
    } else if (strcmp(action, "tcp-listen") == 0) {
      tcp_listen();
    } else if (strcmp(action, "fork-sleep") == 0 && value) {
      fflush(stdout);
      pid_t child = fork();
      if (child < 0) fail("fork", value);
      if (child == 0) {
        long ms = atol(value);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        _exit(0);
      }
    } else if (strcmp(action, "print") == 0 && value) {
      printf("%s\n", value);
    } else if (strcmp(action, "pause") == 0) {
      fflush(stdout);
      pause();
    } else {
      fprintf(stderr, "holder: unknown action %s\n", action);
      return 2;
    }
    fflush(stdout);
  }
  return 0;
}

/* The actor's Linux actions: POSIX message queues, and a shm segment created past the
 * interposer (a raw openat in /dev/shm, where glibc's shm_open puts it). */
#define _GNU_SOURCE
#include "actor_os.h"

#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int actor_os_action(const char *action, const char *value) {
  if (strcmp(action, "mq") == 0) {
    mqd_t q = mq_open(value, O_CREAT | O_RDWR, 0600, NULL);
    if (q == (mqd_t)-1) actor_fail("mq_open", value);
    return 1;
  }
  if (strcmp(action, "shm-raw") == 0) {
    /* Past the interposer: a kernel event (fanotify, as root) or a registration attributes it. */
    char path[4096];
    snprintf(path, sizeof path, "/dev/shm/%s", value[0] == '/' ? value + 1 : value);
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) actor_fail("openat", path);
    close((int)fd);
    return 1;
  }
  if (strcmp(action, "raw-file") == 0) {
    /* Any path, past the interposer. */
    long fd = syscall(SYS_openat, AT_FDCWD, value, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) actor_fail("openat", value);
    close((int)fd);
    return 1;
  }
  return 0;
}

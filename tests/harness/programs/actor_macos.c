/* The actor's macOS actions: none. macOS has no POSIX message queues, and no file system path
 * or supported raw system call to create a shm segment past the interposer. */
#include "actor_os.h"

#include <errno.h>
#include <string.h>

int actor_os_action(const char *action, const char *value) {
  if (strcmp(action, "mq") == 0 || strcmp(action, "shm-raw") == 0 || strcmp(action, "raw-file") == 0) {
    errno = ENOTSUP;
    actor_fail(action, value);
  }
  return 0;
}

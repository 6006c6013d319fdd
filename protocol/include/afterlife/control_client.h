/* afterlife control-socket client: lets any C or C++ program talk to `afterlife run`.
 *
 *   afterlife_checkpoint("ready");          blocks until the harness says `continue`
 *   afterlife_phase("atexit", 1);           phase begin (0: end)
 *   afterlife_register("posix_shm", "/x");  a named object this process created
 *
 * Protocol (afterlife/protocol.h, protocol/README.md): one line per message, at most
 * AFTERLIFE_MESSAGE_MAX bytes with its newline, `VERB ARGS...` (no pid prefix: the harness
 * takes the sender's pid from the kernel); the last argument runs to the end of the line, so
 * names may contain spaces. A register's KIND is one of AFTERLIFE_KINDS. Every message gets a
 * one-line answer (`continue` for a checkpoint, `ok`
 * otherwise, `error WHY` when malformed). Each message uses its own connection: that survives
 * fork, programs that close every fd, and keeps a message delivered before the sender can die.
 *
 * Every function returns 1 when the harness answered, 0 when the program does not run under
 * the harness (AFTERLIFE_SOCKET unset or empty), -1 on failure with errno set.
 * Header-only on purpose: scenarios, lifecycle and users' programs include it without linking.
 */
#ifndef AFTERLIFE_CONTROL_CLIENT_H
#define AFTERLIFE_CONTROL_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "afterlife/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes all of buf, retrying on EINTR; without SIGPIPE if the harness is gone. */
static inline int afterlife_detail_write_all(int fd, const char *buf, size_t len) {
  int flags = 0;
#ifdef MSG_NOSIGNAL
  flags = MSG_NOSIGNAL;
#endif
  while (len > 0) {
    ssize_t n = send(fd, buf, len, flags);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Connects to the harness; -2 when not under the harness. */
static inline int afterlife_detail_connect(void) {
  const char *path = getenv("AFTERLIFE_SOCKET");
  struct sockaddr_un addr;
  int fd;
  if (path == NULL || path[0] == '\0') return -2;
  if (strlen(path) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  /* Never leak the connection into a child exec'd concurrently by another thread. */
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
#ifdef SO_NOSIGPIPE
  {
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
  }
#endif
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, strlen(path) + 1);
  while (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    if (errno == EINTR) continue;
    {
      int saved = errno;
      close(fd);
      errno = saved;
    }
    return -1;
  }
  return fd;
}

/* Sends `message` and stores the harness's answer line (without newline) in answer. */
static inline int afterlife_send(const char *message, char *answer, size_t answer_size) {
  char line[AFTERLIFE_MESSAGE_MAX + 1];
  size_t used = 0;
  int fd, len;
  if (answer_size > 0) answer[0] = '\0';
  /* No pid prefix: the harness has the sender's pid from the kernel (a prefix, still accepted,
   * must match it, which a process in another pid namespace cannot do). */
  len = snprintf(line, sizeof line, "%s\n", message);
  if (len < 0 || (size_t)len > AFTERLIFE_MESSAGE_MAX || strchr(message, '\n') != NULL) {
    errno = EMSGSIZE;
    return -1;
  }
  fd = afterlife_detail_connect();
  if (fd == -2) return 0;
  if (fd < 0) return -1;
  if (afterlife_detail_write_all(fd, line, (size_t)len) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  /* The answer: read up to the newline (a checkpoint blocks here until the harness decides). */
  for (;;) {
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      errno = n == 0 ? ECONNRESET : errno;
      return -1;
    }
    if (c == '\n') break;
    if (used + 1 < answer_size) {
      answer[used++] = c;
      answer[used] = '\0';
    }
  }
  close(fd);
  return 1;
}

static inline int afterlife_detail_send2(const char *verb, const char *a, const char *b) {
  char message[AFTERLIFE_MESSAGE_MAX];
  char answer[64];
  int len = b ? snprintf(message, sizeof message, "%s %s %s", verb, a, b)
              : snprintf(message, sizeof message, "%s %s", verb, a);
  if (len < 0 || (size_t)len >= sizeof message) {
    errno = EMSGSIZE;
    return -1;
  }
  return afterlife_send(message, answer, sizeof answer);
}

/* Blocks until the harness answers; the harness may end the process instead of answering. */
static inline int afterlife_checkpoint(const char *name) {
  return afterlife_detail_send2("checkpoint", name, NULL);
}

static inline int afterlife_phase(const char *name, int begin) {
  return afterlife_detail_send2("phase", name, begin ? "begin" : "end");
}

static inline int afterlife_register(const char *kind, const char *name) {
  return afterlife_detail_send2("register", kind, name);
}

static inline int afterlife_unregister(const char *kind, const char *name) {
  return afterlife_detail_send2("unregister", kind, name);
}

#ifdef __cplusplus
}
#endif

#endif /* AFTERLIFE_CONTROL_CLIENT_H */

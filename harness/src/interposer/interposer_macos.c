/* macOS entry points of the interposer (compiled on macOS only; untested here). dyld applies
 * the __DATA,__interpose table of a DYLD_INSERT_LIBRARIES image to every other image, so the
 * replacements below call the originals directly: calls made from this image are not
 * interposed. macOS has no POSIX message queues (no mq_open) and no /dev/shm. */
#include "interposer.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/param.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define AFTERLIFE_SITE __builtin_return_address(0)

#define AFTERLIFE_INTERPOSE(replacement, original)                                        \
  __attribute__((used)) static const struct {                                              \
    const void *replacement_fn;                                                            \
    const void *original_fn;                                                               \
  } afterlife_interpose_##original __attribute__((section("__DATA,__interpose"))) = {       \
      (const void *)(unsigned long)&replacement, (const void *)(unsigned long)&original}

/* ---- OS services ---- */

int afterlife_os_send(const char *path, const char *data, size_t len) {
  struct sockaddr_un addr;
  size_t path_len = strlen(path);
  if (path_len >= sizeof addr.sun_path) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, path_len + 1);
  int answered = 0;
  int rc;
  do {
    rc = connect(fd, (const struct sockaddr *)&addr, sizeof addr);
  } while (rc != 0 && errno == EINTR);
  for (size_t sent = 0; rc == 0 && sent < len;) {
    ssize_t n = send(fd, data + sent, len - sent, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = -1;
      break;
    }
    sent += (size_t)n;
  }
  /* The answer: the creating call returns only once the harness has it. */
  char answer[128];
  while (rc == 0 && !answered) {
    ssize_t n = recv(fd, answer, sizeof answer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answered = memchr(answer, '\n', (size_t)n) != NULL;
  }
  (void)close(fd);
  return answered ? 0 : -1;
}

int afterlife_os_fd_path(int fd, char *out, size_t size) {
  char path[MAXPATHLEN];
  if (fcntl(fd, F_GETPATH, path) != 0) return -1;
  if (strlen(path) >= size) return -1;
  strcpy(out, path);
  return 0;
}

unsigned long long afterlife_os_sem_inode(const char *name) {
  (void)name;
  return 0; /* macOS semaphores have no file to stat */
}

/* No /dev/shm: the harness cannot list POSIX shm and semaphore names here. */
int afterlife_os_posix_names_listed(void) { return 0; }

/* backtrace() unwinds with libSystem's unwinder, always there. */
int afterlife_os_unwinder_loaded(void) { return 1; }

/* dyld names every image by its file, the main program too. The offset is from the image's
 * Mach-O header: the harness leaves it as module+offset (no symbolizer on macOS; `atos -o FILE
 * -l 0x100000000 0x100000000+OFFSET` reads it). */
int afterlife_os_module(const void *site, char *path, size_t size, unsigned long *file_address) {
  Dl_info info;
  if (dladdr(site, &info) == 0 || info.dli_fname == NULL || strlen(info.dli_fname) >= size)
    return 0;
  strcpy(path, info.dli_fname);
  *file_address = (unsigned long)((const char *)site - (const char *)info.dli_fbase);
  return 1;
}

/* ---- the real functions: plain calls, not interposed from inside this image ---- */

int afterlife_real_openat(int dirfd, const char *path, int flags, mode_t mode) {
  return openat(dirfd, path, flags, mode);
}
int afterlife_real_shm_open(const char *name, int flags, mode_t mode) {
  return shm_open(name, flags, mode);
}
sem_t *afterlife_real_sem_open(const char *name, int flags, mode_t mode, unsigned value) {
  return sem_open(name, flags, mode, value);
}
int afterlife_real_shmget(key_t key, size_t size, int flags) { return shmget(key, size, flags); }
int afterlife_real_semget(key_t key, int nsems, int flags) { return semget(key, nsems, flags); }
int afterlife_real_msgget(key_t key, int flags) { return msgget(key, flags); }
int afterlife_real_mkfifoat(int dirfd, const char *path, mode_t mode) {
  return mkfifoat(dirfd, path, mode);
}
int afterlife_real_bind(int fd, const struct sockaddr *addr, socklen_t len) {
  return bind(fd, addr, len);
}
int afterlife_real_mkostemps(char *template_path, int suffix_len, int flags) {
  return mkostemps(template_path, suffix_len, flags);
}
FILE *afterlife_real_fopen(const char *path, const char *mode) { return fopen(path, mode); }

/* ---- replacements ---- */

static int afterlife_mac_open(const char *path, int flags, ...) {
  mode_t mode = 0;
  if (flags & O_CREAT) {
    va_list args;
    va_start(args, flags);
    mode = (mode_t)va_arg(args, int);
    va_end(args);
  }
  return afterlife_hook_openat(AT_FDCWD, path, flags, mode, AFTERLIFE_SITE);
}

static int afterlife_mac_openat(int dirfd, const char *path, int flags, ...) {
  mode_t mode = 0;
  if (flags & O_CREAT) {
    va_list args;
    va_start(args, flags);
    mode = (mode_t)va_arg(args, int);
    va_end(args);
  }
  return afterlife_hook_openat(dirfd, path, flags, mode, AFTERLIFE_SITE);
}

static int afterlife_mac_creat(const char *path, mode_t mode) {
  return afterlife_hook_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, AFTERLIFE_SITE);
}

static FILE *afterlife_mac_fopen(const char *path, const char *mode) {
  return afterlife_hook_fopen(path, mode, AFTERLIFE_SITE);
}

static int afterlife_mac_mkstemp(char *template_path) {
  return afterlife_hook_mkostemps(template_path, 0, 0, AFTERLIFE_SITE);
}
static int afterlife_mac_mkstemps(char *template_path, int suffix_len) {
  return afterlife_hook_mkostemps(template_path, suffix_len, 0, AFTERLIFE_SITE);
}
static int afterlife_mac_mkostemp(char *template_path, int flags) {
  return afterlife_hook_mkostemps(template_path, 0, flags, AFTERLIFE_SITE);
}
static int afterlife_mac_mkostemps(char *template_path, int suffix_len, int flags) {
  return afterlife_hook_mkostemps(template_path, suffix_len, flags, AFTERLIFE_SITE);
}

static int afterlife_mac_shm_open(const char *name, int flags, ...) {
  mode_t mode = 0;
  if (flags & O_CREAT) {
    va_list args;
    va_start(args, flags);
    mode = (mode_t)va_arg(args, int);
    va_end(args);
  }
  return afterlife_hook_shm_open(name, flags, mode, AFTERLIFE_SITE);
}

static sem_t *afterlife_mac_sem_open(const char *name, int flags, ...) {
  va_list args;
  va_start(args, flags);
  sem_t *sem = afterlife_hook_sem_open_va(name, flags, args, AFTERLIFE_SITE);
  va_end(args);
  return sem;
}

static int afterlife_mac_shmget(key_t key, size_t size, int flags) {
  return afterlife_hook_shmget(key, size, flags, AFTERLIFE_SITE);
}
static int afterlife_mac_semget(key_t key, int nsems, int flags) {
  return afterlife_hook_semget(key, nsems, flags, AFTERLIFE_SITE);
}
static int afterlife_mac_msgget(key_t key, int flags) {
  return afterlife_hook_msgget(key, flags, AFTERLIFE_SITE);
}
static int afterlife_mac_mkfifo(const char *path, mode_t mode) {
  return afterlife_hook_mkfifoat(AT_FDCWD, path, mode, AFTERLIFE_SITE);
}
static int afterlife_mac_mkfifoat(int dirfd, const char *path, mode_t mode) {
  return afterlife_hook_mkfifoat(dirfd, path, mode, AFTERLIFE_SITE);
}
static int afterlife_mac_bind(int fd, const struct sockaddr *addr, socklen_t len) {
  return afterlife_hook_bind(fd, addr, len, AFTERLIFE_SITE);
}

/* Names placed by rename, link and mkdir (calls from this image reach the originals). */
static int afterlife_mac_rename(const char *old_path, const char *new_path) {
  int rc = rename(old_path, new_path);
  if (rc == 0) afterlife_placed(AT_FDCWD, new_path, AFTERLIFE_SITE);
  return rc;
}
static int afterlife_mac_renameat(int old_dirfd, const char *old_path, int new_dirfd,
                                  const char *new_path) {
  int rc = renameat(old_dirfd, old_path, new_dirfd, new_path);
  if (rc == 0) afterlife_placed(new_dirfd, new_path, AFTERLIFE_SITE);
  return rc;
}
static int afterlife_mac_link(const char *old_path, const char *new_path) {
  int rc = link(old_path, new_path);
  if (rc == 0) afterlife_placed(AT_FDCWD, new_path, AFTERLIFE_SITE);
  return rc;
}
static int afterlife_mac_linkat(int old_dirfd, const char *old_path, int new_dirfd,
                                const char *new_path, int flags) {
  int rc = linkat(old_dirfd, old_path, new_dirfd, new_path, flags);
  if (rc == 0) afterlife_placed(new_dirfd, new_path, AFTERLIFE_SITE);
  return rc;
}
static int afterlife_mac_mkdir(const char *path, mode_t mode) {
  int rc = mkdir(path, mode);
  if (rc == 0) afterlife_placed(AT_FDCWD, path, AFTERLIFE_SITE);
  return rc;
}
static int afterlife_mac_mkdirat(int dirfd, const char *path, mode_t mode) {
  int rc = mkdirat(dirfd, path, mode);
  if (rc == 0) afterlife_placed(dirfd, path, AFTERLIFE_SITE);
  return rc;
}

AFTERLIFE_INTERPOSE(afterlife_mac_rename, rename);
AFTERLIFE_INTERPOSE(afterlife_mac_renameat, renameat);
AFTERLIFE_INTERPOSE(afterlife_mac_link, link);
AFTERLIFE_INTERPOSE(afterlife_mac_linkat, linkat);
AFTERLIFE_INTERPOSE(afterlife_mac_mkdir, mkdir);
AFTERLIFE_INTERPOSE(afterlife_mac_mkdirat, mkdirat);
AFTERLIFE_INTERPOSE(afterlife_mac_open, open);
AFTERLIFE_INTERPOSE(afterlife_mac_openat, openat);
AFTERLIFE_INTERPOSE(afterlife_mac_creat, creat);
AFTERLIFE_INTERPOSE(afterlife_mac_fopen, fopen);
AFTERLIFE_INTERPOSE(afterlife_mac_mkstemp, mkstemp);
AFTERLIFE_INTERPOSE(afterlife_mac_mkstemps, mkstemps);
AFTERLIFE_INTERPOSE(afterlife_mac_mkostemp, mkostemp);
AFTERLIFE_INTERPOSE(afterlife_mac_mkostemps, mkostemps);
AFTERLIFE_INTERPOSE(afterlife_mac_shm_open, shm_open);
AFTERLIFE_INTERPOSE(afterlife_mac_sem_open, sem_open);
AFTERLIFE_INTERPOSE(afterlife_mac_shmget, shmget);
AFTERLIFE_INTERPOSE(afterlife_mac_semget, semget);
AFTERLIFE_INTERPOSE(afterlife_mac_msgget, msgget);
AFTERLIFE_INTERPOSE(afterlife_mac_mkfifo, mkfifo);
AFTERLIFE_INTERPOSE(afterlife_mac_mkfifoat, mkfifoat);
AFTERLIFE_INTERPOSE(afterlife_mac_bind, bind);

/* Linux entry points of the interposer: the preloaded library defines the C library's own
 * names, and reaches the real functions with dlsym(RTLD_NEXT). Its own messages to the harness use
 * raw system calls, so they can never re-enter a hook. */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include "interposer.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* The caller of the entry point: where the object was created. */
#define AFTERLIFE_SITE __builtin_return_address(0)

/* Looks up the next definition of NAME once; racing threads store the same pointer. */
#define AFTERLIFE_NEXT(TYPE, NAME)                                              \
  static __typeof__(TYPE) next_##NAME;                                                    \
  if (next_##NAME == NULL) next_##NAME = (__typeof__(TYPE))dlsym(RTLD_NEXT, #NAME); \
  if (next_##NAME == NULL) {                                                    \
    errno = ENOSYS;                                                             \
  }

/* ---- OS services ---- */

/* One connection per process, kept for its later messages: connecting costs more than the
 * message. It is used only while it is provably still ours: the same process (a forked child
 * connects anew: the harness knows a connection's sender by who connected), the same socket
 * behind the descriptor (a program that closed every fd, or put another file at that number,
 * gets a fresh connection and keeps its own file), and not in use by another thread or a
 * signal handler interrupting a send (then this message gets a connection of its own). */
static int kept_fd = -1;
static long kept_pid;
static unsigned long long kept_inode;
static int kept_busy;

static long connect_to(const char *path) {
  struct sockaddr_un addr;
  size_t path_len = strlen(path);
  if (path_len >= sizeof addr.sun_path) return -1;
  long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, path_len + 1);
  long rc;
  do {
    rc = syscall(SYS_connect, (int)fd, (const struct sockaddr *)&addr, (socklen_t)sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    (void)syscall(SYS_close, (int)fd);
    return -1;
  }
  return fd;
}

static unsigned long long socket_inode(long fd) {
  struct stat st;
  if (syscall(SYS_fstat, (int)fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  return (unsigned long long)st.st_ino;
}

/* Sends one message on fd and waits for its answer line: 1 answered ("ok", "continue"), 0 the
 * connection is unusable (closed, or closed by the harness to make room), -1 refused. */
static int exchange(long fd, const char *data, size_t len) {
  for (size_t sent = 0; sent < len;) {
    long n = syscall(SYS_sendto, (int)fd, data + sent, len - sent, MSG_NOSIGNAL, NULL, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    sent += (size_t)n;
  }
  /* The answer: the creating call returns only once the harness has it. */
  char answer[128];
  size_t used = 0;
  for (;;) {
    long n = syscall(SYS_recvfrom, (int)fd, answer + used, sizeof answer - 1 - used, 0, NULL, NULL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    used += (size_t)n;
    answer[used] = '\0';
    if (memchr(answer, '\n', used) != NULL) break;
    if (used + 1 >= sizeof answer) return 0;
  }
  if (strncmp(answer, "error closed", 12) == 0) return 0;
  return strncmp(answer, "error", 5) == 0 ? -1 : 1;
}

int afterlife_os_send(const char *path, const char *data, size_t len) {
  long pid = syscall(SYS_getpid);
  if (__atomic_exchange_n(&kept_busy, 1, __ATOMIC_ACQUIRE) == 0) {
    int result = 0;
    if (kept_fd >= 0 && kept_pid == pid && socket_inode(kept_fd) == kept_inode)
      result = exchange(kept_fd, data, len);
    if (result == 0) {
      /* Not ours any more (or never was): a fresh one, kept. The old number is left alone:
       * after a fork it is the parent's connection, after close-all it is someone's file. */
      if (kept_fd >= 0 && kept_pid == pid && socket_inode(kept_fd) == kept_inode)
        (void)syscall(SYS_close, (int)kept_fd);
      kept_fd = (int)connect_to(path);
      kept_pid = pid;
      kept_inode = kept_fd >= 0 ? socket_inode(kept_fd) : 0;
      result = kept_fd >= 0 ? exchange(kept_fd, data, len) : 0;
    }
    __atomic_store_n(&kept_busy, 0, __ATOMIC_RELEASE);
    return result > 0 ? 0 : -1;
  }
  /* Busy (another thread, or a signal handler during a send): a connection of its own. */
  long fd = connect_to(path);
  if (fd < 0) return -1;
  int result = exchange(fd, data, len);
  (void)syscall(SYS_close, (int)fd);
  return result > 0 ? 0 : -1;
}

int afterlife_os_fd_path(int fd, char *out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, size - 1);
  if (n < 0) return -1;
  out[n] = '\0';
  return 0;
}

unsigned long long afterlife_os_sem_inode(const char *name) {
  char path[4200];
  struct stat st;
  while (*name == '/') ++name;
  snprintf(path, sizeof path, "/dev/shm/sem.%s", name);
  return lstat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* /dev/shm lists POSIX shm and semaphores. */
int afterlife_os_posix_names_listed(void) { return 1; }

/* glibc's backtrace() dlopens libgcc_s on its first call; C++ programs have it already. */
static int is_unwinder(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  (void)data;
  return info->dlpi_name != NULL && strstr(info->dlpi_name, "libgcc_s.so") != NULL;
}

int afterlife_os_unwinder_loaded(void) { return dl_iterate_phdr(is_unwinder, NULL); }

/* The main program's file, read once per process image (racing threads write the same bytes):
 * its link map has no name, and dladdr gives argv[0] for it instead. */
static char executable_path[4096];

int afterlife_os_module(const void *site, char *path, size_t size, unsigned long *file_address) {
  Dl_info info;
  struct link_map *map = NULL;
  if (dladdr1(site, &info, (void **)&map, RTLD_DL_LINKMAP) == 0 || map == NULL) return 0;
  const char *file = map->l_name;
  if (file == NULL || file[0] == '\0') {
    if (executable_path[0] == '\0') {
      ssize_t n = readlink("/proc/self/exe", executable_path, sizeof executable_path - 1);
      if (n <= 0) return 0;
      executable_path[n] = '\0';
    }
    file = executable_path;
  }
  if (strlen(file) >= size) return 0;
  strcpy(path, file);
  /* l_addr: how far the object was moved from the addresses its file was linked at. */
  *file_address = (unsigned long)((const char *)site - (const char *)map->l_addr);
  return 1;
}

/* ---- the real functions ---- */

int afterlife_real_openat(int dirfd, const char *path, int flags, mode_t mode) {
  AFTERLIFE_NEXT(int (*)(int, const char *, int, ...), openat);
  return next_openat != NULL ? next_openat(dirfd, path, flags, mode) : -1;
}

int afterlife_real_shm_open(const char *name, int flags, mode_t mode) {
  AFTERLIFE_NEXT(int (*)(const char *, int, mode_t), shm_open);
  return next_shm_open != NULL ? next_shm_open(name, flags, mode) : -1;
}

sem_t *afterlife_real_sem_open(const char *name, int flags, mode_t mode, unsigned value) {
  AFTERLIFE_NEXT(sem_t * (*)(const char *, int, ...), sem_open);
  return next_sem_open != NULL ? next_sem_open(name, flags, mode, value) : SEM_FAILED;
}

int afterlife_real_shmget(key_t key, size_t size, int flags) {
  AFTERLIFE_NEXT(int (*)(key_t, size_t, int), shmget);
  return next_shmget != NULL ? next_shmget(key, size, flags) : -1;
}

int afterlife_real_semget(key_t key, int nsems, int flags) {
  AFTERLIFE_NEXT(int (*)(key_t, int, int), semget);
  return next_semget != NULL ? next_semget(key, nsems, flags) : -1;
}

int afterlife_real_msgget(key_t key, int flags) {
  AFTERLIFE_NEXT(int (*)(key_t, int), msgget);
  return next_msgget != NULL ? next_msgget(key, flags) : -1;
}

int afterlife_real_mkfifoat(int dirfd, const char *path, mode_t mode) {
  AFTERLIFE_NEXT(int (*)(int, const char *, mode_t), mkfifoat);
  return next_mkfifoat != NULL ? next_mkfifoat(dirfd, path, mode) : -1;
}

int afterlife_real_bind(int fd, const struct sockaddr *addr, socklen_t len) {
  AFTERLIFE_NEXT(int (*)(int, const struct sockaddr *, socklen_t), bind);
  return next_bind != NULL ? next_bind(fd, addr, len) : -1;
}

int afterlife_real_mkostemps(char *template_path, int suffix_len, int flags) {
  AFTERLIFE_NEXT(int (*)(char *, int, int), mkostemps);
  return next_mkostemps != NULL ? next_mkostemps(template_path, suffix_len, flags) : -1;
}

FILE *afterlife_real_fopen(const char *path, const char *mode) {
  AFTERLIFE_NEXT(FILE * (*)(const char *, const char *), fopen);
  return next_fopen != NULL ? next_fopen(path, mode) : NULL;
}

/* ---- entry points ---- */

/* open's third argument exists only when the flags create something. */
static int needs_mode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

#define AFTERLIFE_MODE_ARG(flags, mode)         \
  mode_t mode = 0;                              \
  if (needs_mode(flags)) {                      \
    va_list args;                               \
    va_start(args, flags);                      \
    mode = (mode_t)va_arg(args, int);           \
    va_end(args);                               \
  }

int open(const char *path, int flags, ...) {
  AFTERLIFE_MODE_ARG(flags, mode);
  return afterlife_hook_openat(AT_FDCWD, path, flags, mode, AFTERLIFE_SITE);
}

int open64(const char *path, int flags, ...) {
  AFTERLIFE_MODE_ARG(flags, mode);
  return afterlife_hook_openat(AT_FDCWD, path, flags | O_LARGEFILE, mode, AFTERLIFE_SITE);
}

int openat(int dirfd, const char *path, int flags, ...) {
  AFTERLIFE_MODE_ARG(flags, mode);
  return afterlife_hook_openat(dirfd, path, flags, mode, AFTERLIFE_SITE);
}

int openat64(int dirfd, const char *path, int flags, ...) {
  AFTERLIFE_MODE_ARG(flags, mode);
  return afterlife_hook_openat(dirfd, path, flags | O_LARGEFILE, mode, AFTERLIFE_SITE);
}

/* _FORTIFY_SOURCE builds call these when the flags are not a compile-time constant; they
 * never create (a creating call passes the mode and goes through open). */
int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags) {
  return afterlife_hook_openat(AT_FDCWD, path, flags, 0, AFTERLIFE_SITE);
}
int __open64_2(const char *path, int flags);
int __open64_2(const char *path, int flags) {
  return afterlife_hook_openat(AT_FDCWD, path, flags | O_LARGEFILE, 0, AFTERLIFE_SITE);
}

int creat(const char *path, mode_t mode) {
  return afterlife_hook_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, AFTERLIFE_SITE);
}

int creat64(const char *path, mode_t mode) {
  return afterlife_hook_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC | O_LARGEFILE, mode,
                               AFTERLIFE_SITE);
}

FILE *fopen(const char *path, const char *mode) {
  return afterlife_hook_fopen(path, mode, AFTERLIFE_SITE);
}

FILE *fopen64(const char *path, const char *mode) {
  return afterlife_hook_fopen(path, mode, AFTERLIFE_SITE);
}

int mkstemp(char *template_path) {
  return afterlife_hook_mkostemps(template_path, 0, 0, AFTERLIFE_SITE);
}
int mkstemp64(char *template_path) {
  return afterlife_hook_mkostemps(template_path, 0, 0, AFTERLIFE_SITE);
}
int mkostemp(char *template_path, int flags) {
  return afterlife_hook_mkostemps(template_path, 0, flags, AFTERLIFE_SITE);
}
int mkstemps(char *template_path, int suffix_len) {
  return afterlife_hook_mkostemps(template_path, suffix_len, 0, AFTERLIFE_SITE);
}
int mkostemps(char *template_path, int suffix_len, int flags) {
  return afterlife_hook_mkostemps(template_path, suffix_len, flags, AFTERLIFE_SITE);
}

int shm_open(const char *name, int flags, mode_t mode) {
  return afterlife_hook_shm_open(name, flags, mode, AFTERLIFE_SITE);
}

sem_t *sem_open(const char *name, int flags, ...) {
  va_list args;
  va_start(args, flags);
  sem_t *sem = afterlife_hook_sem_open_va(name, flags, args, AFTERLIFE_SITE);
  va_end(args);
  return sem;
}

/* POSIX message queues exist on Linux only; their hook lives here. */
mqd_t mq_open(const char *name, int flags, ...) {
  AFTERLIFE_NEXT(mqd_t (*)(const char *, int, ...), mq_open);
  if (next_mq_open == NULL) return (mqd_t)-1;
  mode_t mode = 0;
  struct mq_attr *attr = NULL;
  if (flags & O_CREAT) {
    va_list args;
    va_start(args, flags);
    mode = (mode_t)va_arg(args, int);
    attr = va_arg(args, struct mq_attr *);
    va_end(args);
  }
  const void *site = AFTERLIFE_SITE;
  if (!(flags & O_CREAT) || !afterlife_recording())
    return next_mq_open(name, flags, mode, attr);
  struct stat st;
  char normal[4096];
  const char *bare = name;
  while (*bare == '/') ++bare;
  snprintf(normal, sizeof normal, "/%s", bare);
  /* Same create-exclusively-else-open split as the other hooks (interposer_posix.c). Where
   * /dev/mqueue is not mounted the harness cannot list queues: it looks at the name first. */
  int exclusive = (flags & O_EXCL) != 0;
  if (access("/dev/mqueue", F_OK) != 0) afterlife_announce("posix_mq", normal);
  for (int round = 0; round < 3; ++round) {
    mqd_t queue = next_mq_open(name, flags | O_EXCL, mode, attr);
    if (queue != (mqd_t)-1) {
      afterlife_record(AFTERLIFE_KIND(posix_mq), normal,
                       fstat(queue, &st) == 0 ? (unsigned long long)st.st_ino : 0, site);
      return queue;
    }
    if (exclusive || errno != EEXIST) return queue;
    queue = next_mq_open(name, flags & ~O_CREAT);
    if (queue != (mqd_t)-1 || errno != ENOENT) return queue;
  }
  return next_mq_open(name, flags, mode, attr);
}

int shmget(key_t key, size_t size, int flags) {
  return afterlife_hook_shmget(key, size, flags, AFTERLIFE_SITE);
}

int semget(key_t key, int nsems, int flags) {
  return afterlife_hook_semget(key, nsems, flags, AFTERLIFE_SITE);
}

int msgget(key_t key, int flags) { return afterlife_hook_msgget(key, flags, AFTERLIFE_SITE); }

int mkfifo(const char *path, mode_t mode) {
  return afterlife_hook_mkfifoat(AT_FDCWD, path, mode, AFTERLIFE_SITE);
}

int mkfifoat(int dirfd, const char *path, mode_t mode) {
  return afterlife_hook_mkfifoat(dirfd, path, mode, AFTERLIFE_SITE);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  return afterlife_hook_bind(fd, addr, len, AFTERLIFE_SITE);
}

/* Names placed by rename, link and mkdir. glibc's rename, renameat and link enter the kernel
 * themselves (not through renameat2 or linkat), so each entry point has its hook. */
int rename(const char *old_path, const char *new_path) {
  AFTERLIFE_NEXT(int (*)(const char *, const char *), rename);
  if (next_rename == NULL) return -1;
  int rc = next_rename(old_path, new_path);
  if (rc == 0) afterlife_placed(AT_FDCWD, new_path, AFTERLIFE_SITE);
  return rc;
}

int renameat(int old_dirfd, const char *old_path, int new_dirfd, const char *new_path) {
  AFTERLIFE_NEXT(int (*)(int, const char *, int, const char *), renameat);
  if (next_renameat == NULL) return -1;
  int rc = next_renameat(old_dirfd, old_path, new_dirfd, new_path);
  if (rc == 0) afterlife_placed(new_dirfd, new_path, AFTERLIFE_SITE);
  return rc;
}

int renameat2(int old_dirfd, const char *old_path, int new_dirfd, const char *new_path,
              unsigned int flags) {
  AFTERLIFE_NEXT(int (*)(int, const char *, int, const char *, unsigned int), renameat2);
  if (next_renameat2 == NULL) return -1;
  int rc = next_renameat2(old_dirfd, old_path, new_dirfd, new_path, flags);
  /* RENAME_EXCHANGE swaps two names: the new name holds the old file, and so does the old. */
  if (rc == 0) afterlife_placed(new_dirfd, new_path, AFTERLIFE_SITE);
  if (rc == 0 && (flags & RENAME_EXCHANGE)) afterlife_placed(old_dirfd, old_path, AFTERLIFE_SITE);
  return rc;
}

int link(const char *old_path, const char *new_path) {
  AFTERLIFE_NEXT(int (*)(const char *, const char *), link);
  if (next_link == NULL) return -1;
  int rc = next_link(old_path, new_path);
  if (rc == 0) afterlife_placed(AT_FDCWD, new_path, AFTERLIFE_SITE);
  return rc;
}

int linkat(int old_dirfd, const char *old_path, int new_dirfd, const char *new_path, int flags) {
  AFTERLIFE_NEXT(int (*)(int, const char *, int, const char *, int), linkat);
  if (next_linkat == NULL) return -1;
  int rc = next_linkat(old_dirfd, old_path, new_dirfd, new_path, flags);
  if (rc == 0) afterlife_placed(new_dirfd, new_path, AFTERLIFE_SITE);
  return rc;
}

int mkdir(const char *path, mode_t mode) {
  AFTERLIFE_NEXT(int (*)(const char *, mode_t), mkdir);
  if (next_mkdir == NULL) return -1;
  int rc = next_mkdir(path, mode);
  if (rc == 0) afterlife_placed(AT_FDCWD, path, AFTERLIFE_SITE);
  return rc;
}

int mkdirat(int dirfd, const char *path, mode_t mode) {
  AFTERLIFE_NEXT(int (*)(int, const char *, mode_t), mkdirat);
  if (next_mkdirat == NULL) return -1;
  int rc = next_mkdirat(dirfd, path, mode);
  if (rc == 0) afterlife_placed(dirfd, path, AFTERLIFE_SITE);
  return rc;
}

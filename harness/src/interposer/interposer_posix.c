/* The interposer's hooks and the messages they send (see interposer.h). */
#define _GNU_SOURCE
#include "interposer.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum { afterlife_path_max = 4096 };

/* The control socket's path, copied at load time: a program may clear its environment later.
 * A plain array, not an object with a constructor: this library must not depend on static
 * construction order (and is C anyway). */
static char socket_path[afterlife_path_max];

static int socket_known;

/* At load time, and on first use: another library's constructor may create something before
 * ours has run. Threads racing here copy the same bytes. */
__attribute__((constructor)) static void afterlife_interposer_init(void) {
  const char *path = getenv("AFTERLIFE_SOCKET");
  if (path != NULL && strlen(path) < sizeof socket_path) strcpy(socket_path, path);
  socket_known = 1;
  /* backtrace()'s first call sets up the unwinder (on Linux a dlopen of libgcc_s, which
   * mallocs). Done here, at load time, when the library is there already (every C++ program):
   * a hook may run in the signal handler of a program that crashed inside malloc (a crash
   * handler writing its report), where that would deadlock. A C program without it loads it on
   * its first record instead: loading it here would cost every process of every run ~0.2 ms. */
  if (socket_path[0] != '\0' && afterlife_os_unwinder_loaded()) {
    void *frame[1];
    (void)backtrace(frame, 1);
  }
}

int afterlife_recording(void) {
  if (!socket_known) afterlife_interposer_init();
  return socket_path[0] != '\0';
}

/* Appends src to dst[used..size), escaping '%' and '\n'; returns the new length. */
static size_t append_escaped(char *dst, size_t used, size_t size, const char *src) {
  for (; *src != '\0' && used + 4 < size; ++src) {
    if (*src == '%' || *src == '\n') {
      used += (size_t)snprintf(dst + used, size - used, "%%%02X", (unsigned char)*src);
    } else {
      dst[used++] = *src;
    }
  }
  dst[used] = '\0';
  return used;
}

/* `FILE+0xADDRESS(symbol+0xOFF)`, or without the parenthesis when dladdr knows no symbol:
 * FILE the loaded file, ADDRESS the site in that file's terms (afterlife_os_module); the harness
 * names the function, source file and line from them after the run, and falls back to
 * dladdr's symbol. A bare pointer when the site is in no loaded file. */
static void describe_site(const void *site, char *out, size_t size) {
  Dl_info info;
  char module[afterlife_path_max];
  unsigned long address = 0;
  memset(&info, 0, sizeof info);
  if (site == NULL || dladdr(site, &info) == 0 ||
      !afterlife_os_module(site, module, sizeof module, &address)) {
    snprintf(out, size, "%p", site);
    return;
  }
  int n = snprintf(out, size, "%s+0x%lx", module, address);
  if (n > 0 && (size_t)n < size && info.dli_sname != NULL && info.dli_saddr != NULL)
    snprintf(out + n, size - (size_t)n, "(%s+0x%lx)", info.dli_sname,
             (unsigned long)((const char *)site - (const char *)info.dli_saddr));
  for (char *c = out; *c != '\0'; ++c)
    if (*c == '\t' || *c == '\n') *c = ' ';
}

/* The call site, then up to afterlife_callers_max of its callers, innermost first, joined by
 * " <- ". The direct caller of shm_open is often library code (Boost.Interprocess, CPython's
 * _posixshmem), so the frames above it are what names the program's own code. The unwinder
 * finds them from the stack; the interposer's own frames end at the hooked entry point, whose
 * return address is `site`. When the unwinder cannot see `site` (code without unwind tables),
 * only the site is written. On the unwinder's set-up, see afterlife_interposer_init. */
enum { afterlife_callers_max = 6, afterlife_frames_max = 24 };

static size_t describe_chain(const void *site, char *out, size_t size) {
  describe_site(site, out, size);
  size_t used = strlen(out);
  void *frames[afterlife_frames_max];
  int count = backtrace(frames, afterlife_frames_max);
  int at = 0;
  while (at < count && frames[at] != site) ++at;
  char frame_text[1024];
  for (int i = at + 1, written = 0; i < count && written < afterlife_callers_max; ++i, ++written) {
    describe_site(frames[i], frame_text, sizeof frame_text);
    int n = snprintf(out + used, size - used, " <- %s", frame_text);
    if (n < 0 || (size_t)n >= size - used) {
      out[used] = '\0';
      break;
    }
    used += (size_t)n;
  }
  return used;
}

void afterlife_record(const char *kind, const char *name, unsigned long long inode,
                      const void *site) {
  if (!afterlife_recording()) return;
  int saved_errno = errno;
  char site_text[(afterlife_callers_max + 1) * 1024];
  char line[AFTERLIFE_RECORD_MAX];
  describe_chain(site, site_text, sizeof site_text);
  int head = snprintf(line, sizeof line, "record %s\t%llu\t%s\t", kind, inode, site_text);
  if (head > 0 && (size_t)head < sizeof line - 2) {
    size_t used = append_escaped(line, (size_t)head, sizeof line - 1, name);
    line[used++] = '\n';
    (void)afterlife_os_send(socket_path, line, used);
  }
  errno = saved_errno;
}

void afterlife_announce(const char *kind, const char *name) {
  if (!afterlife_recording()) return;
  int saved_errno = errno;
  char line[afterlife_path_max + 64];
  int head = snprintf(line, sizeof line, "intent %s ", kind);
  if (head > 0 && (size_t)head < sizeof line - 2) {
    size_t used = append_escaped(line, (size_t)head, sizeof line - 1, name);
    line[used++] = '\n';
    (void)afterlife_os_send(socket_path, line, used);
  }
  errno = saved_errno;
}

/* POSIX names are recorded as "/NAME" whether or not the caller wrote the slash. */
static void record_posix_name(const char *kind, const char *name, unsigned long long inode,
                              const void *site) {
  char normal[afterlife_path_max];
  while (*name == '/') ++name;
  snprintf(normal, sizeof normal, "/%s", name);
  afterlife_record(kind, normal, inode, site);
}

static void announce_posix_name(const char *kind, const char *name) {
  char normal[afterlife_path_max];
  while (*name == '/') ++name;
  snprintf(normal, sizeof normal, "/%s", name);
  afterlife_announce(kind, normal);
}

void afterlife_record_path(const char *kind, int dirfd, const char *path,
                           unsigned long long inode, const void *site) {
  char absolute[2 * afterlife_path_max];
  char base[afterlife_path_max];
  if (!afterlife_recording()) return;
  if (path[0] == '/') {
    afterlife_record(kind, path, inode, site);
    return;
  }
  int saved_errno = errno;
  int have_base = dirfd == AT_FDCWD ? getcwd(base, sizeof base) != NULL
                                    : afterlife_os_fd_path(dirfd, base, sizeof base) == 0;
  if (have_base) {
    snprintf(absolute, sizeof absolute, "%s/%s", base, path);
    afterlife_record(kind, absolute, inode, site);
  }
  errno = saved_errno;
}

static unsigned long long fd_inode(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* Creation is what is recorded, not opening: an O_CREAT open of an existing object creates
 * nothing. So a create-or-open is split into create-exclusively, else open-existing; when the
 * object disappears between the two (ENOENT), try again. A bounded number of rounds, then the
 * caller's own call, unrecorded (e.g. O_CREAT through a dangling symlink). */
enum { afterlife_create_rounds = 3 };

int afterlife_hook_openat(int dirfd, const char *path, int flags, mode_t mode, const void *site) {
  if (!(flags & O_CREAT) || !afterlife_recording() || path == NULL)
    return afterlife_real_openat(dirfd, path, flags, mode);
  if (flags & O_EXCL) {
    int fd = afterlife_real_openat(dirfd, path, flags, mode);
    if (fd >= 0) afterlife_record_path(AFTERLIFE_KIND(file), dirfd, path, fd_inode(fd), site);
    return fd;
  }
  for (int round = 0; round < afterlife_create_rounds; ++round) {
    int fd = afterlife_real_openat(dirfd, path, flags | O_EXCL, mode);
    if (fd >= 0) {
      afterlife_record_path(AFTERLIFE_KIND(file), dirfd, path, fd_inode(fd), site);
      return fd;
    }
    if (errno != EEXIST) return fd;
    fd = afterlife_real_openat(dirfd, path, flags & ~O_CREAT, mode);
    if (fd >= 0 || errno != ENOENT) return fd;
  }
  return afterlife_real_openat(dirfd, path, flags, mode);
}

int afterlife_hook_shm_open(const char *name, int flags, mode_t mode, const void *site) {
  if (!(flags & O_CREAT) || !afterlife_recording() || name == NULL)
    return afterlife_real_shm_open(name, flags, mode);
  if (!afterlife_os_posix_names_listed()) announce_posix_name("posix_shm", name);
  if (flags & O_EXCL) {
    int fd = afterlife_real_shm_open(name, flags, mode);
    if (fd >= 0) record_posix_name(AFTERLIFE_KIND(posix_shm), name, fd_inode(fd), site);
    return fd;
  }
  for (int round = 0; round < afterlife_create_rounds; ++round) {
    int fd = afterlife_real_shm_open(name, flags | O_EXCL, mode);
    if (fd >= 0) {
      record_posix_name(AFTERLIFE_KIND(posix_shm), name, fd_inode(fd), site);
      return fd;
    }
    if (errno != EEXIST) return fd;
    fd = afterlife_real_shm_open(name, flags & ~O_CREAT, mode);
    if (fd >= 0 || errno != ENOENT) return fd;
  }
  return afterlife_real_shm_open(name, flags, mode);
}

sem_t *afterlife_hook_sem_open(const char *name, int flags, mode_t mode, unsigned value,
                               const void *site) {
  if (!(flags & O_CREAT) || !afterlife_recording() || name == NULL)
    return afterlife_real_sem_open(name, flags, mode, value);
  if (!afterlife_os_posix_names_listed()) announce_posix_name("posix_sem", name);
  if (flags & O_EXCL) {
    sem_t *sem = afterlife_real_sem_open(name, flags, mode, value);
    if (sem != SEM_FAILED)
      record_posix_name(AFTERLIFE_KIND(posix_sem), name, afterlife_os_sem_inode(name), site);
    return sem;
  }
  for (int round = 0; round < afterlife_create_rounds; ++round) {
    sem_t *sem = afterlife_real_sem_open(name, flags | O_EXCL, mode, value);
    if (sem != SEM_FAILED) {
      record_posix_name(AFTERLIFE_KIND(posix_sem), name, afterlife_os_sem_inode(name), site);
      return sem;
    }
    if (errno != EEXIST) return sem;
    sem = afterlife_real_sem_open(name, flags & ~O_CREAT, mode, value);
    if (sem != SEM_FAILED || errno != ENOENT) return sem;
  }
  return afterlife_real_sem_open(name, flags, mode, value);
}

sem_t *afterlife_hook_sem_open_va(const char *name, int flags, va_list creat_args,
                                  const void *site) {
  mode_t mode = 0;
  unsigned value = 0;
  if (flags & O_CREAT) {
    mode = (mode_t)va_arg(creat_args, int);
    value = va_arg(creat_args, unsigned);
  }
  return afterlife_hook_sem_open(name, flags, mode, value, site);
}

static void record_sysv(const char *kind, int id, const void *site) {
  char name[32];
  snprintf(name, sizeof name, "%d", id);
  afterlife_record(kind, name, 0, site);
}

/* SysV get calls: IPC_PRIVATE always creates; IPC_CREAT without IPC_EXCL is split like
 * O_CREAT above. `get` is shmget/semget/msgget with its other arguments bound in `args`. */
struct sysv_args {
  key_t key;
  size_t size;
  int nsems;
};
typedef int (*sysv_get)(const struct sysv_args *args, int flags);

static int sysv_create(const char *kind, const struct sysv_args *args, int flags, sysv_get get,
                       const void *site) {
  if (!afterlife_recording()) return get(args, flags);
  if (args->key == IPC_PRIVATE || (flags & IPC_EXCL)) {
    int id = get(args, flags);
    if (id >= 0 && (args->key == IPC_PRIVATE || (flags & IPC_CREAT))) record_sysv(kind, id, site);
    return id;
  }
  if (!(flags & IPC_CREAT)) return get(args, flags);
  for (int round = 0; round < afterlife_create_rounds; ++round) {
    int id = get(args, flags | IPC_EXCL);
    if (id >= 0) {
      record_sysv(kind, id, site);
      return id;
    }
    if (errno != EEXIST) return id;
    id = get(args, flags & ~IPC_CREAT);
    if (id >= 0 || errno != ENOENT) return id;
  }
  return get(args, flags);
}

static int call_shmget(const struct sysv_args *args, int flags) {
  return afterlife_real_shmget(args->key, args->size, flags);
}
static int call_semget(const struct sysv_args *args, int flags) {
  return afterlife_real_semget(args->key, args->nsems, flags);
}
static int call_msgget(const struct sysv_args *args, int flags) {
  return afterlife_real_msgget(args->key, flags);
}

int afterlife_hook_shmget(key_t key, size_t size, int flags, const void *site) {
  struct sysv_args args = {key, size, 0};
  return sysv_create(AFTERLIFE_KIND(sysv_shm), &args, flags, call_shmget, site);
}

int afterlife_hook_semget(key_t key, int nsems, int flags, const void *site) {
  struct sysv_args args = {key, 0, nsems};
  return sysv_create(AFTERLIFE_KIND(sysv_sem), &args, flags, call_semget, site);
}

int afterlife_hook_msgget(key_t key, int flags, const void *site) {
  struct sysv_args args = {key, 0, 0};
  return sysv_create(AFTERLIFE_KIND(sysv_msg), &args, flags, call_msgget, site);
}

int afterlife_hook_mkfifoat(int dirfd, const char *path, mode_t mode, const void *site) {
  int rc = afterlife_real_mkfifoat(dirfd, path, mode);
  if (rc == 0 && path != NULL) afterlife_record_path(AFTERLIFE_KIND(fifo), dirfd, path, 0, site);
  return rc;
}

int afterlife_hook_bind(int fd, const struct sockaddr *addr, socklen_t len, const void *site) {
  int rc = afterlife_real_bind(fd, addr, len);
  if (rc != 0 || addr == NULL || addr->sa_family != AF_UNIX) return rc;
  const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
  /* Abstract (Linux) and unnamed sockets have no file to leave behind. */
  if ((size_t)len <= offsetof(struct sockaddr_un, sun_path) || un->sun_path[0] == '\0') return rc;
  size_t path_len = (size_t)len - offsetof(struct sockaddr_un, sun_path);
  char path[sizeof un->sun_path + 1];
  if (path_len > sizeof un->sun_path) path_len = sizeof un->sun_path;
  memcpy(path, un->sun_path, path_len);
  path[path_len] = '\0';
  afterlife_record_path("socket", AT_FDCWD, path, 0, site);
  return rc;
}

int afterlife_hook_mkostemps(char *template_path, int suffix_len, int flags, const void *site) {
  int fd = afterlife_real_mkostemps(template_path, suffix_len, flags);
  if (fd >= 0) afterlife_record_path(AFTERLIFE_KIND(file), AT_FDCWD, template_path, fd_inode(fd), site);
  return fd;
}

FILE *afterlife_hook_fopen(const char *path, const char *mode, const void *site) {
  /* The C library opens through internal calls the hooks never see; compare before/after. */
  int may_create = mode != NULL && (strchr(mode, 'w') != NULL || strchr(mode, 'a') != NULL);
  struct stat st;
  int existed = !may_create || path == NULL || lstat(path, &st) == 0;
  FILE *file = afterlife_real_fopen(path, mode);
  if (file != NULL && !existed)
    afterlife_record_path(AFTERLIFE_KIND(file), AT_FDCWD, path, fd_inode(fileno(file)), site);
  return file;
}

void afterlife_placed(int dirfd, const char *path, const void *site) {
  if (path == NULL || !afterlife_recording()) return;
  int saved_errno = errno;
  struct stat st;
  if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    const char *kind = S_ISDIR(st.st_mode)    ? AFTERLIFE_KIND(directory)
                       : S_ISSOCK(st.st_mode) ? AFTERLIFE_KIND(socket)
                       : S_ISFIFO(st.st_mode) ? AFTERLIFE_KIND(fifo)
                                              : AFTERLIFE_KIND(file);
    afterlife_record_path(kind, dirfd, path, (unsigned long long)st.st_ino, site);
  }
  errno = saved_errno;
}

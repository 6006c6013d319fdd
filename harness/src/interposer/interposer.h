/* The interposer: preloaded into every process of a run (LD_PRELOAD on Linux,
 * DYLD_INSERT_LIBRARIES on macOS), it sends the harness one message per named object the
 * process creates. interposer_posix.c holds the hooks and the message format;
 * interposer_linux.c and interposer_macos.c hold the entry points (how a call is diverted to a
 * hook) and the few OS services the hooks need.
 *
 * Message (control socket, AFTERLIFE_SOCKET; one connection per message, made anew by path, so
 * a program that closed every descriptor still reports; the creating call returns only once
 * the harness has answered, and the harness answers once it has journaled what it saw):
 *   record KIND \t INODE \t SITE \t NAME \n
 * NAME runs to the end of the line; '%' and '\n' in it are written as %25 and %0A. The pid is
 * not in it: the harness has it from the kernel. Before an exclusive creation in a namespace
 * the harness cannot list (POSIX queues without /dev/mqueue), `intent KIND NAME` lets the
 * harness see the name absent first.
 * C, not C++: it is loaded into arbitrary programs and must not bring a C++ runtime along.
 */
#ifndef AFTERLIFE_INTERPOSER_H
#define AFTERLIFE_INTERPOSER_H

#include <afterlife/protocol.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The real functions, as the OS file reaches them. */
int afterlife_real_openat(int dirfd, const char *path, int flags, mode_t mode);
int afterlife_real_shm_open(const char *name, int flags, mode_t mode);
sem_t *afterlife_real_sem_open(const char *name, int flags, mode_t mode, unsigned value);
int afterlife_real_shmget(key_t key, size_t size, int flags);
int afterlife_real_semget(key_t key, int nsems, int flags);
int afterlife_real_msgget(key_t key, int flags);
int afterlife_real_mkfifoat(int dirfd, const char *path, mode_t mode);
int afterlife_real_bind(int fd, const struct sockaddr *addr, socklen_t len);
int afterlife_real_mkostemps(char *template_path, int suffix_len, int flags);
FILE *afterlife_real_fopen(const char *path, const char *mode);

/* OS services. */
/* Connects to the Unix socket at path, sends data, waits for the one-line answer; never
 * through the hooked functions. 0 when answered. */
int afterlife_os_send(const char *path, const char *data, size_t len);
/* The path a directory descriptor refers to; 0 on success. */
int afterlife_os_fd_path(int fd, char *out, size_t size);
/* The inode of the semaphore's backing file, 0 when the OS has none to show. */
unsigned long long afterlife_os_sem_inode(const char *name);
/* 1 when the harness can list POSIX shm and semaphore names (Linux /dev/shm). */
int afterlife_os_posix_names_listed(void);
/* 1 when backtrace()'s unwinder is already in the process, so that a first call costs no
 * library load. */
int afterlife_os_unwinder_loaded(void);
/* The file the code at `site` was loaded from (the mapped file, never the program's argv[0],
 * which a program may rewrite: PostgreSQL's `postgres: autovacuum launcher`) and site's address
 * in that file's own terms (what its symbol and line tables use), for the harness to
 * symbolize after the run. 0 when unknown. */
int afterlife_os_module(const void *site, char *path, size_t size, unsigned long *file_address);

/* Records one creation. dirfd/path are resolved to an absolute path for files. */
void afterlife_record(const char *kind, const char *name, unsigned long long inode,
                      const void *site);
void afterlife_record_path(const char *kind, int dirfd, const char *path,
                           unsigned long long inode, const void *site);
/* 1 when this process runs under a harness that wants records. */
int afterlife_recording(void);
/* Tells the harness that an exclusive creation of NAME (of a kind it cannot list) follows. */
void afterlife_announce(const char *kind, const char *name);

/* The hooks: same contract as the function they stand for; `site` is the caller's address. */
/* After a successful rename, link or mkdir: records what now stands at the new name (its kind
 * and inode by lstat). A renamed or linked file keeps its creator: the harness gives it the
 * site of the first record of the same inode (write-then-rename). */
void afterlife_placed(int dirfd, const char *path, const void *site);

int afterlife_hook_openat(int dirfd, const char *path, int flags, mode_t mode, const void *site);
int afterlife_hook_shm_open(const char *name, int flags, mode_t mode, const void *site);
sem_t *afterlife_hook_sem_open(const char *name, int flags, mode_t mode, unsigned value,
                               const void *site);
/* sem_open's entry point hands its variadic arguments over as they are: (mode, value) follow
 * only with O_CREAT, and this reads them then. */
sem_t *afterlife_hook_sem_open_va(const char *name, int flags, va_list creat_args,
                                  const void *site);
int afterlife_hook_shmget(key_t key, size_t size, int flags, const void *site);
int afterlife_hook_semget(key_t key, int nsems, int flags, const void *site);
int afterlife_hook_msgget(key_t key, int flags, const void *site);
int afterlife_hook_mkfifoat(int dirfd, const char *path, mode_t mode, const void *site);
int afterlife_hook_bind(int fd, const struct sockaddr *addr, socklen_t len, const void *site);
int afterlife_hook_mkostemps(char *template_path, int suffix_len, int flags, const void *site);
FILE *afterlife_hook_fopen(const char *path, const char *mode, const void *site);

#endif

/* The control protocol between a program and `afterlife run`, declared once for C and C++
 * (protocol/README.md has the grammar):
 *
 *   PID checkpoint NAME              -> continue      (the harness may end the sender instead)
 *   PID phase NAME begin|end         -> ok
 *   PID register KIND NAME           -> ok            (KIND is one of AFTERLIFE_KINDS)
 *   PID unregister KIND NAME         -> ok
 *   anything else                    -> error WHY
 *
 * (the PID prefix is optional: the harness takes the sender's pid from the kernel; the
 * interposer's `record` and `intent` lines: protocol/README.md). At most AFTERLIFE_MESSAGE_MAX
 * bytes with its newline; the last argument runs to the end of the line, so names may contain
 * spaces.
 */
#ifndef AFTERLIFE_PROTOCOL_H
#define AFTERLIFE_PROTOCOL_H

/* A message with its newline is at most this many bytes; the harness answers a longer one with
 * `error` and counts it as malformed. */
#define AFTERLIFE_MESSAGE_MAX 512

/* The interposer's `record` line with its newline is at most AFTERLIFE_RECORD_MAX bytes (a name
 * of up to PATH_MAX, escaped: up to twice that; its call site and six callers, each frame up to
 * 1024 bytes as FILE+0xADDRESS(symbol+off); the record's head). The harness accepts
 * AFTERLIFE_RECORD_ACCEPTED_MAX: the same line with the optional pid prefix in front (up to ten
 * digits and a space), which the interposer never sends but another sender may. */
#define AFTERLIFE_RECORD_MAX (2 * 4096 + 8 * 1024)
#define AFTERLIFE_RECORD_ACCEPTED_MAX (AFTERLIFE_RECORD_MAX + 11)

/* The leftover kinds: what `register` names, what the interposer records, what the probes list
 * and reports and `--expect KIND=N` count. X(kind, family, what it is), family one of
 *   posix_name  a name in a POSIX IPC namespace (shm_open, sem_open, mq_open)
 *   sysv        a System V IPC id (shmget, semget, msgget)
 *   file        a path in the file system
 * A new kind is one line here and its behaviour: how the interposer records it, how each OS's
 * probes list and remove it. */
#define AFTERLIFE_KINDS(X)                                           \
  X(posix_shm, posix_name, "POSIX shared memory segment (shm_open)") \
  X(posix_sem, posix_name, "POSIX named semaphore (sem_open)")       \
  X(posix_mq, posix_name, "POSIX message queue (mq_open)")           \
  X(sysv_shm, sysv, "System V shared memory segment (shmget)")       \
  X(sysv_sem, sysv, "System V semaphore set (semget)")               \
  X(sysv_msg, sysv, "System V message queue (msgget)")               \
  X(file, file, "file (open, creat, mkstemp, fopen)")                \
  X(socket, file, "Unix domain socket path (bind)")                  \
  X(fifo, file, "named pipe (mkfifo)")                               \
  X(directory, file, "directory (mkdir)")

/* "posix_shm" for AFTERLIFE_KIND(posix_shm): the name as the protocol and the reports spell it,
 * checked against the table at compile time (an unknown kind is an undeclared identifier). */
#define AFTERLIFE_KIND_ENUMERATOR(kind, family, what) AFTERLIFE_KIND_ID_##kind,
enum afterlife_kind_id { AFTERLIFE_KINDS(AFTERLIFE_KIND_ENUMERATOR) AFTERLIFE_KIND_COUNT };
#undef AFTERLIFE_KIND_ENUMERATOR
#define AFTERLIFE_KIND(kind) ((void)AFTERLIFE_KIND_ID_##kind, #kind)

#endif /* AFTERLIFE_PROTOCOL_H */

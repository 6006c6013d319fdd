/* A test program for `afterlife run`: performs the actions given as arguments, in order.
 * Each argument is ACTION or ACTION=VALUE; a path starting with "@tmp/" is under $TMPDIR.
 *
 *   shm=NAME[:SIZE] shm-unlink=NAME shm-raw=NAME shm-nested=NAME sem=NAME mq=NAME
 *   sysv-shm=SIZE sysv-sem=NSEMS sysv-msg        (IPC_PRIVATE; prints "sysv ID")
 *   fifo=PATH socket=PATH file=PATH fopen=PATH mkstemp=TEMPLATE touch=PATH symlink=TARGET:LINK
 *   checkpoint=NAME phase-begin=NAME phase-end=NAME register=KIND:NAME
 *   print=TEXT eprint=TEXT print-fds flood=BYTES sleep=MS close-fds close-stdout ignore-term
 *   ignore-int block-int
 *   fork-sleep=MS fork-many=N fork-checkpoint=NAME daemonize=MS wait-children
 *   bad-messages exit=N _exit=N abort pause
 *   (mq, shm-raw and raw-file=PATH are the OS's own: actor_linux.c; on macOS they fail, see
 *   actor_macos.c)
 * Hostile ones (tests/harness/trust_test.cpp): send=LINE (a raw control line, '\t' written as
 * "\\t"; prints "answer: ..."), send-from=PATH (the same for the line in PATH, once PATH exists:
 * a line naming what someone else creates meanwhile), idle-connections=N (opens N connections that never send),
 * swap-tmp=TARGET (renames $TMPDIR away and puts a symlink to TARGET in its place),
 * swap-journal=TARGET (the same for the harness's journal), append-journal=TEXT (appends TEXT,
 * "\\t" and "\\n" written as such, to the harness's journal; fails if it cannot), record-flood=N (N 10 KB `record`
 * messages, one after another; 0: until killed), replace=PATH (a new file renamed over
 * PATH), fork-shm=NAME (a forked child creates the shm segment; the parent waits).
 * Names (tests/harness/names_test_linux.cpp): mkdir=PATH, recreate=PATH (unlinks PATH and
 * creates it anew, as a server rewrites its pid file; prints "inode OLD NEW").
 *
 * Every child it forks sleeps or waits; none outlives its purpose by more than its sleep.
 * shm-nested creates through two exported functions (the program is linked with -rdynamic), a
 * library call inside a program function, so that a test can check the recorded callers.
 */
#define _GNU_SOURCE
#include "afterlife/control_client.h"
#include "actor_os.h"

#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void actor_fail(const char *what, const char *arg) {
  fprintf(stderr, "actor: %s %s: %s\n", what, arg, strerror(errno));
  exit(100);
}

static const char *path_of(const char *value, char *buffer, size_t size) {
  if (strncmp(value, "@tmp/", 5) != 0) return value;
  const char *tmp = getenv("TMPDIR");
  snprintf(buffer, size, "%s/%s", tmp ? tmp : "/tmp", value + 5);
  return buffer;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Raw control-socket messages the client library would refuse to send. */
static void send_raw_line(const char *data, size_t len) {
  const char *path = getenv("AFTERLIFE_SOCKET");
  struct sockaddr_un addr;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (path == NULL || fd < 0) return;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
    char answer[128];
    (void)send(fd, data, len, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    ssize_t n = recv(fd, answer, sizeof answer - 1, 0);
    if (n > 0) {
      answer[n] = '\0';
      printf("answer: %s", answer);
    }
  }
  close(fd);
}

static void bad_messages(void) {
  char big[2048];
  memset(big, 'x', sizeof big);
  memcpy(big, "1 checkpoint ", 13);
  big[sizeof big - 1] = '\n';
  send_raw_line("hello\n", 6);                            /* no pid */
  send_raw_line("12 dance now\n", 13);                    /* unknown verb */
  send_raw_line("12 phase atexit sideways\n", 25);        /* bad begin|end */
  send_raw_line("12 register nothing /x\n", 23);          /* unknown kind */
  send_raw_line("12 checkpoint", 13);                     /* EOF before the newline */
  send_raw_line(big, sizeof big);                         /* oversized */
  fflush(stdout);
}

/* Stand-ins for a library that creates the segment and the program function that calls it. Not
 * static (exported, so dladdr names them), not inlined, and each uses its callee's result after
 * the call, so that no call becomes a jump that would drop its frame. */
__attribute__((noinline)) int actor_library_shm_open(const char *name) {
  int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
  if (fd >= 0 && ftruncate(fd, 4096) != 0) fd = -1;
  return fd;
}

__attribute__((noinline)) int actor_program_creates(const char *name) {
  int fd = actor_library_shm_open(name);
  if (fd < 0) actor_fail("shm_open", name);
  return close(fd);
}

/* A raw line on the control socket, without the client's pid prefix. */
static void send_control_line(const char *value) {
  char line[16384];
  size_t used = 0;
  for (const char *c = value; *c != '\0' && used + 2 < sizeof line; ++c) {
    if (c[0] == '\\' && c[1] == 't') {
      line[used++] = '\t';
      ++c;
    } else {
      line[used++] = *c;
    }
  }
  line[used++] = '\n';
  int fd = afterlife_detail_connect();
  if (fd < 0) actor_fail("connect", value);
  if (afterlife_detail_write_all(fd, line, used) != 0) actor_fail("send", value);
  char answer[256];
  ssize_t n = recv(fd, answer, sizeof answer - 1, 0);
  answer[n > 0 ? n : 0] = '\0';
  printf("answer: %s", answer);
  fflush(stdout);
  close(fd);
}

/* The run directory: where the control socket is. */
static void run_dir_of(char *out, size_t size) {
  const char *socket_path = getenv("AFTERLIFE_SOCKET");
  snprintf(out, size, "%s", socket_path ? socket_path : "");
  char *slash = strrchr(out, '/');
  if (slash != NULL) *slash = '\0';
}

static void swap_for_link(const char *victim, const char *target) {
  char away[4200];
  snprintf(away, sizeof away, "%s.away", victim);
  if (rename(victim, away) != 0) actor_fail("rename", victim);
  if (symlink(target, victim) != 0) actor_fail("symlink", victim);
}

/* Waits (up to 10 s) for PATH, then sends its first line as send= does. */
static void send_from(const char *path) {
  char line[4096];
  FILE *in = NULL;
  for (int waited = 0; in == NULL && waited < 1000; ++waited) {
    in = fopen(path, "r");
    if (in == NULL) sleep_ms(10);
  }
  if (in == NULL) actor_fail("fopen", path);
  if (fgets(line, sizeof line, in) == NULL) actor_fail("fgets", path);
  fclose(in);
  line[strcspn(line, "\n")] = '\0';
  send_control_line(line);
}

/* Appends to the harness's journal what a forger would ("\\t", "\\n" as tab and newline). */
static void append_journal(const char *value) {
  char journal[4200];
  char text[8192];
  size_t used = 0;
  run_dir_of(journal, sizeof journal);
  strncat(journal, "/journal", sizeof journal - strlen(journal) - 1);
  for (const char *c = value; *c != '\0' && used + 1 < sizeof text; ++c) {
    if (c[0] == '\\' && (c[1] == 't' || c[1] == 'n')) {
      text[used++] = c[1] == 't' ? '\t' : '\n';
      ++c;
    } else {
      text[used++] = *c;
    }
  }
  int fd = open(journal, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) actor_fail("open", journal);
  if (write(fd, text, used) != (ssize_t)used) actor_fail("write", journal);
  close(fd);
}

static void do_action(const char *action, const char *value) {
  char buffer[4096];
  if (strcmp(action, "send") == 0) {
    send_control_line(value);
    return;
  }
  if (strcmp(action, "idle-connections") == 0) {
    for (long i = 0; i < atol(value); ++i)
      if (afterlife_detail_connect() < 0) actor_fail("connect", value);
    return;
  }
  if (strcmp(action, "swap-tmp") == 0) {
    swap_for_link(getenv("TMPDIR"), value);
    return;
  }
  if (strcmp(action, "swap-journal") == 0) {
    char journal[4200];
    run_dir_of(buffer, sizeof buffer);
    snprintf(journal, sizeof journal, "%s/journal", buffer);
    swap_for_link(journal, value);
    return;
  }
  if (strcmp(action, "send-from") == 0) {
    send_from(value);
    return;
  }
  if (strcmp(action, "append-journal") == 0) {
    append_journal(value);
    return;
  }
  if (strcmp(action, "fork-shm") == 0) {
    pid_t pid = fork();
    if (pid < 0) actor_fail("fork", value);
    if (pid == 0) {
      int fd = shm_open(value, O_CREAT | O_RDWR, 0600);
      _exit(fd < 0 ? 1 : 0);
    }
    waitpid(pid, NULL, 0);
    printf("forked %d\n", (int)pid);
    fflush(stdout);
    return;
  }
  if (strcmp(action, "record-flood") == 0) {
    static char line[11000];
    long count = atol(value);
    for (long i = 0; count == 0 || i < count; ++i) {
      int used = snprintf(line, sizeof line, "record file\t0\t%06000d\t/%04000ld\n", 0, i);
      int fd = afterlife_detail_connect();
      if (fd < 0) break;
      if (afterlife_detail_write_all(fd, line, (size_t)used) == 0) {
        char answer[64];
        (void)recv(fd, answer, sizeof answer, 0);
      }
      close(fd);
    }
    return;
  }
  if (strcmp(action, "mkdir") == 0) {
    if (mkdir(value, 0700) != 0) actor_fail("mkdir", value);
    return;
  }
  if (strcmp(action, "recreate") == 0) {
    struct stat before, after;
    if (stat(value, &before) != 0 || unlink(value) != 0) actor_fail("unlink", value);
    int fd = open(value, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || fstat(fd, &after) != 0) actor_fail("open", value);
    close(fd);
    printf("inode %llu %llu\n", (unsigned long long)before.st_ino, (unsigned long long)after.st_ino);
    fflush(stdout);
    return;
  }
  if (strcmp(action, "replace") == 0) {
    /* As an editor or a database saves: a new file renamed over the old name. */
    snprintf(buffer, sizeof buffer, "%s.new", value);
    int fd = open(buffer, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) actor_fail("open", buffer);
    close(fd);
    if (rename(buffer, value) != 0) actor_fail("rename", value);
    return;
  }
  if (strcmp(action, "shm") == 0) {
    char name[256];
    long size = 4096;
    snprintf(name, sizeof name, "%s", value);
    char *colon = strchr(name, ':');
    if (colon) {
      *colon = '\0';
      size = atol(colon + 1);
    }
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, size) != 0) actor_fail("shm_open", name);
    close(fd);
  } else if (strcmp(action, "shm-nested") == 0) {
    if (actor_program_creates(value) != 0) actor_fail("close", value);
  } else if (strcmp(action, "shm-unlink") == 0) {
    if (shm_unlink(value) != 0) actor_fail("shm_unlink", value);
  } else if (strcmp(action, "sem") == 0) {
    sem_t *sem = sem_open(value, O_CREAT, 0600, 1);
    if (sem == SEM_FAILED) actor_fail("sem_open", value);
  } else if (strcmp(action, "sysv-shm") == 0) {
    int id = shmget(IPC_PRIVATE, (size_t)atol(value), IPC_CREAT | 0600);
    if (id < 0) actor_fail("shmget", value);
    printf("sysv %d\n", id);
  } else if (strcmp(action, "sysv-sem") == 0) {
    int id = semget(IPC_PRIVATE, atoi(value), IPC_CREAT | 0600);
    if (id < 0) actor_fail("semget", value);
    printf("sysv %d\n", id);
  } else if (strcmp(action, "sysv-msg") == 0) {
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (id < 0) actor_fail("msgget", "");
    printf("sysv %d\n", id);
  } else if (strcmp(action, "fifo") == 0) {
    if (mkfifo(path_of(value, buffer, sizeof buffer), 0600) != 0) actor_fail("mkfifo", value);
  } else if (strcmp(action, "socket") == 0) {
    struct sockaddr_un addr;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path_of(value, buffer, sizeof buffer), sizeof addr.sun_path - 1);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) actor_fail("bind", value);
  } else if (strcmp(action, "file") == 0 || strcmp(action, "touch") == 0) {
    int fd = open(path_of(value, buffer, sizeof buffer), O_CREAT | O_WRONLY, 0600);
    if (fd < 0) actor_fail("open", value);
    close(fd);
  } else if (strcmp(action, "symlink") == 0) {
    char target[4096];
    snprintf(target, sizeof target, "%s", value);
    char *colon = strchr(target, ':');
    if (colon == NULL) actor_fail("symlink needs TARGET:LINK", value);
    *colon = '\0';
    if (symlink(target, path_of(colon + 1, buffer, sizeof buffer)) != 0) actor_fail("symlink", value);
  } else if (strcmp(action, "fopen") == 0) {
    FILE *f = fopen(path_of(value, buffer, sizeof buffer), "w");
    if (f == NULL) actor_fail("fopen", value);
    fclose(f);
  } else if (strcmp(action, "mkstemp") == 0) {
    char template_path[4096];
    snprintf(template_path, sizeof template_path, "%s", path_of(value, buffer, sizeof buffer));
    int fd = mkstemp(template_path);
    if (fd < 0) actor_fail("mkstemp", value);
    printf("mkstemp %s\n", template_path);
    close(fd);
  } else if (strcmp(action, "checkpoint") == 0) {
    afterlife_checkpoint(value);
  } else if (strcmp(action, "phase-begin") == 0) {
    afterlife_phase(value, 1);
  } else if (strcmp(action, "phase-end") == 0) {
    afterlife_phase(value, 0);
  } else if (strcmp(action, "register") == 0) {
    char kind[64];
    snprintf(kind, sizeof kind, "%s", value);
    char *colon = strchr(kind, ':');
    if (colon == NULL) actor_fail("register needs KIND:NAME", value);
    *colon = '\0';
    afterlife_register(kind, strchr(value, ':') + 1);
  } else if (strcmp(action, "print-fds") == 0) {
    /* Every open descriptor above 2, as "fds above 2: 3 7" (or "none"). */
    printf("fds above 2:");
    int any = 0;
    for (int fd = 3; fd < 1024; ++fd) {
      if (fcntl(fd, F_GETFD) == -1) continue;
      printf(" %d", fd);
      any = 1;
    }
    printf("%s\n", any ? "" : " none");
    fflush(stdout);
  } else if (strcmp(action, "print") == 0) {
    printf("%s\n", value);
    fflush(stdout);
  } else if (strcmp(action, "eprint") == 0) {
    fprintf(stderr, "%s\n", value);
  } else if (strcmp(action, "flood") == 0) {
    long left = atol(value);
    memset(buffer, 'x', sizeof buffer);
    buffer[sizeof buffer - 1] = '\n';
    while (left > 0) {
      ssize_t n = write(1, buffer, left < (long)sizeof buffer ? (size_t)left : sizeof buffer);
      if (n <= 0) break;
      left -= n;
    }
  } else if (strcmp(action, "sleep") == 0) {
    sleep_ms(atol(value));
  } else if (strcmp(action, "close-fds") == 0) {
    for (int fd = 3; fd < 1024; ++fd) close(fd);
  } else if (strcmp(action, "close-stdout") == 0) {
    fflush(stdout);
    close(1);
  } else if (strcmp(action, "ignore-term") == 0) {
    signal(SIGTERM, SIG_IGN);
  } else if (strcmp(action, "ignore-int") == 0) {
    signal(SIGINT, SIG_IGN);
  } else if (strcmp(action, "block-int") == 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
  } else if (strcmp(action, "fork-sleep") == 0 || strcmp(action, "fork-many") == 0) {
    long count = strcmp(action, "fork-many") == 0 ? atol(value) : 1;
    long ms = strcmp(action, "fork-many") == 0 ? 60000 : atol(value);
    for (long i = 0; i < count; ++i) {
      pid_t pid = fork();
      if (pid < 0) actor_fail("fork", value);
      if (pid == 0) {
        sleep_ms(ms);
        _exit(0);
      }
    }
  } else if (strcmp(action, "fork-checkpoint") == 0) {
    pid_t pid = fork();
    if (pid < 0) actor_fail("fork", value);
    if (pid == 0) {
      afterlife_checkpoint(value);
      for (;;) pause();
    }
  } else if (strcmp(action, "daemonize") == 0) {
    /* The classic double fork: the grandchild is in its own session, its parent gone. */
    pid_t pid = fork();
    if (pid < 0) actor_fail("fork", value);
    if (pid == 0) {
      setsid();
      if (fork() == 0) {
        sleep_ms(atol(value));
        _exit(0);
      }
      _exit(0);
    }
    waitpid(pid, NULL, 0);
  } else if (strcmp(action, "wait-children") == 0) {
    int status;
    pid_t pid;
    while ((pid = wait(&status)) > 0) {
      if (WIFSIGNALED(status))
        printf("child %d signal %d\n", (int)pid, WTERMSIG(status));
      else
        printf("child %d exit %d\n", (int)pid, WEXITSTATUS(status));
    }
    fflush(stdout);
  } else if (strcmp(action, "bad-messages") == 0) {
    bad_messages();
  } else if (strcmp(action, "exit") == 0) {
    exit(atoi(value));
  } else if (strcmp(action, "_exit") == 0) {
    _exit(atoi(value));
  } else if (strcmp(action, "abort") == 0) {
    abort();
  } else if (strcmp(action, "pause") == 0) {
    for (;;) pause();
  } else if (!actor_os_action(action, value)) {
    fprintf(stderr, "actor: unknown action %s\n", action);
    exit(99);
  }
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    char action[64];
    const char *eq = strchr(argv[i], '=');
    size_t len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
    if (len >= sizeof action) len = sizeof action - 1;
    memcpy(action, argv[i], len);
    action[len] = '\0';
    do_action(action, eq ? eq + 1 : "");
  }
  return 0;
}

// The client side of the resource tracker: starting it (fork + exec), writing registrations to
// its pipe, noticing that it died and starting another one.
#include "lifecycle/resource_tracker.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "common/pthread_guard.hpp"
#include "resources/resources_detail.hpp"

#ifndef AFTERLIFE_RESOURCE_TRACKER_PATH
#error \
    "the build defines AFTERLIFE_RESOURCE_TRACKER_PATH (where afterlife-resource-tracker is built)"
#endif

namespace lifecycle::resource_tracker {

namespace {

struct registration {
  pid_t owner;  // the process that registered it: only its owner replays it into a new tracker
  std::string kind;
  std::string name;
};

struct tracker_state {
  settings how;
  pid_t pid = 0;       // the tracker
  pid_t launcher = 0;  // the process that forked it, the only one that can waitpid() it
  int write_fd = -1;   // close-on-exec; fork()ed children inherit it
  std::vector<registration> registered;
};

// Created on first use and never destroyed: processes exit holding it, and the kernel closing
// write_fd at exit is what tells the tracker we are gone. No static destructor is involved.
constinit pthread_mutex_t state_mutex = PTHREAD_MUTEX_INITIALIZER;
constinit tracker_state* state = nullptr;

// Whether this thread holds state_mutex: the tracker's own fork happens under the lock, so the
// fork handlers below must not take it again in that thread.
constinit thread_local bool this_thread_holds_state = false;

// A fork() in another thread while we register would leave the child's copy of the lock held
// forever: the fork handlers take it around every fork.
void lock_state_for_fork() {
  if (!this_thread_holds_state) pthread_mutex_lock(&state_mutex);
}
void unlock_state_after_fork() {
  if (!this_thread_holds_state) pthread_mutex_unlock(&state_mutex);
}

// The guard is a member, so the flag is set after the lock is taken and cleared before it goes.
class state_lock {
 public:
  state_lock() noexcept { this_thread_holds_state = true; }
  ~state_lock() { this_thread_holds_state = false; }
  state_lock(const state_lock&) = delete;
  state_lock& operator=(const state_lock&) = delete;

 private:
  detail::pthread_guard guard_{state_mutex};
};

tracker_state& state_locked() {
  if (state == nullptr) {
    state = new tracker_state;
    pthread_atfork(&lock_state_for_fork, &unlock_state_after_fork, &unlock_state_after_fork);
  }
  return *state;
}

void close_quietly(int fd) noexcept {
  if (fd >= 0) ::close(fd);
}

// ---- starting the tracker --------------------------------------------------------------------

// The forked child until exec. Only async-signal-safe calls: the parent may have other threads
// that held malloc's or stdio's locks at the moment of fork.
[[noreturn]] void exec_tracker(const char* path, char* const argv[], bool detached, int data_read,
                               int status_write) noexcept {
  // Before anything else: in its own session the tracker no longer belongs to our process
  // group, so a kill of the whole group (kill(-pgid, SIGKILL)) does not reach it.
  if (detached) (void)setsid();
  sigset_t none;
  sigemptyset(&none);
  // The mask survives exec; start clean. The forked child has one thread: sigprocmask is right.
  (void)sigprocmask(SIG_SETMASK, &none, nullptr);  // NOLINT(concurrency-mt-unsafe)
  // Ignored dispositions survive exec: the tracker is immune to SIGINT/SIGTERM (a Ctrl-C or a
  // `kill` of its owners) from its first instruction, not only once its main() got to say so.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE}) (void)sigaction(sig, &ignore, nullptr);
  // The pipe becomes the tracker's stdin; dup2 clears close-on-exec on the new descriptor.
  if (data_read != STDIN_FILENO) {
    (void)dup2(data_read, STDIN_FILENO);
  } else {
    (void)fcntl(STDIN_FILENO, F_SETFD, 0);
  }
  execv(path, argv);
  int error = errno;
  ssize_t ignored = ::write(status_write, &error, sizeof error);
  (void)ignored;
  _exit(127);
}

int make_cloexec_pipe(int fds[2]) noexcept {
  // pipe() + FD_CLOEXEC rather than pipe2 (not on macOS): another thread's fork+exec between
  // the two calls could inherit the fds; it only delays EOF until that program exits.
  if (::pipe(fds) != 0) return errno;
  (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
}

std::string executable_path_locked(const tracker_state& s) {
  if (!s.how.executable.empty()) return s.how.executable;
  // getenv races only with setenv, which lifecycle never calls.
  const char* from_env =
      std::getenv("AFTERLIFE_RESOURCE_TRACKER");  // NOLINT(concurrency-mt-unsafe)
  if (from_env != nullptr && from_env[0] != '\0') return from_env;
  return AFTERLIFE_RESOURCE_TRACKER_PATH;
}

void launch_locked(tracker_state& s) {
  // Everything the child needs is prepared before fork: it must not allocate.
  std::string path = executable_path_locked(s);
  char* argv[] = {path.data(), nullptr};
  int data[2];
  int status[2];
  if (int error = make_cloexec_pipe(data); error != 0) {
    throw std::system_error(error, std::generic_category(), "resource_tracker: pipe");
  }
  if (int error = make_cloexec_pipe(status); error != 0) {
    close_quietly(data[0]);
    close_quietly(data[1]);
    throw std::system_error(error, std::generic_category(), "resource_tracker: pipe");
  }
  pid_t child = ::fork();
  if (child == 0) exec_tracker(path.c_str(), argv, s.how.detached, data[0], status[1]);
  int fork_error = errno;
  close_quietly(data[0]);
  close_quietly(status[1]);
  if (child < 0) {
    close_quietly(data[1]);
    close_quietly(status[0]);
    throw std::system_error(fork_error, std::generic_category(), "resource_tracker: fork");
  }
  // The status pipe closes at a successful exec (close-on-exec) or carries exec's errno. Once
  // it has closed, setsid() has happened too: a detached tracker is out of our group before
  // the caller goes on (a group kill right after cannot catch it half-way).
  int exec_error = 0;
  ssize_t n;
  do {
    n = ::read(status[0], &exec_error, sizeof exec_error);
  } while (n < 0 && errno == EINTR);
  close_quietly(status[0]);
  if (n == static_cast<ssize_t>(sizeof exec_error)) {
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    close_quietly(data[1]);
    throw std::system_error(exec_error, std::generic_category(),
                            "resource_tracker: cannot run " + path);
  }
  s.pid = child;
  s.launcher = ::getpid();
  s.write_fd = data[1];
}

// ---- writing ---------------------------------------------------------------------------------

// One write of one line (<= PIPE_BUF, so atomic). A dead tracker shows as EPIPE; the SIGPIPE
// that comes with it is blocked in this thread and consumed, so it cannot kill the process
// (MSG_NOSIGNAL exists for sockets only). Returns 0 or the errno.
int send_line(int fd, std::string_view line) noexcept {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  sigset_t pending;
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  int error = 0;
  for (;;) {
    ssize_t n = ::write(fd, line.data(), line.size());
    if (n == static_cast<ssize_t>(line.size())) break;
    if (n < 0 && errno == EINTR) continue;
    error = n < 0 ? errno : EIO;
    break;
  }
  if (error == EPIPE && !was_pending) {
    // Pending only if SIGPIPE is not ignored; sigwait on a signal that never came would hang.
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      int signal_number = 0;
      sigwait(&pipe_only, &signal_number);
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return error;
}

void send_or_throw(tracker_state& s, std::string_view line) {
  if (int error = send_line(s.write_fd, line); error != 0) {
    throw std::system_error(error, std::generic_category(), "resource_tracker: write");
  }
}

// ---- noticing a dead tracker -----------------------------------------------------------------

// Only the launcher can ask waitpid; in a fork()ed child the tracker is not our child (ECHILD)
// and a death shows up as EPIPE at the next write instead.
bool reaped_dead_tracker(tracker_state& s, std::string& how) {
  if (s.launcher != ::getpid()) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(s.pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != s.pid) return false;
  how = WIFSIGNALED(status) ? fmt::format("was killed by signal {}", WTERMSIG(status))
                            : fmt::format("exited with status {}", WEXITSTATUS(status));
  return true;
}

void restart_locked(tracker_state& s, const std::string& how) {
  pid_t old_pid = s.pid;
  close_quietly(s.write_fd);
  s.write_fd = -1;
  s.pid = 0;
  pid_t self = ::getpid();
  std::size_t replayed = 0;
  for (const auto& r : s.registered) replayed += r.owner == self ? 1 : 0;
  detail::warn_format(warning_category::user_warning,
                      "resource_tracker: process {} {}, relaunching.  Re-registering {} resources "
                      "of this process; those of other processes sharing it might leak.",
                      old_pid, how, replayed);
  launch_locked(s);
  for (const auto& r : s.registered) {
    if (r.owner == self) send_or_throw(s, format_line("REGISTER", r.name, r.kind));
  }
}

void ensure_running_locked(tracker_state& s) {
  if (s.write_fd < 0) {
    launch_locked(s);
    return;
  }
  std::string how;
  if (reaped_dead_tracker(s, how)) restart_locked(s, how);
}

// Sends a line, restarting the tracker once if it turns out to be gone.
void send_with_restart(tracker_state& s, const std::string& line) {
  int error = send_line(s.write_fd, line);
  if (error == EPIPE) {
    std::string how;
    if (!reaped_dead_tracker(s, how)) how = "closed its pipe";
    restart_locked(s, how);
    error = send_line(s.write_fd, line);
  }
  if (error != 0) {
    throw std::system_error(error, std::generic_category(), "resource_tracker: write");
  }
}

}  // namespace

// ---- the protocol ----------------------------------------------------------------------------

std::string format_line(std::string_view command, std::string_view name, std::string_view kind) {
  if (command != "REGISTER" && command != "UNREGISTER") {
    throw std::invalid_argument(fmt::format("resource_tracker: unknown command '{}'", command));
  }
  if (!is_known_kind(kind)) {
    throw std::invalid_argument(fmt::format("resource_tracker: cannot track kind '{}'", kind));
  }
  if (name.empty() || name.find_first_of(std::string_view("\n\0", 2)) != std::string_view::npos) {
    throw std::invalid_argument(fmt::format("resource_tracker: invalid name '{}'", name));
  }
  std::string line = fmt::format("{}:{}:{}\n", command, name, kind);
  if (line.size() > max_line_length) {
    throw std::length_error(
        fmt::format("resource_tracker: a line for '{}' would be {} bytes; at most {} stay atomic",
                    name, line.size(), max_line_length));
  }
  return line;
}

// ---- the client ------------------------------------------------------------------------------

void configure(const settings& how) {
  state_lock lock;
  tracker_state& s = state_locked();
  if (s.write_fd >= 0) {
    throw std::logic_error(fmt::format(
        "resource_tracker: already running (pid {}); configure it before the first tracked "
        "resource",
        s.pid));
  }
  s.how = how;
}

void ensure_running() {
  state_lock lock;
  ensure_running_locked(state_locked());
}

void register_resource(std::string_view kind, std::string_view name) {
  std::string line = format_line("REGISTER", name, kind);
  state_lock lock;
  tracker_state& s = state_locked();
  ensure_running_locked(s);
  send_with_restart(s, line);
  s.registered.push_back({::getpid(), std::string(kind), std::string(name)});
}

void unregister_resource(std::string_view kind, std::string_view name) {
  std::string line = format_line("UNREGISTER", name, kind);
  state_lock lock;
  tracker_state& s = state_locked();
  pid_t self = ::getpid();
  // Forget it first: a restart below must not replay it.
  std::erase_if(s.registered, [&](const registration& r) {
    return r.owner == self && r.kind == kind && r.name == name;
  });
  if (s.write_fd < 0) return;  // never started: nothing to tell
  send_with_restart(s, line);
}

pid_t pid() noexcept {
  state_lock lock;
  return state == nullptr ? 0 : state->pid;
}

std::string executable_path() {
  state_lock lock;
  return executable_path_locked(state_locked());
}

}  // namespace lifecycle::resource_tracker

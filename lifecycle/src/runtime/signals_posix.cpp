#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <system_error>

#include "runtime/signals.hpp"

namespace lifecycle::detail {

namespace {

// Plain data only: written by the handler, read by the main thread.
constinit std::atomic<int> pending_sigint{0};
constinit std::atomic<int> pending_sigterm{0};
constinit int wake_read = -1;
constinit int wake_write = -1;
constinit bool sigint_installed = false;
constinit bool sigterm_installed = false;
constinit struct sigaction previous_sigint = {};
constinit struct sigaction previous_sigterm = {};

static_assert(std::atomic<int>::is_always_lock_free, "the handler needs lock-free atomics");

extern "C" void on_signal(int signo) {
  int saved = errno;
  (signo == SIGINT ? pending_sigint : pending_sigterm).store(1);
  if (wake_write >= 0) {
    char byte = static_cast<char>(signo);
    // Full pipe: a wake-up is already pending, which is all we need.
    (void)!::write(wake_write, &byte, 1);
  }
  errno = saved;
}

void make_wake_pipe() {
  if (wake_read >= 0) return;
  int fds[2];
  if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "signal pipe");
  for (int fd : fds) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  wake_read = fds[0];
  wake_write = fds[1];
}

void install(int signo, struct sigaction& previous) {
  struct sigaction action = {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // No SA_RESTART: a blocking call in the main thread returns EINTR, as in CPython.
  action.sa_flags = 0;
  if (::sigaction(signo, &action, &previous) != 0) {
    throw std::system_error(errno, std::generic_category(), "sigaction");
  }
}

void drain_wake_pipe() noexcept {
  char buffer[64];
  while (::read(wake_read, buffer, sizeof buffer) > 0) {
  }
}

}  // namespace

void install_signal_handlers() {
  make_wake_pipe();
  if (!sigint_installed) {
    install(SIGINT, previous_sigint);
    sigint_installed = true;
  }
}

void install_orderly_sigterm_handler() {
  make_wake_pipe();
  if (!sigterm_installed) {
    install(SIGTERM, previous_sigterm);
    sigterm_installed = true;
  }
}

void restore_signal_handlers() noexcept {
  if (sigint_installed) ::sigaction(SIGINT, &previous_sigint, nullptr);
  if (sigterm_installed) ::sigaction(SIGTERM, &previous_sigterm, nullptr);
  sigint_installed = sigterm_installed = false;
  // After the dispositions are back no handler can write to the pipe any more.
  if (wake_read >= 0) {
    ::close(wake_read);
    ::close(wake_write);
  }
  wake_read = wake_write = -1;
  pending_sigint.store(0);
  pending_sigterm.store(0);
}

int take_pending_signal() noexcept {
  if (pending_sigint.exchange(0) != 0) return SIGINT;
  if (pending_sigterm.exchange(0) != 0) return SIGTERM;
  return 0;
}

bool wait_for_signal(std::chrono::milliseconds timeout) noexcept {
  if (pending_sigint.load() != 0 || pending_sigterm.load() != 0) return true;
  if (wake_read < 0) {
    ::usleep(static_cast<useconds_t>(timeout.count() * 1000));
    return false;
  }
  pollfd watch = {wake_read, POLLIN, 0};
  int n = ::poll(&watch, 1, static_cast<int>(timeout.count()));
  if (n > 0) drain_wake_pipe();
  return pending_sigint.load() != 0 || pending_sigterm.load() != 0;
}

void block_runtime_signals_in_this_thread() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void reraise_sigint() noexcept {
  struct sigaction action = {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  ::kill(::getpid(), SIGINT);
  _exit(128 + SIGINT);
}

}  // namespace lifecycle::detail

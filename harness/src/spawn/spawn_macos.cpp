// macOS parts of spawning (compiled on macOS only; untested here): kqueue exit watch, preload
// variable. (No subreaper: containment_macos.cpp walks the run's tree.)
#include "spawn/spawn.hpp"

#include <fcntl.h>
#include <mach-o/dyld.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

namespace afterlife::detail {

const char* preload_variable() { return "DYLD_INSERT_LIBRARIES"; }
const char* interposer_file_name() { return "libafterlife_interposer.dylib"; }

std::filesystem::path self_executable() {
  std::uint32_t size = 0;
  _NSGetExecutablePath(nullptr, &size);
  std::vector<char> buffer(size + 1, '\0');
  if (_NSGetExecutablePath(buffer.data(), &size) != 0) return {};
  std::error_code ec;
  auto resolved = std::filesystem::canonical(buffer.data(), ec);
  return ec ? std::filesystem::path(buffer.data()) : resolved;
}

int open_exit_watch(int pid) {
  // A kqueue descriptor is readable (poll/select) while an event is pending on it.
  int queue = kqueue();
  if (queue < 0) return -1;
  struct kevent change;
  EV_SET(&change, static_cast<uintptr_t>(pid), EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0,
         nullptr);
  if (kevent(queue, &change, 1, nullptr, 0, nullptr) != 0) {
    close(queue);
    return -1;
  }
  return queue;
}

long max_rss_kib(const rusage& usage) { return usage.ru_maxrss / 1024; }

// Between pipe() and the fcntl calls another thread's fork could inherit the ends without
// FD_CLOEXEC; harmless here: every child the harness starts closes all but its whitelisted
// descriptors before its exec (Boost walks /dev/fd on macOS).
int cloexec_pipe(int fds[2]) noexcept {
  if (pipe(fds) != 0) return -1;
  for (int i = 0; i < 2; ++i) {
    if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
      const int error = errno;
      close(fds[0]);
      close(fds[1]);
      errno = error;
      return -1;
    }
  }
  return 0;
}

int no_sigpipe_flags() { return 0; }

int accept_connection(int listen_fd) {
  int fd = accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return -1;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  return fd;
}
void close_descriptors_except(const std::vector<int>&) noexcept {}

void no_sigpipe(int fd) {
  int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
}

}  // namespace afterlife::detail

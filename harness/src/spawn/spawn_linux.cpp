// Linux parts of spawning: pidfd exit watch, preload variable, descriptors.
#include "spawn/spawn.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace afterlife::detail {

const char* preload_variable() { return "LD_PRELOAD"; }
const char* interposer_file_name() { return "libafterlife_interposer.so"; }

std::filesystem::path self_executable() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec);
}

int open_exit_watch(int pid) {
  // pidfd_open (Linux 5.3): readable once the process has exited; immune to pid reuse.
  long fd = syscall(SYS_pidfd_open, pid, 0);
  return fd < 0 ? -1 : static_cast<int>(fd);
}

long max_rss_kib(const rusage& usage) { return usage.ru_maxrss; }

int cloexec_pipe(int fds[2]) noexcept { return pipe2(fds, O_CLOEXEC); }

int no_sigpipe_flags() { return MSG_NOSIGNAL; }
void no_sigpipe(int) {}

int accept_connection(int listen_fd) {
  return accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void close_descriptors_except(const std::vector<int>& keep) noexcept {
  // Ascending through the kept descriptors above 2 without sorting (no allocation here), closing
  // each gap below the next one and, at the end, everything above the last.
  unsigned from = 3;
  for (;;) {
    unsigned next = ~0U;
    for (int fd : keep) {
      if (fd >= 0 && static_cast<unsigned>(fd) >= from && static_cast<unsigned>(fd) < next)
        next = static_cast<unsigned>(fd);
    }
    if (next == ~0U) {
      close_range(from, ~0U, 0);
      return;
    }
    if (next > from) close_range(from, next - 1, 0);
    from = next + 1;
  }
}

}  // namespace afterlife::detail

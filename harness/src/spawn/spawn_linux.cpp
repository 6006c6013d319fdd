// Linux parts of spawning: child subreaper, pidfd exit watch.
#include "spawn/spawn.hpp"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace afterlife::detail {

std::string become_subreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    return std::string("unsupported: PR_SET_CHILD_SUBREAPER: ") + std::strerror(errno);
  return {};
}

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

int no_sigpipe_flags() { return MSG_NOSIGNAL; }
void no_sigpipe(int) {}

}  // namespace afterlife::detail

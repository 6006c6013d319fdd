// Linux parts of spawning: child subreaper, glibc's reserved signals, closing inherited fds,
// pidfd exit watch.
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

void add_reserved_signals(sigset_t& set) {
  // glibc's SIGCANCEL and SIGSETXID: sigaddset refuses them, so they are what is left of a full
  // set after sigdelset has removed every signal it accepts.
  sigset_t reserved;
  std::memset(&reserved, 0xff, sizeof reserved);
  for (int sig = 1; sig < NSIG; ++sig) sigdelset(&reserved, sig);
  sigorset(&set, &set, &reserved);
}

void keep_only_stdio(spawn_plan& plan) {
  // glibc >= 2.34: close_range(3, ~0U) in the child.
  check_spawn_call(posix_spawn_file_actions_addclosefrom_np(&plan.actions, STDERR_FILENO + 1),
                   "closing inherited descriptors");
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

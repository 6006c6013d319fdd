// A pipe whose two ends are close-on-exec: the spawner hands one end to the child as its fd 1 or
// 2 (dup2 clears the flag there), and no other program we start inherits either end. Shared by
// the harness (run.cpp) and the tests' child runner (tests/support/child_process.cpp).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace afterlife::detail {

struct pipe_ends {
  int read_end = -1;
  int write_end = -1;
};

// std::system_error when pipe() fails.
inline pipe_ends make_cloexec_pipe() {
  int fds[2];
  if (pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return {fds[0], fds[1]};
}

}  // namespace afterlife::detail

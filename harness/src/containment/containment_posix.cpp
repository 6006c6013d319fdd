// What the containments of every POSIX system share (containment.hpp).
#include "containment/containment.hpp"

#include "spawn/spawn.hpp"

#include <sys/wait.h>
#include <unistd.h>

namespace afterlife::detail {

own_child::~own_child() {
  if (exit_watch_ >= 0) close(exit_watch_);
}

void own_child::start(int pid) {
  pid_ = pid;
  exit_watch_ = open_exit_watch(pid);
}

std::optional<main_exit> own_child::wait(bool block) {
  if (exit_ || pid_ <= 0) return exit_;
  main_exit result;
  if (wait4(pid_, &result.status, block ? 0 : WNOHANG, &result.usage) != pid_) return std::nullopt;
  exit_ = result;
  return exit_;
}

}  // namespace afterlife::detail

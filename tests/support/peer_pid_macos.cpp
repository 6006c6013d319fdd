#include "peer_pid.hpp"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

namespace afterlife_test {

int peer_pid(int socket_fd) noexcept {
  pid_t pid = 0;
  socklen_t len = sizeof pid;
  if (getsockopt(socket_fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) != 0) return 0;
  return pid;
}

}  // namespace afterlife_test

#include "peer_pid.hpp"

#include <sys/socket.h>

namespace afterlife_test {

int peer_pid(int socket_fd) noexcept {
  ucred credentials{};
  socklen_t len = sizeof credentials;
  if (getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &credentials, &len) != 0) return 0;
  return credentials.pid;
}

}  // namespace afterlife_test

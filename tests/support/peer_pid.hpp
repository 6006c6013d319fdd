// The pid at the other end of a connected Unix socket, as the kernel says: what the harness's
// control server uses (harness/src/probes: SO_PEERCRED, LOCAL_PEERPID), for the tests' fake
// harnesses. One file per OS: peer_pid_linux.cpp, peer_pid_macos.cpp.
#pragma once

namespace afterlife_test {

// 0 when the kernel does not say.
int peer_pid(int socket_fd) noexcept;

}  // namespace afterlife_test

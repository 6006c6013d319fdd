// Spawning the run's main process on Boost.Process v2's launcher with small add-ons, each doing
// one thing (spawn.cpp): into the run's container, its own process group, signal state reset, the run directory's
// variables (TMPDIR, AFTERLIFE_*), the interposer preload, the environment block, the exec's
// outcome through a pipe, and fds 0-2 only (a repair of 1.81's close_range loop). The OS parts
// (exit watch, preload variable) are in spawn_linux.cpp / spawn_macos.cpp.
#pragma once

#include <sys/resource.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace afterlife::detail {

class run_dir;
class containment;

// The environment the child gets: this process's, then the changes asked for.
class environment_block {
 public:
  environment_block();  // a copy of this process's environment
  void set(const std::string& name, const std::string& value);
  // Appends value to a separator-joined list variable (LD_PRELOAD, ASAN_OPTIONS).
  void append(const std::string& name, const std::string& value, char separator);
  // The NULL-terminated array for execve; valid until the block changes or dies.
  const char* const* pointers();

 private:
  std::vector<std::string> entries_;
  std::vector<const char*> pointers_;
};

struct spawn_request {
  std::vector<std::string> command;  // argv; argv[0] is resolved in PATH
  environment_block* env = nullptr;
  const run_dir* dir = nullptr;
  std::filesystem::path interposer;  // empty: no preload
  containment* contain = nullptr;     // what holds the run's processes (none: plain spawn)
  int stdin_fd = 0;
  int stdout_fd = 1;
  int stderr_fd = 2;
};

// The executable argv[0] names: itself when it has a slash, else the first match in PATH.
// Throws harness_error("command not found: NAME").
std::filesystem::path resolve_command(const std::string& name);

struct spawned {
  int pid = 0;  // the main process (not its keeper)
};

// Starts the process; the caller owns the pid from then on (waits for it itself, or through the
// containment, to keep the raw wait status). Throws harness_error when the launch fails, and
// containment_refused when the child could not enter the container.
spawned spawn(const spawn_request& request);

// OS parts.
// The environment variable that preloads a library, and the interposer's file name.
const char* preload_variable();
const char* interposer_file_name();
std::filesystem::path self_executable();
// A descriptor that becomes readable when pid exits (pidfd / kqueue); -1 when the OS cannot,
// in which case the caller polls with a short timeout. The caller closes it.
int open_exit_watch(int pid);
// ru_maxrss in KiB (Linux reports KiB, macOS bytes).
long max_rss_kib(const rusage& usage);
// In the child before its exec (async-signal-safe, no allocation): closes every descriptor
// above 2 except those in keep. Linux needs it: Boost 1.81's close_range loop never closes the
// gaps between whitelisted descriptors (exec_outcome's pipe is one). On macOS Boost walks
// /dev/fd and gets it right, so this does nothing there.
void close_descriptors_except(const std::vector<int>& keep) noexcept;
// A pipe whose two ends are close-on-exec; 0 or -1 with errno (pipe2 on Linux; macOS has no
// pipe2, so pipe then FD_CLOEXEC).
int cloexec_pipe(int fds[2]) noexcept;
// Sockets: no SIGPIPE when the peer is gone (MSG_NOSIGNAL on Linux, SO_NOSIGPIPE on macOS).
int no_sigpipe_flags();
void no_sigpipe(int fd);
// Accepts one connection on a listening socket, non-blocking and close-on-exec (Linux: accept4,
// one call). -1 with errno set.
int accept_connection(int listen_fd);

}  // namespace afterlife::detail

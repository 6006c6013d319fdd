#include "spawn/spawn.hpp"

#include "afterlife/harness/run.hpp"
#include "containment/containment.hpp"
#include "run_dir.hpp"

#include "spawn/boost_process.hpp"
#include AFTERLIFE_LAUNCHER_HEADER  // os_launcher, fork_launcher

#include <fmt/core.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

extern char** environ;

namespace afterlife::detail {

namespace bp = boost::process::v2;

environment_block::environment_block() {
  for (char** entry = environ; *entry != nullptr; ++entry) entries_.emplace_back(*entry);
}

void environment_block::set(const std::string& name, const std::string& value) {
  std::string prefix = name + "=";
  for (auto& entry : entries_) {
    if (entry.starts_with(prefix)) {
      entry = prefix + value;
      return;
    }
  }
  entries_.push_back(prefix + value);
}

void environment_block::append(const std::string& name, const std::string& value,
                               char separator) {
  std::string prefix = name + "=";
  for (auto& entry : entries_) {
    if (entry.starts_with(prefix)) {
      if (entry.size() > prefix.size()) entry += separator;
      entry += value;
      return;
    }
  }
  entries_.push_back(prefix + value);
}

const char* const* environment_block::pointers() {
  pointers_.clear();
  for (const auto& entry : entries_) pointers_.push_back(entry.c_str());
  pointers_.push_back(nullptr);
  return pointers_.data();
}

namespace {

// ---- the add-ons (Boost.Process v2 initializers). on_setup runs in the parent before the
// child starts, on_exec_setup in the child before its exec. With the vfork launcher (Linux) the
// child shares the harness's memory, so only async-signal-safe calls that change nothing but
// the child's own process state (its fds, signal dispositions and mask, process group). ----

// Its own process group, so that group-kill reaches every process that did not leave it.
// Boost.Process v2 has no process-group option.
struct process_group {
  template <typename Launcher>
  bp::error_code on_exec_setup(Launcher&, const bp::filesystem::path&, const char* const*&) {
    if (setpgid(0, 0) != 0) return {errno, bp::system_category()};
    return {};
  }
};

// The child starts with default signal handling and nothing blocked, whatever the harness (or
// the thread that spawns, under `afterlife matrix`) has set: ignored dispositions and blocked
// masks survive exec.
struct default_signals {
  template <typename Launcher>
  bp::error_code on_exec_setup(Launcher&, const bp::filesystem::path&, const char* const*&) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return {};
  }
};

// Into the run's container (containment/containment.hpp) before the exec: the run's cgroup,
// or below its keeper process (which stays behind in this child, forked). Must come before
// only_standard_descriptors: the container's descriptors are closed there. A refusal ends the
// child through exec_outcome with the errno moved above every errno (containment_error_base),
// so that the parent can tell it from a failed exec.
constexpr int containment_error_base = 1 << 20;

struct enter_containment {
  containment* contain;
  template <typename Launcher>
  bp::error_code on_exec_setup(Launcher&, const bp::filesystem::path&, const char* const*&) {
    if (contain == nullptr) return {};
    if (int error = contain->enter_in_child(); error != 0)
      return {containment_error_base + error, bp::system_category()};
    return {};
  }
};

// The run's private directory: TMPDIR inside it, and where the program finds the harness.
struct run_directory {
  const run_dir* dir;
  environment_block* env;
  template <typename Launcher>
  bp::error_code on_setup(Launcher&, const bp::filesystem::path&, const char* const*&) {
    env->set("TMPDIR", dir->tmp().string());
    env->set("AFTERLIFE_RUN", dir->id());
    env->set("AFTERLIFE_SOCKET", dir->socket().string());
    return {};
  }
};

// The interposer that reports creations to the harness, preloaded into every process of the run.
struct interposer_preload {
  const std::filesystem::path* library;
  environment_block* env;
  template <typename Launcher>
  bp::error_code on_setup(Launcher&, const bp::filesystem::path&, const char* const*&) {
    if (library->empty()) return {};
    env->append(preload_variable(), library->string(), ':');
    // An ASan-built child checks that its runtime comes first in the preload list; ours is
    // a plain C library with no interceptors of its own, so that check must be off.
    env->append("ASAN_OPTIONS", "verify_asan_link_order=0", ':');
    return {};
  }
};

// Only stdin, stdout and stderr reach the program: every other descriptor the harness has (its
// own without FD_CLOEXEC, a parallel cell's pipes under `afterlife matrix`) is closed, except the
// launcher's whitelist (exec_outcome's pipe), which ends at the exec. Must come after
// process_stdio, whose dup2 sources are above 2.
struct only_standard_descriptors {
  template <typename Launcher>
  bp::error_code on_exec_setup(Launcher& launcher, const bp::filesystem::path&,
                               const char* const*&) {
    close_descriptors_except(launcher.fd_whitelist);
    return {};
  }
};

// Whether the exec happened, told through a pipe whose write end only the child keeps until its
// exec (close-on-exec) or its failure (then it writes errno and ends with _exit(127)). The
// parent reads it to EOF after the launch: so it learns of a failed exec, and returns only once
// the program runs, even where vfork is fork (under TSan or valgrind: vfork_launcher then learns
// nothing from the child and would return before the exec, and a signal sent at once would
// still find the harness's handlers there). _exit also keeps 1.81's launchers from calling
// exit(), which would run the harness's atexit handlers in the child (with vfork, in the
// harness's own memory).
class exec_outcome {
 public:
  exec_outcome() {
    if (cloexec_pipe(fds_) != 0) {
      throw harness_error(fmt::format("cannot start: pipe: {}",
                                      std::system_category().message(errno)));
    }
  }
  ~exec_outcome() {
    for (int& fd : fds_) close_if_open(fd);
  }
  exec_outcome(const exec_outcome&) = delete;
  exec_outcome& operator=(const exec_outcome&) = delete;

  // The launcher closes every descriptor it is not told to keep.
  template <typename Launcher>
  bp::error_code on_setup(Launcher& launcher, const bp::filesystem::path&, const char* const*&) {
    launcher.fd_whitelist.push_back(fds_[1]);
    return {};
  }
  template <typename Launcher>
  void on_exec_error(Launcher&, const bp::filesystem::path&, const char* const*&,
                     const bp::error_code& ec) {
    const int error = ec.value();
    (void)!write(fds_[1], &error, sizeof error);
    _exit(127);
  }
  // Never called: 1.81 detects the hook by a five-argument call (launcher, ec, path, argv, ec)
  // but makes the four-argument one above.
  template <typename Launcher>
  void on_exec_error(Launcher& launcher, const bp::error_code&, const bp::filesystem::path& path,
                     const char* const*& argv, const bp::error_code& ec) {
    on_exec_error(launcher, path, argv, ec);
  }

  // In the parent, after the launch: 0 once the program runs, errno when its exec failed.
  int wait() {
    close_if_open(fds_[1]);
    int error = 0;
    ssize_t n;
    while ((n = read(fds_[0], &error, sizeof error)) < 0 && errno == EINTR) {
    }
    return n == static_cast<ssize_t>(sizeof error) ? error : 0;
  }

 private:
  static void close_if_open(int& fd) noexcept {
    if (fd >= 0) close(std::exchange(fd, -1));
  }
  int fds_[2] = {-1, -1};
};

// Hands the finished environment block to the launcher; must come after every add-on that
// edits it.
struct environment {
  environment_block* env;
  template <typename Launcher>
  bp::error_code on_setup(Launcher& launcher, const bp::filesystem::path&, const char* const*&) {
    launcher.env = env->pointers();
    return {};
  }
};

}  // namespace

std::filesystem::path resolve_command(const std::string& name) {
  if (name.empty()) throw harness_error("command not found: (empty)");
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) throw harness_error("command not found: " + name);
    return name;
  }
  auto found = bp::environment::find_executable(name);
  if (found.empty()) throw harness_error("command not found: " + name);
  return std::filesystem::path(found.string());
}

namespace {

template <typename Launcher>
spawned launch(Launcher& launcher, const spawn_request& request,
               const std::filesystem::path& executable) {
  std::vector<std::string> args(request.command.begin() + 1, request.command.end());
  // A fresh context per spawn: it has no reactor yet, so the notify_fork the launcher calls in
  // the child re-creates nothing. It does copy the context's service list into a small vector
  // (one malloc and free in the child; with vfork, in the harness's heap, from the suspended
  // thread's own cache; with fork, the usual risk of malloc after fork in a threaded process).
  boost::asio::io_context context;
  exec_outcome outcome;
  bp::error_code ec;
  // The executor overload: the (context, ec, ...) one throws in 1.81 instead of setting ec.
  auto process = launcher(
      context.get_executor(), ec, bp::filesystem::path(executable.string()), args,
      bp::process_stdio{request.stdin_fd, request.stdout_fd, request.stderr_fd},
      enter_containment{request.contain}, only_standard_descriptors{}, outcome, process_group{},
      default_signals{}, run_directory{request.dir, request.env},
      interposer_preload{&request.interposer, request.env}, environment{request.env});
  // Read even when the launcher failed: the fork launcher's own error is errno, not the code
  // the child's add-on returned, which only the outcome pipe carries.
  int error = launcher.pid > 0 ? outcome.wait() : 0;
  if (error != 0) ec.assign(error, bp::system_category());
  if (ec) {
    // A child whose exec failed has ended with _exit(127) (a keeper, once the program it
    // forked did); the caller never sees its pid, so it is reaped here.
    if (launcher.pid > 0) waitpid(launcher.pid, nullptr, 0);
    if (ec.value() >= containment_error_base)
      throw containment_refused(fmt::format(
          "the child could not enter its container: {}",
          std::system_category().message(ec.value() - containment_error_base)));
    throw harness_error(fmt::format("cannot start {}: {}", request.command.front(), ec.message()));
  }
  int pid = process.id();
  // From here the harness waits for the pid itself (raw status, rusage); without detach the
  // handle's destructor would kill the child.
  process.detach();
  return {request.contain != nullptr ? request.contain->started(pid) : pid};
}

}  // namespace

spawned spawn(const spawn_request& request) {
  auto executable = resolve_command(request.command.front());
  if (request.contain != nullptr && request.contain->needs_fork()) {
    fork_launcher launcher;
    return launch(launcher, request, executable);
  }
  os_launcher launcher;
  return launch(launcher, request, executable);
}

}  // namespace afterlife::detail

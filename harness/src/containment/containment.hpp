// Containment: what holds every process of one run, so that each is found and ended, however it
// left the main process (setsid, a double fork, `env -i`), and is never confused with a process
// of another run of the same harness (`afterlife matrix` runs runs in threads of one process).
// One interface, one file per OS:
//   containment_linux.cpp  a cgroup v2 per run when the harness can create one (root, or a
//                          delegated subtree): cgroup.procs lists the run, cgroup.kill ends it;
//                          else a keeper process per run, a child subreaper between the harness
//                          and the main process: every orphan of the run becomes its child.
//   containment_macos.cpp  no cgroup, no subreaper: the process tree walked with libproc from the
//                          main process, plus its process group and the AFTERLIFE_RUN marker.
// The mechanism is recorded in the run directory (file `containment`), so that `afterlife clean`
// ends what is left of a run whose harness died the same way.
#pragma once

#include "probes/probes.hpp"

#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace afterlife::detail {

class run_dir;

// How long SIGKILLed processes of a run may take to disappear before the harness (and
// `afterlife clean`) gives up on them.
inline constexpr std::chrono::seconds kill_wait{5};

// What wait4 said about the main process.
struct main_exit {
  int status = 0;  // raw wait status
  rusage usage{};
  bool known = true;  // false: it ended, but how is lost (its keeper was killed)
};

// The spawn could not put the child into the run's container (spawn() throws it when the child
// reported so before its exec): the run falls back to the next mechanism and spawns again.
struct containment_refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class containment {
 public:
  // The best mechanism this OS and this process's privileges allow for a new run in `dir`.
  // `previous_refusal`: the message of a containment_refused from a first attempt, to pick the
  // next mechanism.
  static std::unique_ptr<containment> create(const run_dir& dir,
                                             const std::string& previous_refusal = {});
  virtual ~containment() = default;

  // For the report: "cgroup", "subreaper" or "process-tree", and what it is ("cgroup
  // /sys/fs/cgroup/afterlife-…", "keeper pid 1234"), and what it cannot catch ("" if nothing).
  virtual std::string_view mechanism() const noexcept = 0;
  virtual std::string description() const = 0;
  virtual std::string limitation() const { return {}; }

  // Spawning. Whether the launcher must fork instead of vfork (a process stays behind in the
  // child), then, in the child before its exec, entering the container: async-signal-safe, no
  // allocation. Returns 0, or an errno (the spawn then throws containment_refused).
  virtual bool needs_fork() const noexcept { return false; }
  virtual int enter_in_child() noexcept = 0;
  // After the launch, with the launcher's child: returns the main process's pid.
  virtual int started(int launched) = 0;

  // The main process's end: nullopt while it runs (block: wait for it).
  virtual std::optional<main_exit> wait_main(bool block) = 0;
  // A descriptor readable once the main process has ended; -1: the caller polls.
  virtual int exit_watch() const noexcept = 0;

  // Every process of the run now: the main process until it is reaped, then every other one
  // still alive (zombies may be listed; never a process of another run).
  virtual std::vector<probes::process_status> processes() = 0;
  // Whether pid is a process of the run now (a zombie of the run still is). Thread-safe: the
  // name watch asks it from its own thread the moment an event names a creator. False where
  // the mechanism cannot tell one process apart (macOS's tree walk: the caller's own walks
  // decide there).
  virtual bool holds(int pid) const { (void)pid; return false; }
  // SIGKILLs every process of the run at once. Returns how many there were.
  virtual std::size_t kill_all() = 0;
  // Nothing of the run is left (or the harness gave up on it): let the mechanism go (rmdir the
  // cgroup, reap the keeper) and remove its record from the run directory. noexcept: exit path.
  virtual void release() noexcept = 0;
};

// The main process as the harness's own child (the cgroup and the macOS tree; not the keeper's
// run, whose main process is the keeper's child): its exit watch, and its wait status once it is
// reaped (containment_posix.cpp).
class own_child {
 public:
  own_child() = default;
  ~own_child();
  own_child(const own_child&) = delete;
  own_child& operator=(const own_child&) = delete;

  void start(int pid);
  std::optional<main_exit> wait(bool block);
  int pid() const noexcept { return pid_; }
  bool reaped() const noexcept { return exit_.has_value(); }
  int exit_watch() const noexcept { return exit_watch_; }

 private:
  int pid_ = 0;
  int exit_watch_ = -1;
  std::optional<main_exit> exit_;
};

// `afterlife clean`: ends the processes of an abandoned run (its harness died) by the mechanism
// its record names, read through `run_fd` (the run directory `run_root`, opened without
// following links). Returns the pids it killed; appends what it could not do.
std::vector<int> end_abandoned_run(int run_fd, const std::filesystem::path& run_root,
                                   std::vector<std::string>& problems);

// A signal's state in a process: ignored (SIG_IGN), blocked (in every thread) or caught by a
// handler. For the report of a run that ended by --timeout after a signal that did nothing.
struct signal_state {
  bool ignored = false;
  bool blocked = false;
  bool caught = false;
};
std::optional<signal_state> signal_state_of(int pid, int sig);

}  // namespace afterlife::detail

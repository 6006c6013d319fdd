// macOS containment (compiled on macOS only; untested here): no cgroups and no child subreaper,
// so an orphan goes to launchd. The run is the process tree walked down from the main process
// with libproc (probes_macos.cpp), and, for what left it, the main process's process group and
// processes adopted by launchd that carry the run's AFTERLIFE_RUN marker in their environment.
// What it cannot catch: a process that left both the group (setsid) and the marker (`env -i`)
// and whose parent died before the walk (every 50 ms) saw it: a setsid + `env -i` double fork.
// See containment.hpp.
#include "containment/containment.hpp"

#include "run_dir.hpp"
#include "spawn/spawn.hpp"

#include <signal.h>
#include <sys/sysctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <map>
#include <set>

namespace afterlife::detail {

namespace {

class process_tree final : public containment {
 public:
  explicit process_tree(const run_dir& dir) : marker_("AFTERLIFE_RUN=" + dir.id()) {}

  std::string_view mechanism() const noexcept override { return "process-tree"; }
  std::string description() const override {
    return "process tree (macOS: no cgroup, no subreaper; walked from the main process, its "
           "process group and the AFTERLIFE_RUN marker)";
  }
  std::string limitation() const override {
    return "macOS: a process that leaves the process group (setsid) and clears its environment "
           "(env -i) after its parent died unseen is not found";
  }

  int enter_in_child() noexcept override { return 0; }

  int started(int launched) override {
    main_.start(launched);
    main_pid_ = launched;
    seen_[launched] = 0;
    return launched;
  }
  std::optional<main_exit> wait_main(bool block) override { return main_.wait(block); }
  int exit_watch() const noexcept override { return main_.exit_watch(); }

  std::vector<probes::process_status> processes() override {
    std::vector<int> pending;
    if (!main_.reaped()) pending.push_back(main_pid_);
    // Orphans re-parented to launchd, and what is left below the harness (the main process's
    // children are reparented there only under a subreaper: never on macOS).
    for (int pid : probes::lost_descendants(main_pid_, marker_)) {
      auto status = probes::status_of(pid);
      if (status && belongs(*status)) pending.push_back(pid);
    }
    for (const auto& [pid, start] : seen_) {
      auto status = probes::status_of(pid);
      if (pid != main_pid_ && status && belongs(*status)) pending.push_back(pid);
    }
    std::vector<probes::process_status> found;
    std::set<int> visited;
    while (!pending.empty()) {
      int pid = pending.back();
      pending.pop_back();
      if (!visited.insert(pid).second) continue;
      auto status = probes::status_of(pid);
      if (!status) continue;
      seen_[pid] = status->start_time;
      found.push_back(*status);
      for (int child : probes::children_of(pid)) pending.push_back(child);
    }
    return found;
  }

  std::size_t kill_all() override {
    std::size_t count = 0;
    if (!main_.reaped()) kill(-main_pid_, SIGKILL);
    for (const auto& p : processes()) {
      if (p.zombie) continue;
      kill(p.pid, SIGKILL);
      ++count;
    }
    return count;
  }

  void release() noexcept override {}

 private:
  bool belongs(const probes::process_status& status) const {
    if (status.pid == main_pid_) return !main_.reaped();  // else the number was reused
    auto seen = seen_.find(status.pid);
    if (seen != seen_.end() && (seen->second == 0 || seen->second == status.start_time))
      return true;
    // The group outlives the main process while it has members; the kernel does not reuse a
    // pid still in use as a group id.
    if (status.pgid == main_pid_) return true;
    return probes::environment_has(status.pid, marker_);
  }

  std::string marker_;
  own_child main_;
  int main_pid_ = 0;
  std::map<int, std::uint64_t> seen_;  // pid -> start time of every process seen in the run
};

}  // namespace

std::unique_ptr<containment> containment::create(const run_dir& dir, const std::string&) {
  return std::make_unique<process_tree>(dir);
}

std::vector<int> end_abandoned_run(int, const std::filesystem::path&, std::vector<std::string>&) {
  // Nothing is recorded on macOS: `clean` finds the run's processes by their marker.
  return {};
}

std::optional<signal_state> signal_state_of(int pid, int sig) {
  // kinfo_proc has the process's ignored and caught signals; the blocked mask is per thread
  // and not there (p_sigmask is unused).
  kinfo_proc info{};
  std::size_t size = sizeof info;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid};
  if (sysctl(mib, 4, &info, &size, nullptr, 0) != 0 || size == 0) return std::nullopt;
  signal_state state;
  sigset_t bit = sigmask(sig);
  state.ignored = (info.kp_proc.p_sigignore & bit) != 0;
  state.caught = (info.kp_proc.p_sigcatch & bit) != 0;
  return state;
}

}  // namespace afterlife::detail

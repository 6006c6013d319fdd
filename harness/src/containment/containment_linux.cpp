// Linux containment: a cgroup v2 per run where the harness can create one, else a keeper
// process per run (a child subreaper). See containment.hpp.
#include "containment/containment.hpp"

#include "afterlife/harness/run.hpp"
#include "run_dir.hpp"
#include "spawn/spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace afterlife::detail {

namespace {

using namespace std::chrono_literals;

constexpr const char* record_name = "containment";

// Once a child could not enter a run's cgroup (a kernel or policy that refuses the move), every
// later run of this process goes straight to the keeper: the refusal would repeat.
constinit std::atomic<bool> cgroup_refused{false};

std::string read_small_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool write_small_file(const std::filesystem::path& path, std::string_view text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

std::vector<int> read_pids(const std::filesystem::path& path) {
  std::vector<int> pids;
  std::istringstream in(read_small_file(path));
  int pid = 0;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

// Where cgroup v2 is mounted (/sys/fs/cgroup; /sys/fs/cgroup/unified on a hybrid system) and
// this process's cgroup below it, from /proc/self/mountinfo and /proc/self/cgroup. Empty when
// there is no cgroup2 mount or this process's cgroup is not visible in it.
struct cgroup_location {
  std::filesystem::path mount;
  std::filesystem::path own;  // absolute: mount + this process's cgroup
  std::string mount_root;     // the mount's root as /proc/PID/cgroup names cgroups ("/")
};

// A cgroup under the mount as /proc/PID/cgroup names it ("/afterlife-…").
std::string cgroup_view(const cgroup_location& here, const std::filesystem::path& path) {
  std::string root = here.mount_root == "/" ? std::string() : here.mount_root;
  return root + "/" + path.lexically_relative(here.mount).string();
}

cgroup_location find_cgroup() {
  cgroup_location found;
  // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
  std::istringstream mounts(read_small_file("/proc/self/mountinfo"));
  std::string line;
  std::string mount_root;
  while (std::getline(mounts, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, device, root, point;
    if (!(fields >> id >> parent >> device >> root >> point)) continue;
    found.mount = point;
    found.mount_root = root;
    mount_root = root;
    break;
  }
  if (found.mount.empty()) return found;
  // The unified hierarchy's line: "0::/PATH".
  std::istringstream groups(read_small_file("/proc/self/cgroup"));
  while (std::getline(groups, line)) {
    if (!line.starts_with("0::/")) continue;
    std::string own = line.substr(3);
    // A mount of a subtree (ROOT is not "/") shows only what lies below ROOT.
    if (mount_root != "/") {
      if (own != mount_root && !own.starts_with(mount_root + "/")) return {};
      own = own.substr(mount_root.size());
    }
    found.own = found.mount / std::filesystem::path(own).relative_path();
    return found;
  }
  return {};
}

const cgroup_location& cgroup_here() {
  static const cgroup_location location = find_cgroup();
  return location;
}

std::string cgroup_name(const run_dir& dir) { return "afterlife-" + dir.id(); }

// Removes an emptied cgroup and the cgroups below it, deepest first: a program of the run may
// have made its own (a nested `afterlife run` does), and rmdir refuses a cgroup with children.
// A member that was just killed may still count for a moment (EBUSY): retried for up to
// `patience`. Returns whether it is gone.
bool remove_cgroup_tree(const std::filesystem::path& path, std::chrono::milliseconds patience) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec))
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) remove_cgroup_tree(entry.path(), patience);
  auto give_up = std::chrono::steady_clock::now() + patience;
  for (;;) {
    if (rmdir(path.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY || std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(1ms);
  }
}

// The record goes through the run directory's descriptor, never by path: the run's processes
// can write that directory, and a planted link must not make the harness write or unlink
// elsewhere. Whatever stands at the name is replaced by a new file of the harness's.
void write_record(int run_fd, const std::string& text) {
  unlinkat(run_fd, record_name, 0);
  int fd = openat(run_fd, record_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;  // clean then finds the run by its marker only
  std::string line = text + "\n";
  (void)!write(fd, line.data(), line.size());
  close(fd);
}

void remove_record(int run_fd) noexcept { unlinkat(run_fd, record_name, 0); }

// The record of an abandoned run, read through its directory's descriptor (not a link).
std::string read_record(int run_fd) {
  int fd = openat(run_fd, record_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return {};
  std::string text;
  char buf[512];
  ssize_t n;
  while (text.size() < 4096 && (n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  close(fd);
  return text;
}

// ---- the cgroup ----

// The run's processes are born in its cgroup and stay there (only a privileged process could
// move itself out). The harness is also a child subreaper (process-wide; every run of this
// process sets it): an orphan of the run becomes its child and is reaped by the run it belongs
// to, told by the cgroup a zombie still names in /proc/PID/cgroup. Else orphans would go to
// init, and an init that does not reap (a container's) keeps them as zombies, whose pids look
// alive: PostgreSQL then refuses to start, its postmaster.pid naming a zombie.
class cgroup_containment final : public containment {
 public:
  cgroup_containment(std::filesystem::path path, int procs_fd, int run_fd)
      : path_(std::move(path)),
        view_(cgroup_view(cgroup_here(), path_)),
        procs_fd_(procs_fd),
        run_fd_(run_fd) {
    write_record(run_fd_, "cgroup " + path_.string());
    prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  ~cgroup_containment() override { release(); }

  std::string_view mechanism() const noexcept override { return "cgroup"; }
  std::string description() const override { return "cgroup " + path_.string(); }

  int enter_in_child() noexcept override {
    // "0" moves the writer: the child itself, before its exec, so that everything it starts is
    // born inside (with vfork the child is its own process, the harness is not moved).
    if (write(procs_fd_, "0", 1) != 1) return errno;
    return 0;
  }

  int started(int launched) override {
    main_.start(launched);
    return launched;
  }
  std::optional<main_exit> wait_main(bool block) override { return main_.wait(block); }
  int exit_watch() const noexcept override { return main_.exit_watch(); }

  bool holds(int pid) const override {
    // "0::/afterlife-…" (the unified hierarchy), the run's cgroup or one below it.
    std::istringstream groups(read_small_file(fmt::format("/proc/{}/cgroup", pid)));
    for (std::string line; std::getline(groups, line);) {
      if (!line.starts_with("0::")) continue;
      std::string_view group = std::string_view(line).substr(3);
      return group == view_ || (group.starts_with(view_) && group.size() > view_.size() &&
                                group[view_.size()] == '/');
    }
    return false;
  }

  std::vector<probes::process_status> processes() override {
    reap_orphans(false);
    std::vector<probes::process_status> found;
    bool main_listed = false;
    for (int pid : read_pids(path_ / "cgroup.procs")) {
      if (auto status = probes::status_of(pid)) {
        main_listed = main_listed || pid == main_.pid();
        found.push_back(*status);
      }
    }
    // An exited process leaves cgroup.procs at once; the main one is the harness's child and
    // is the run's until it is reaped.
    if (!main_.reaped() && !main_listed && main_.pid() > 0)
      if (auto status = probes::status_of(main_.pid())) found.push_back(*status);
    return found;
  }

  std::size_t kill_all() override {
    auto pids = read_pids(path_ / "cgroup.procs");
    // cgroup.kill (Linux 5.14): the kernel kills every member, and any it forks meanwhile.
    if (!write_small_file(path_ / "cgroup.kill", "1"))
      for (int pid : pids) kill(pid, SIGKILL);
    return pids.size();
  }

  void release() noexcept override {
    if (released_) return;
    released_ = true;
    if (procs_fd_ >= 0) close(procs_fd_);
    reap_orphans(read_pids(path_ / "cgroup.procs").empty());
    try {
      remove_cgroup_tree(path_, 200ms);
    } catch (...) {  // out of memory: `clean` removes it
    }
    remove_record(run_fd_);
  }

 private:
  // Orphans of the run the harness adopted, once they have ended. `all`: the cgroup is empty,
  // so every one of them has passed its exit's cgroup step and is about to be a zombie: wait for
  // each (up to kill_wait), so that none is left behind.
  void reap_orphans(bool all) noexcept {
    try {
      auto give_up = std::chrono::steady_clock::now() + kill_wait;
      for (int pid : probes::children_of(getpid())) {
        if (pid == main_.pid() || !in_this_cgroup(pid)) continue;
        while (waitpid(pid, nullptr, WNOHANG) == 0 && all &&
               std::chrono::steady_clock::now() < give_up)
          std::this_thread::sleep_for(1ms);
      }
    } catch (...) {  // out of memory: reaped at the next call, or by init
    }
  }

  bool in_this_cgroup(int pid) const {
    std::istringstream lines(read_small_file(fmt::format("/proc/{}/cgroup", pid)));
    std::string line;
    while (std::getline(lines, line))
      if (line.starts_with("0::")) return line.compare(3, std::string::npos, view_) == 0;
    return false;
  }

  std::filesystem::path path_;
  std::string view_;  // the cgroup as /proc/PID/cgroup names it
  int procs_fd_;
  int run_fd_;  // the run directory's (the run_dir owns it and outlives the containment)
  own_child main_;
  bool released_ = false;
};

// A new cgroup for the run below this process's own cgroup, else below the nearest ancestor
// where this user may create one (a delegated subtree). Moving a process needs write access to
// the common ancestor's cgroup.procs: the parent chosen is that ancestor. nullptr when there is
// none (no cgroup2, not root, no delegation).
std::unique_ptr<containment> make_cgroup(const run_dir& dir, std::string& why_not) {
  const auto& here = cgroup_here();
  if (here.mount.empty()) {
    why_not = "no cgroup2 file system mounted";
    return nullptr;
  }
  if (here.own.empty()) {
    why_not = "this process's cgroup is not visible under " + here.mount.string();
    return nullptr;
  }
  std::string first_error;
  for (auto parent = here.own;; parent = parent.parent_path()) {
    auto path = parent / cgroup_name(dir);
    if (mkdir(path.c_str(), 0755) == 0) {
      // A process may live only in a leaf "domain" cgroup (or one without domain controllers):
      // a new leaf is one unless the parent is threaded.
      std::string type = read_small_file(path / "cgroup.type");
      int procs = open((path / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
      if (type.starts_with("domain\n") && procs >= 0)
        return std::make_unique<cgroup_containment>(path, procs, dir.fd());
      if (procs >= 0) close(procs);
      rmdir(path.c_str());
      if (first_error.empty())
        first_error = fmt::format("{} is of type {}", path.string(), type.substr(0, type.find('\n')));
    } else if (first_error.empty()) {
      first_error = fmt::format("cannot create {}: {}", path.string(), std::strerror(errno));
    }
    if (parent == here.mount || parent == parent.parent_path()) break;
  }
  why_not = first_error;
  return nullptr;
}

// ---- the keeper ----

// The keeper's descriptors, fixed so that it can close everything else with two calls.
constexpr int keeper_report_fd = 3;
constexpr int keeper_run_dir_fd = 4;

// What the keeper writes: the main process's pid at once, then its wait status and rusage (one
// write each, well below PIPE_BUF, so never split).
struct keeper_report {
  int status = 0;
  rusage usage{};
};

// The keeper's whole life, in the forked child (async-signal-safe calls only: it is a copy of a
// possibly multi-threaded harness). It reaps every process of the run as it ends, reports the
// main one's, and ends when it has no child left: by then the run has no process at all, since
// every orphan of the run comes to it. It ignores the signals a terminal or a job control sends,
// so that the harness decides when the run ends; it does not die with the harness, so that
// `afterlife clean` can still walk the run from it.
[[noreturn]] void keeper_main(int main_pid, int report_fd, int run_dir_fd) noexcept {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU})
    sigaction(sig, &ignore, nullptr);
  // Nothing of the harness's: not its stdio, not the run's pipes (their EOF tells the harness
  // that every writer is gone), not the launcher's exec pipe. Only the report pipe and a handle
  // on the run directory, by which `clean` recognizes the keeper of a run.
  // (Copied above the fixed numbers first: either may be one of them.)
  int report_copy = fcntl(report_fd, F_DUPFD, 16);
  int run_dir_copy = fcntl(run_dir_fd, F_DUPFD, 16);
  dup2(report_copy, keeper_report_fd);
  dup2(run_dir_copy, keeper_run_dir_fd);
  close_range(0, keeper_report_fd - 1, 0);
  close_range(keeper_run_dir_fd + 1, ~0U, 0);
  (void)!write(keeper_report_fd, &main_pid, sizeof main_pid);
  for (;;) {
    keeper_report report;
    pid_t ended = wait4(-1, &report.status, 0, &report.usage);
    if (ended < 0) {
      if (errno == EINTR) continue;
      _exit(0);  // ECHILD: nothing of the run is left
    }
    if (ended == main_pid) (void)!write(keeper_report_fd, &report, sizeof report);
  }
}

class keeper_containment final : public containment {
 public:
  keeper_containment(const run_dir& dir, std::string fallback_reason)
      : run_fd_(dir.fd()), reason_(std::move(fallback_reason)) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
      throw harness_error(fmt::format("cannot start the keeper: pipe: {}", std::strerror(errno)));
    report_read_ = fds[0];
    report_write_ = fds[1];
    run_dir_fd_ = fcntl(dir.fd(), F_DUPFD_CLOEXEC, 0);  // the keeper's handle on its run
  }
  ~keeper_containment() override {
    release();
    if (report_read_ >= 0) close(report_read_);
    if (report_write_ >= 0) close(report_write_);
    if (run_dir_fd_ >= 0) close(run_dir_fd_);
  }

  std::string_view mechanism() const noexcept override { return "subreaper"; }
  std::string description() const override {
    return fmt::format("keeper pid {} (a child subreaper between the harness and the main "
                       "process; no cgroup: {})", keeper_pid_, reason_);
  }

  bool needs_fork() const noexcept override { return true; }

  int enter_in_child() noexcept override {
    // Not inherited by fork: only the keeper is a subreaper, the program it starts is not.
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return errno;
    pid_t main_pid = _Fork();
    if (main_pid < 0) return errno;
    if (main_pid > 0) keeper_main(main_pid, report_write_, run_dir_fd_);
    return 0;  // the main process: on to the other add-ons and the exec
  }

  int started(int launched) override {
    keeper_pid_ = launched;
    keeper_for_holds_.store(launched);
    close(std::exchange(report_write_, -1));
    int main_pid = 0;
    ssize_t n;
    while ((n = read(report_read_, &main_pid, sizeof main_pid)) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof main_pid))
      throw harness_error("the keeper process ended before it started the program");
    fcntl(report_read_, F_SETFL, fcntl(report_read_, F_GETFL) | O_NONBLOCK);
    main_pid_ = main_pid;
    if (auto keeper = probes::status_of(keeper_pid_))
      write_record(run_fd_, fmt::format("subreaper {} {}", keeper_pid_, keeper->start_time));
    return main_pid;
  }

  std::optional<main_exit> wait_main(bool block) override {
    if (exit_) return exit_;
    while (!keeper_gone_) {
      if (block) {
        pollfd fd{report_read_, POLLIN, 0};
        poll(&fd, 1, -1);
      }
      keeper_report report;
      ssize_t n = read(report_read_, &report, sizeof report);
      if (n == static_cast<ssize_t>(sizeof report)) {
        exit_ = main_exit{report.status, report.usage};
        return exit_;
      }
      if (n == 0) {
        // The keeper died (someone killed it) before the main process ended: its status is
        // lost. The main process, if alive, now belongs to init; it is still killed by pid,
        // and it has ended once its pid is gone.
        keeper_gone_ = true;
        break;
      }
      if (n < 0 && errno == EINTR) continue;
      if (!block) return std::nullopt;
    }
    for (;;) {
      auto status = probes::status_of(main_pid_);
      if (!status || status->zombie) {
        exit_ = main_exit{0, {}, false};
        return exit_;
      }
      if (!block) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

  int exit_watch() const noexcept override { return exit_ || keeper_gone_ ? -1 : report_read_; }

  bool holds(int pid) const override {
    // Below the keeper: every process of the run is, or was reparented to it.
    int keeper = keeper_for_holds_.load();
    for (int depth = 0; keeper > 0 && pid > 1 && depth < 64; ++depth) {
      if (pid == keeper) return depth > 0;
      auto status = probes::status_of(pid);
      if (!status) return false;
      pid = status->ppid;
    }
    return false;
  }

  std::vector<probes::process_status> processes() override {
    std::vector<probes::process_status> found;
    std::vector<int> pending = probes::children_of(keeper_pid_);
    // Once the keeper is gone, the main process (if alive) is the only one still known.
    if (keeper_gone_ && main_pid_ > 0) pending.push_back(main_pid_);
    std::set<int> seen;
    while (!pending.empty()) {
      int pid = pending.back();
      pending.pop_back();
      if (!seen.insert(pid).second) continue;
      auto status = probes::status_of(pid);
      if (!status) continue;
      found.push_back(*status);
      for (int child : probes::children_of(pid)) pending.push_back(child);
    }
    return found;
  }

  std::size_t kill_all() override {
    std::size_t count = 0;
    for (const auto& p : processes()) {
      if (p.zombie) continue;
      kill(p.pid, SIGKILL);
      ++count;
    }
    return count;
  }

  void release() noexcept override {
    if (released_ || keeper_pid_ <= 0) return;
    released_ = true;
    // The keeper ends by itself once the run has no process left; one that is still there
    // holds a process the harness could not kill: it is killed too, so that the harness
    // can reap it (what it kept goes to init).
    auto give_up = std::chrono::steady_clock::now() + kill_wait;
    while (waitpid(keeper_pid_, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= give_up) {
        kill(keeper_pid_, SIGKILL);
        waitpid(keeper_pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
    remove_record(run_fd_);
  }

 private:
  int run_fd_;  // the run directory's (the run_dir owns it and outlives the containment)
  std::string reason_;
  int report_read_ = -1;
  int report_write_ = -1;
  int run_dir_fd_ = -1;
  int keeper_pid_ = 0;
  std::atomic<int> keeper_for_holds_{0};  // keeper_pid_, for holds() on another thread
  int main_pid_ = 0;
  std::optional<main_exit> exit_;
  bool keeper_gone_ = false;
  bool released_ = false;
};

// ---- clean ----

// Waits until `alive` says no, up to kill_wait.
template <typename Alive>
bool wait_until_gone(Alive alive) {
  auto give_up = std::chrono::steady_clock::now() + kill_wait;
  while (alive()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

void end_abandoned_cgroup(const std::filesystem::path& run_root, const std::string& recorded,
                          std::vector<int>& killed, std::vector<std::string>& problems) {
  // The run's own processes can write its directory: a record is believed only when it names
  // this run's cgroup, under the cgroup2 mount, by the name the harness gives it.
  const auto& here = cgroup_here();
  std::filesystem::path path(recorded);
  std::error_code ec;
  auto canonical = std::filesystem::canonical(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return;  // already gone
    problems.push_back(fmt::format("cgroup {}: {}", recorded, ec.message()));
    return;
  }
  auto relative = canonical.lexically_relative(here.mount);
  if (here.mount.empty() || relative.empty() || relative.begin()->string() == ".." ||
      canonical.filename() != "afterlife-" + run_root.filename().string()) {
    problems.push_back(fmt::format("ignored the run's containment record: {} is not its cgroup",
                                   recorded));
    return;
  }
  auto procs = canonical / "cgroup.procs";
  for (int pid : read_pids(procs))
    if (std::find(killed.begin(), killed.end(), pid) == killed.end()) killed.push_back(pid);
  if (!write_small_file(canonical / "cgroup.kill", "1"))
    for (int pid : read_pids(procs)) kill(pid, SIGKILL);
  bool gone = wait_until_gone([&] {
    auto left = read_pids(procs);
    for (int pid : left) kill(pid, SIGKILL);
    return !left.empty();
  });
  if (!gone) problems.push_back("processes of cgroup " + canonical.string() + " did not die");
  if (!remove_cgroup_tree(canonical, kill_wait))
    problems.push_back(fmt::format("cannot remove cgroup {}: {}", canonical.string(),
                                   std::strerror(errno)));
}

void end_abandoned_keeper(int run_fd, int keeper,
                          std::uint64_t start_time, std::vector<int>& killed,
                          std::vector<std::string>& problems) {
  auto status = probes::status_of(keeper);
  if (!status || status->zombie || status->start_time != start_time) return;  // it ended
  // The keeper holds a descriptor on its run's directory: a record naming another process
  // (written by a hostile run) is not believed.
  struct stat held {}, run {};
  if (stat(fmt::format("/proc/{}/fd/{}", keeper, keeper_run_dir_fd).c_str(), &held) != 0 ||
      fstat(run_fd, &run) != 0 || held.st_dev != run.st_dev || held.st_ino != run.st_ino) {
    problems.push_back(fmt::format(
        "ignored the run's containment record: pid {} is not the run's keeper", keeper));
    return;
  }
  bool gone = wait_until_gone([&] {
    std::vector<int> pending = probes::children_of(keeper);
    bool any = false;
    while (!pending.empty()) {
      int pid = pending.back();
      pending.pop_back();
      auto child = probes::status_of(pid);
      if (!child || child->zombie) continue;
      any = true;
      if (kill(pid, SIGKILL) == 0 &&
          std::find(killed.begin(), killed.end(), pid) == killed.end())
        killed.push_back(pid);
      for (int grandchild : probes::children_of(pid)) pending.push_back(grandchild);
    }
    return any;
  });
  if (!gone) problems.push_back(fmt::format("processes below keeper {} did not die", keeper));
}

}  // namespace

std::unique_ptr<containment> containment::create(const run_dir& dir,
                                                 const std::string& previous_refusal) {
  std::string why_not = previous_refusal;
  if (!previous_refusal.empty()) cgroup_refused.store(true);
  // AFTERLIFE_CONTAINMENT=subreaper: the keeper even where a cgroup could be made (to see a run
  // as it goes where the harness has no cgroup of its own, e.g. a CI runner's user).
  const char* forced = std::getenv("AFTERLIFE_CONTAINMENT");
  if (forced != nullptr && std::string_view(forced) == "subreaper") {
    why_not = "AFTERLIFE_CONTAINMENT=subreaper";
  } else if (!cgroup_refused.load()) {
    if (auto cgroup = make_cgroup(dir, why_not)) return cgroup;
  } else if (why_not.empty()) {
    why_not = "an earlier run of this process could not enter its cgroup";
  }
  return std::make_unique<keeper_containment>(dir, why_not);
}

std::vector<int> end_abandoned_run(int run_fd, const std::filesystem::path& run_root,
                                   std::vector<std::string>& problems) {
  std::vector<int> killed;
  std::istringstream record(read_record(run_fd));
  std::string mechanism;
  record >> mechanism;
  if (mechanism == "cgroup") {
    std::string path;
    std::getline(record >> std::ws, path);
    end_abandoned_cgroup(run_root, path, killed, problems);
  } else if (mechanism == "subreaper") {
    int keeper = 0;
    std::uint64_t start_time = 0;
    if (record >> keeper >> start_time)
      end_abandoned_keeper(run_fd, keeper, start_time, killed, problems);
  }
  return killed;
}

std::optional<signal_state> signal_state_of(int pid, int sig) {
  // SigIgn and SigCgt are the process's; SigBlk is per thread: blocked means in every thread
  // (one thread that does not block it takes the signal).
  auto bit_set = [sig](const std::string& hex) {
    unsigned long long mask = std::stoull(hex, nullptr, 16);
    return ((mask >> (sig - 1)) & 1ULL) != 0;
  };
  auto field = [](const std::string& status, std::string_view name) -> std::string {
    auto at = status.find(std::string("\n") + std::string(name) + ":");
    if (at == std::string::npos) return {};
    std::istringstream rest(status.substr(at + name.size() + 2));
    std::string value;
    rest >> value;
    return value;
  };
  try {
    std::string status = read_small_file(fmt::format("/proc/{}/status", pid));
    if (status.empty()) return std::nullopt;
    signal_state state;
    state.ignored = bit_set(field(status, "SigIgn"));
    state.caught = bit_set(field(status, "SigCgt"));
    state.blocked = true;
    bool any_thread = false;
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
      std::string blocked = field(read_small_file(task.path() / "status"), "SigBlk");
      if (blocked.empty()) continue;
      any_thread = true;
      state.blocked = state.blocked && bit_set(blocked);
    }
    if (!any_thread) state.blocked = bit_set(field(status, "SigBlk"));
    return state;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace afterlife::detail

#include "afterlife/harness/clean.hpp"

#include "containment/containment.hpp"
#include "ledger.hpp"
#include "probes/probes.hpp"
#include "run_dir.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <set>
#include <thread>

namespace afterlife {

namespace {

// A run is abandoned when it did not finish and nobody holds its lock (its harness is gone).
bool abandoned(const std::filesystem::path& run) {
  std::error_code ec;
  if (std::filesystem::exists(run / "finished", ec)) return false;
  int fd = open((run / "ledger").c_str(), O_WRONLY | O_CLOEXEC);  // also the run's lock
  if (fd < 0) {
    // A run is created (mkdir) a moment before it takes its lock: only a ledgerless directory
    // that has been around for a while is abandoned.
    if (errno != ENOENT) return false;
    auto written = std::filesystem::last_write_time(run, ec);
    return !ec && std::filesystem::file_time_type::clock::now() - written > std::chrono::minutes(1);
  }
  bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd);  // releases the lock we may have taken
  return free;
}

// Whether the object found now is the one the run recorded (not a later one of the same name).
bool same_object(const detail::ledger_record& record, const probes::object_entry& now) {
  if (record.inode != 0 && now.inode != 0 && record.inode != now.inode) return false;
  if (now.kind == "sysv_shm" && now.creator_pid != 0 && now.creator_pid != record.pid)
    return false;
  return true;
}

// Its processes first: one of them could still be creating what the ledger lists. By the
// mechanism that held the run (its cgroup, its keeper), then by the AFTERLIFE_RUN marker for a
// run that had neither.
void kill_processes(const std::filesystem::path& run, const std::string& id,
                    clean_result& result) {
  std::vector<std::string> problems;
  for (int pid : detail::end_abandoned_run(run, problems))
    if (std::find(result.killed.begin(), result.killed.end(), pid) == result.killed.end())
      result.killed.push_back(pid);
  for (auto& problem : problems) result.problems.push_back(id + ": " + problem);
  for (int round = 0; round < 100; ++round) {
    auto alive = probes::processes_with("AFTERLIFE_RUN=" + id);
    if (alive.empty()) return;
    for (int pid : alive) {
      if (kill(pid, SIGKILL) == 0 &&
          std::find(result.killed.begin(), result.killed.end(), pid) == result.killed.end())
        result.killed.push_back(pid);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void clean_run(const std::filesystem::path& run, clean_result& result) {
  std::string id = run.filename().string();
  result.runs.push_back(id);
  kill_processes(run, id, result);
  std::set<std::string> done;
  for (const auto& record : detail::read_ledger(run / "ledger")) {
    if (!done.insert(record.kind + ":" + record.name).second) continue;
    auto now = probes::probe_named(record.kind, record.name);
    if (!now || !same_object(record, *now)) continue;
    clean_entry entry{id, now->kind, now->name, false, {}};
    // Under the run's own directory everything goes with the directory below.
    if (now->path.starts_with(run.string() + "/")) continue;
    auto ec = probes::remove_object(*now);
    entry.removed = !ec;
    if (ec) entry.error = ec.message();
    result.entries.push_back(std::move(entry));
  }
  std::error_code ignored;
  std::filesystem::remove_all(run, ignored);  // does not follow symlinks
}

}  // namespace

clean_result clean_unfinished_runs(const std::filesystem::path& runtime_dir) {
  clean_result result;
  auto top = detail::runtime_root(runtime_dir);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(top, ec)) {
    if (!entry.is_directory() || entry.is_symlink()) continue;
    if (abandoned(entry.path())) clean_run(entry.path(), result);
  }
  return result;
}

}  // namespace afterlife

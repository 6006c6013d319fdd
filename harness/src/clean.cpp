#include "afterlife/harness/clean.hpp"

#include "containment/containment.hpp"
#include "journal.hpp"
#include "probes/probes.hpp"
#include "removal.hpp"
#include "run_dir.hpp"

#include <afterlife/protocol.hpp>
#include <fmt/core.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <thread>

namespace afterlife {

namespace {

// A run directory as the harness made it: a real directory (not a link) of this user that
// nobody else may write. -1 otherwise.
int open_run(int topfd, const std::string& id) {
  int fd = openat(topfd, id.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// The journal, when it is the harness's: a regular file (not a link) of this user, mode 0600,
// with one name. -1 otherwise (ENOENT when there is none).
int open_journal(int runfd) {
  int fd = openat(runfd, "journal", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 0777) != 0600 || st.st_nlink != 1) {
    close(fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

// Whether nobody runs the run any more: its harness is gone (nobody holds its journal's lock),
// or it never wrote a journal and was set up more than a minute ago. Whether it finished is
// the journal's to say (read_journal).
bool unattended(int runfd, int journalfd) {
  struct stat st {};
  if (journalfd < 0) {
    if (errno != ENOENT || fstat(runfd, &st) != 0) return false;
    return std::chrono::system_clock::now() -
               std::chrono::system_clock::from_time_t(st.st_mtime) > std::chrono::minutes(1);
  }
  return flock(journalfd, LOCK_EX | LOCK_NB) == 0;  // the lock stays ours until it is closed
}

std::optional<detail::journal_contents> read_from_start(int journalfd) {
  if (journalfd < 0 || lseek(journalfd, 0, SEEK_SET) != 0) return std::nullopt;
  return detail::read_journal(journalfd);
}

// Its processes first: one of them could still be creating what the journal lists. By the
// mechanism that held the run (its cgroup, its keeper), then by the AFTERLIFE_RUN marker for a
// run that had neither.
void kill_processes(int runfd, const std::filesystem::path& run, const std::string& id,
                    clean_result& result) {
  std::vector<std::string> problems;
  for (int pid : detail::end_abandoned_run(runfd, run, problems))
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

// What the harness journaled, under the removal rules, with the identity checked again. The
// run's TMPDIR goes with the run directory below.
void remove_seen(const std::string& id, const detail::journal_contents& journal,
                 const std::filesystem::path& tmpdir, clean_result& result) {
  detail::removal_scope scope;
  scope.policy = journal.policy;
  scope.tmpdir = tmpdir;  // where this run directory is now, not where the journal says
  scope.watched = journal.watched;
  std::set<std::string> done;
  for (const auto& seen : journal.seen) {
    if (!done.insert(seen.kind + ":" + seen.name).second) continue;
    if (protocol::is_file_kind(seen.kind) && detail::is_below(seen.path, tmpdir)) continue;
    // The owner the harness saw is the uid to check the object against now (rule 4).
    scope.uids = {seen.uid};
    clean_entry entry{id, seen.kind, seen.name, false, {}};
    std::string kept = detail::why_kept(seen, scope);
    if (!kept.empty()) continue;  // the run's policy keeps it (e.g. a watched file)
    auto now = probes::probe_named(seen.kind, protocol::is_file_kind(seen.kind) ? seen.path : seen.name);
    if (!now) continue;  // gone already
    auto ec = detail::remove_within(seen, scope);
    entry.removed = !ec;
    if (ec) entry.error = ec == std::errc::operation_canceled
                              ? "not the object the run created (identity changed)"
                              : ec.message();
    result.entries.push_back(std::move(entry));
  }
}

void clean_run(int topfd, const std::filesystem::path& top, const std::string& id,
               clean_result& result) {
  int runfd = open_run(topfd, id);
  if (runfd < 0) return;
  int journalfd = open_journal(runfd);
  bool abandoned = unattended(runfd, journalfd);
  if (abandoned) {
    auto journal = read_from_start(journalfd);
    abandoned = !(journal && journal->finished);
  }
  if (!abandoned) {
    if (journalfd >= 0) close(journalfd);
    close(runfd);
    return;
  }
  result.runs.push_back(id);
  kill_processes(runfd, top / id, id, result);
  // Read again: its processes wrote until they were killed.
  if (auto journal = read_from_start(journalfd); journal && journal->run_id == id) {
    if (journal->foreign.empty()) {
      remove_seen(id, *journal, top / id / "tmp", result);
    } else {
      result.problems.push_back(fmt::format(
          "{}: its journal was written to by someone else ({}): nothing it lists is removed", id,
          journal->foreign.front()));
    }
  }
  detail::remove_contents(runfd);
  (void)unlinkat(topfd, id.c_str(), AT_REMOVEDIR);
  if (journalfd >= 0) close(journalfd);
  close(runfd);
}

}  // namespace

clean_result clean_unfinished_runs(const std::filesystem::path& runtime_dir) {
  clean_result result;
  auto top = detail::runtime_root(runtime_dir);
  int topfd = open(top.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (topfd < 0) return result;
  std::error_code ec;
  std::vector<std::string> ids;
  for (const auto& entry : std::filesystem::directory_iterator(top, ec))
    if (entry.is_directory() && !entry.is_symlink()) ids.push_back(entry.path().filename().string());
  for (const auto& id : ids) clean_run(topfd, top, id, result);
  close(topfd);
  return result;
}

}  // namespace afterlife

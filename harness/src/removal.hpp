// The removal rules, the same for a run and for `afterlife clean` (harness/README.md, "What
// afterlife removes, and what it never touches"). The caller has established rules 1 and 2
// (the name is new since the harness's own snapshot and the harness saw the run create it);
// these check the rest and remove:
//   3. only in /dev/shm, /dev/mqueue, the run's TMPDIR and the watched directories, by a path
//      without `..`, identity checked again at the moment of removal (probes::remove_object:
//      inode + birth/change time through O_NOFOLLOW directory descriptors; SysV id + creator
//      pid + ctime);
//   4. only objects owned by (SysV: created by) a uid the run's processes had;
//   5. what the reap policy covers: IPC objects (ipc, all), files/sockets/FIFOs in watched
//      directories (files, all), anything in the run's own TMPDIR (every policy but none).
#pragma once

#include "afterlife/harness/run.hpp"
#include "probes/probes.hpp"

#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <vector>

namespace afterlife::detail {

struct removal_scope {
  reap_policy policy = reap_policy::ipc;
  std::filesystem::path tmpdir;                 // the run's TMPDIR, canonical
  std::vector<std::filesystem::path> watched;   // --watch directories, canonical
  std::set<long long> uids;                     // every uid a process of the run had
};

bool is_ipc_kind(const std::string& kind);
// Whether path is strictly below dir (lexically; both absolute and normal).
bool is_below(const std::string& path, const std::filesystem::path& dir);

// Why the object must be kept under rules 3-5 ("" when it may be removed).
std::string why_kept(const probes::object_entry& object, const removal_scope& scope);

// Removes it when why_kept() allows, checking its identity again. The error says why not.
std::error_code remove_within(const probes::object_entry& object, const removal_scope& scope);

}  // namespace afterlife::detail

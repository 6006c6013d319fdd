// Matching objects to what processes held: the same on every POSIX system.
#include "evidence/evidence.hpp"

#include "probes/probes.hpp"

#include <sys/stat.h>

#include <fmt/core.h>

#include <charconv>

namespace afterlife::evidence {

file_id file_id_of(const std::string& path) {
  struct stat st {};
  if (path.empty() || lstat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

void holdings::add(const process_evidence& process, std::size_t tag) {
  for (const auto& fd : process.fds) {
    holder h{tag, process.pid, fmt::format("fd {}", fd.fd)};
    if (fd.id.inode != 0) by_id_.try_emplace(fd.id, h);
    // macOS names a POSIX shm or semaphore descriptor "posix_shm:/NAME" (no path to stat).
    if (fd.target.starts_with("posix_")) by_name_[fd.target].emplace_back(fd.id.inode, h);
  }
  for (const auto& m : process.maps) {
    holder h{tag, process.pid, m.shared ? "a shared mapping" : "a private mapping"};
    // Linux maps a SysV segment as "/SYSV<key> (deleted)" with the segment's id as its inode.
    if (m.path.starts_with("/SYSV")) by_sysv_shm_id_.try_emplace(m.id.inode, h);
    else if (m.id.inode != 0) by_id_.try_emplace(m.id, h);
  }
}

std::optional<holdings::holder> holdings::find(const probes::object_entry& object) const {
  if (object.kind == "sysv_shm") {
    std::uint64_t id = 0;
    auto [end, ec] = std::from_chars(object.name.data(), object.name.data() + object.name.size(), id);
    if (ec != std::errc{} || end != object.name.data() + object.name.size()) return std::nullopt;
    auto found = by_sysv_shm_id_.find(id);
    if (found == by_sysv_shm_id_.end()) return std::nullopt;
    return found->second;
  }
  if (object.kind.starts_with("sysv_")) return std::nullopt;  // semaphores, queues: never held
  if (object.path.empty()) {
    if (object.inode == 0) return std::nullopt;
    auto named = by_name_.find(object.kind + ":" + object.name);
    if (named == by_name_.end()) return std::nullopt;
    for (const auto& [inode, h] : named->second)
      if (inode == object.inode) return h;
    return std::nullopt;
  }
  file_id id = file_id_of(object.path);
  if (id.inode == 0 || (object.inode != 0 && id.inode != object.inode)) return std::nullopt;
  auto found = by_id_.find(id);
  if (found == by_id_.end()) return std::nullopt;
  return found->second;
}

}  // namespace afterlife::evidence

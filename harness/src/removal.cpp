#include "removal.hpp"

#include <afterlife/protocol.hpp>
#include <fmt/core.h>

#include <algorithm>

namespace afterlife::detail {

namespace {

// A POSIX name as the rules accept it: "/NAME", NAME without '/', not "." or "..".
bool plain_posix_name(const std::string& name) {
  return name.size() > 1 && name[0] == '/' && name.find('/', 1) == std::string::npos &&
         name != "/." && name != "/..";
}

bool normal_absolute(const std::string& path) {
  std::filesystem::path p = path;
  if (!p.is_absolute()) return false;
  return std::none_of(p.begin(), p.end(), [](const std::filesystem::path& part) {
    return part == ".." || part == ".";
  });
}

}  // namespace

bool is_ipc_kind(const std::string& kind) {
  return protocol::in_family(kind, protocol::kind_family::posix_name) ||
         protocol::in_family(kind, protocol::kind_family::sysv);
}

bool is_below(const std::string& path, const std::filesystem::path& dir) {
  std::string prefix = dir.string();
  if (!prefix.ends_with('/')) prefix += '/';
  return path.size() > prefix.size() && path.starts_with(prefix);
}

std::string why_kept(const probes::object_entry& object, const removal_scope& scope) {
  if (scope.policy == reap_policy::none) return "--reap none";
  if (object.uid < 0 || scope.uids.count(object.uid) == 0)
    return fmt::format("owned by uid {}, which no process of the run had", object.uid);
  if (is_ipc_kind(object.kind)) {
    if (protocol::in_family(object.kind, protocol::kind_family::posix_name) && !plain_posix_name(object.name))
      return "not a plain POSIX name";
    if (scope.policy == reap_policy::files) return "an IPC object (--reap ipc or all removes it)";
    return {};
  }
  if (!protocol::is_file_kind(object.kind)) return "unknown kind";
  if (!normal_absolute(object.path)) return "not a plain absolute path";
  if (is_below(object.path, scope.tmpdir)) return {};
  bool watched = std::any_of(scope.watched.begin(), scope.watched.end(),
                             [&](const auto& dir) { return is_below(object.path, dir); });
  // Files are removed only in the run's TMPDIR and the watched directories: a directory in
  // /dev/shm (whose contents are not listed) and what the interposer saw made elsewhere (a
  // server's socket in /tmp) are reported, never removed.
  if (!watched) return "outside the run's TMPDIR and the watched directories";
  if (scope.policy == reap_policy::ipc)
    return "in a watched directory (--reap files or all removes it)";
  return {};
}

std::error_code remove_within(const probes::object_entry& object, const removal_scope& scope) {
  if (!why_kept(object, scope).empty()) return std::make_error_code(std::errc::operation_not_permitted);
  return probes::remove_object(object);
}

}  // namespace afterlife::detail

// macOS probes (compiled on macOS only; untested here). There is no /dev/shm and no listing of
// POSIX names or SysV objects without private sysctls: those are probed by the names the run's
// processes claim (and removed only as harness/README.md says for namespaces that cannot be
// listed). Processes come from libproc; orphans are adopted by launchd (no subreaper), so the
// run finds them by process group and by the AFTERLIFE_RUN marker in their environment.
#include "probes/probes.hpp"

#include <libproc.h>
#include <mach/vm_region.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/proc.h>
#include <sys/proc_info.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysctl.h>
#include <sys/un.h>
#include <unistd.h>

#include <afterlife/protocol.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace afterlife::probes {

namespace {

constexpr std::size_t pid_buffer_max = 65536;

bool is_posix_kind(const std::string& kind) {
  return protocol::in_family(kind, protocol::kind_family::posix_name);
}
bool is_sysv_kind(const std::string& kind) {
  return protocol::in_family(kind, protocol::kind_family::sysv);
}

// KERN_PROCARGS2: int argc, the exec path, padding NULs, argv[0..argc), then the environment.
struct process_arguments {
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

std::optional<process_arguments> arguments_of(int pid) {
  int argmax = 0;
  std::size_t size = sizeof argmax;
  int max_mib[2] = {CTL_KERN, KERN_ARGMAX};
  if (sysctl(max_mib, 2, &argmax, &size, nullptr, 0) != 0 || argmax <= 0) return std::nullopt;
  std::vector<char> buffer(static_cast<std::size_t>(argmax));
  int mib[3] = {CTL_KERN, KERN_PROCARGS2, pid};
  size = buffer.size();
  if (sysctl(mib, 3, buffer.data(), &size, nullptr, 0) != 0 || size < sizeof(int))
    return std::nullopt;
  int argc = 0;
  std::memcpy(&argc, buffer.data(), sizeof argc);
  std::size_t at = sizeof argc;
  while (at < size && buffer[at] != '\0') ++at;  // exec path
  while (at < size && buffer[at] == '\0') ++at;  // padding
  process_arguments result;
  while (at < size) {
    const char* start = buffer.data() + at;
    std::size_t length = strnlen(start, size - at);
    if (length == 0) break;
    if (static_cast<int>(result.argv.size()) < argc) result.argv.emplace_back(start, length);
    else result.env.emplace_back(start, length);
    at += length + 1;
  }
  return result;
}

std::vector<int> pid_list(int count_or_bytes, const std::vector<int>& buffer) {
  std::vector<int> pids;
  for (int i = 0; i < count_or_bytes && i < static_cast<int>(buffer.size()); ++i)
    if (buffer[static_cast<std::size_t>(i)] > 0) pids.push_back(buffer[static_cast<std::size_t>(i)]);
  return pids;
}

}  // namespace

class directory_stamps {};  // nothing to stamp: the only listed directories are watched ones

void directory_stamps_deleter::operator()(directory_stamps* stamps) const noexcept {
  delete stamps;
}

directory_stamps_ptr stamp_directories() { return nullptr; }

void list_objects(const std::vector<std::filesystem::path>& watch_dirs, listing& out,
                  const directory_stamps*) {
  out.notes.push_back(
      "unsupported: macOS cannot list POSIX shm, semaphores or SysV objects; names and ids from "
      "the run's claims are probed instead");
  for (const auto& dir : watch_dirs) detail::scan_watch_dir(dir, out);
}

void complete(object_entry& entry) {
  if (!is_posix_kind(entry.kind) && !is_sysv_kind(entry.kind)) detail::complete_file(entry);
}

std::optional<object_entry> probe_named(const std::string& kind, const std::string& name) {
  if (kind == "posix_shm" || kind == "posix_sem") return detail::probe_posix_name(kind, name);
  if (kind == "posix_mq") return std::nullopt;  // no POSIX message queues on macOS
  if (kind.starts_with("sysv_")) return detail::probe_sysv(kind, name);
  object_entry entry{kind, name, name, 0, 0, 0};
  detail::complete_file(entry);
  if (entry.inode == 0) return std::nullopt;
  return entry;
}

// POSIX names have no directory on macOS.
std::vector<std::filesystem::path> ipc_directories() { return {}; }

std::string key_of_path(const std::filesystem::path& path, bool) {
  std::string key;
  make_key("file", path.string(), key);
  return key;
}

bool listable(const std::string& kind) {
  return !is_posix_kind(kind) && !is_sysv_kind(kind);
}

std::string cleanup_command(const object_entry& entry) {
  // No shell command unlinks POSIX names on macOS; the C library's own call, through Python.
  if (entry.kind == "posix_shm" || entry.kind == "posix_sem")
    return "python3 -c " + detail::shell_quote(fmt::format(
        "import ctypes; ctypes.CDLL(None).{}(b'{}')",
        entry.kind == "posix_shm" ? "shm_unlink" : "sem_unlink", entry.name));
  return detail::cleanup_common(entry);
}

std::error_code remove_object(const object_entry& entry) noexcept {
  if (entry.kind == "posix_shm") {
    if (shm_unlink(entry.name.c_str()) != 0) return {errno, std::generic_category()};
    return {};
  }
  if (entry.kind == "posix_sem") {
    if (sem_unlink(entry.name.c_str()) != 0) return {errno, std::generic_category()};
    return {};
  }
  if (entry.kind == "posix_mq") return std::make_error_code(std::errc::not_supported);
  if (entry.kind.starts_with("sysv_")) return detail::remove_sysv(entry);
  return detail::remove_file(entry);
}

std::optional<process_status> status_of(int pid) {
  proc_bsdinfo info{};
  if (proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &info, PROC_PIDTBSDINFO_SIZE) !=
      PROC_PIDTBSDINFO_SIZE)
    return std::nullopt;
  process_status status;
  status.pid = pid;
  status.ppid = static_cast<int>(info.pbi_ppid);
  status.pgid = static_cast<int>(info.pbi_pgid);
  status.start_time = info.pbi_start_tvsec * 1000000ULL + info.pbi_start_tvusec;
  status.zombie = info.pbi_status == SZOMB;
  status.uid = info.pbi_uid;
  return status;
}

std::optional<peer> peer_of(int socket_fd) {
  pid_t pid = 0;
  socklen_t len = sizeof pid;
  uid_t uid = 0;
  gid_t gid = 0;
  if (getsockopt(socket_fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) != 0 || pid <= 0 ||
      getpeereid(socket_fd, &uid, &gid) != 0)
    return std::nullopt;
  return peer{static_cast<int>(pid), static_cast<unsigned>(uid)};
}

namespace detail {

bool identity_at(int dirfd, const char* name, file_identity& out) {
  struct stat st {};
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  constexpr std::int64_t second_ns = 1000000000;
  out.inode = static_cast<std::uint64_t>(st.st_ino);
  out.birth_ns = st.st_birthtimespec.tv_sec * second_ns + st.st_birthtimespec.tv_nsec;
  out.change_ns = st.st_ctimespec.tv_sec * second_ns + st.st_ctimespec.tv_nsec;
  out.uid = st.st_uid;
  out.size = static_cast<std::uint64_t>(st.st_size);
  return true;
}

}  // namespace detail

std::vector<int> children_of(int pid) {
  std::vector<int> buffer(4096);
  int count = proc_listchildpids(pid, buffer.data(), static_cast<int>(buffer.size() * sizeof(int)));
  return pid_list(count, buffer);
}

std::vector<int> processes_with(const std::string& entry) {
  std::vector<int> found;
  std::vector<int> buffer(pid_buffer_max);
  int count = proc_listallpids(buffer.data(), static_cast<int>(buffer.size() * sizeof(int)));
  for (int pid : pid_list(count, buffer)) {
    if (pid == getpid()) continue;
    auto status = status_of(pid);
    if (status && !status->zombie && environment_has(pid, entry)) found.push_back(pid);
  }
  return found;
}

std::vector<int> lost_descendants(int pgid, const std::string& marker) {
  std::vector<int> lost;
  std::vector<int> buffer(pid_buffer_max);
  int count = proc_listpgrppids(pgid, buffer.data(), static_cast<int>(buffer.size() * sizeof(int)));
  lost = pid_list(count, buffer);
  // Orphans that left the group (setsid): adopted by launchd, recognised by the marker.
  count = proc_listallpids(buffer.data(), static_cast<int>(buffer.size() * sizeof(int)));
  for (int pid : pid_list(count, buffer)) {
    auto status = status_of(pid);
    if (status && status->ppid == 1 && environment_has(pid, marker)) lost.push_back(pid);
  }
  return lost;
}

bool environment_has(int pid, const std::string& entry) {
  auto arguments = arguments_of(pid);
  return arguments &&
         std::find(arguments->env.begin(), arguments->env.end(), entry) != arguments->env.end();
}

std::string command_of(int pid) {
  std::string command;
  if (auto arguments = arguments_of(pid)) {
    for (const auto& word : arguments->argv) {
      if (!command.empty()) command += ' ';
      command += word;
    }
  }
  return command;
}

}  // namespace afterlife::probes

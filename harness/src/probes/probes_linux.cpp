// Linux probes: /dev/shm (POSIX shm and `sem.` semaphores; stamped by its ctime), /dev/mqueue
// when it is mounted, /proc/sysvipc, and /proc/PID for processes.
#include "probes/probes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <mqueue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <sstream>

namespace afterlife::probes {

namespace {

constexpr const char* shm_dir = "/dev/shm";
constexpr const char* mqueue_dir = "/dev/mqueue";

using detail::read_file;

// "/NAME" for a directory entry NAME, into a reused buffer.
void posix_name(std::string_view name, std::string& into) {
  into.assign(1, '/');
  into += name;
}

// /dev/shm, opened once component by component without following links (claims are checked
// against it one statx each).
int dev_shm_fd() {
  static const int fd = detail::open_nofollow(shm_dir, true);
  return fd;
}

void add_listed(listing& out, std::string_view kind, std::string_view name, std::string_view path,
                std::uint64_t inode) {
  listed_object object;
  object.kind = kind;
  object.name = name;
  object.path = path;
  object.inode = inode;
  out.add(object);
}

bool mqueue_mounted() {
  struct stat st {};
  return stat(mqueue_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

// /dev/shm holds both: `sem.NAME` is the semaphore "/NAME", anything else the shm "/NAME"
// (made by shm_open, or by a plain open(2) or `touch`: the same object to every shm_open).
// A directory is listed as itself (kind `directory`, its path), not what is in it.
void scan_dev_shm(listing& out) {
  DIR* dir = opendir(shm_dir);
  if (dir == nullptr) {
    out.notes.push_back(fmt::format("posix_shm: cannot list {}: {}", shm_dir,
                                    std::generic_category().message(errno)));
    return;
  }
  std::string name;
  while (const dirent* entry = readdir(dir)) {
    std::string_view file = entry->d_name;
    if (file == "." || file == "..") continue;
    if (entry->d_type == DT_DIR) {
      name.assign(shm_dir);
      name += '/';
      name += file;
      add_listed(out, "directory", name, name, entry->d_ino);
      continue;
    }
    bool semaphore = file.starts_with("sem.");
    posix_name(semaphore ? file.substr(4) : file, name);
    add_listed(out, semaphore ? "posix_sem" : "posix_shm", name, "", entry->d_ino);
  }
  closedir(dir);
}

void scan_dev_mqueue(listing& out) {
  DIR* dir = opendir(mqueue_dir);
  if (dir == nullptr) return;
  std::string name;
  std::string path;
  while (const dirent* entry = readdir(dir)) {
    std::string_view file = entry->d_name;
    if (file == "." || file == "..") continue;
    posix_name(file, name);
    path.assign(mqueue_dir);
    path += name;
    add_listed(out, "posix_mq", name, path, entry->d_ino);
  }
  closedir(dir);
}

std::uint64_t to_u64(const std::string& text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// /proc/sysvipc/{shm,sem,msg}: a header line, then one object per line. Columns (proc(5)):
// shm: key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime ...;
// sem: key semid perms nsems uid gid cuid cgid otime ctime;
// msg: key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime.
struct sysvipc_columns {
  int cuid;
  int ctime;
};
void scan_sysvipc(const char* file, const char* kind, sysvipc_columns columns, listing& out) {
  std::istringstream lines(read_file(std::string("/proc/sysvipc/") + file));
  std::string line;
  std::getline(lines, line);  // header
  std::vector<std::string> fields;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    fields.clear();
    for (std::string field; in >> field;) fields.push_back(std::move(field));
    if (fields.size() <= static_cast<std::size_t>(std::max(columns.cuid, columns.ctime))) continue;
    listed_object object;
    object.kind = kind;
    object.name = fields[1];
    object.size = to_u64(fields[3]);
    if (std::string_view(kind) == "sysv_shm") object.creator_pid = static_cast<int>(to_u64(fields[4]));
    object.uid = static_cast<long long>(to_u64(fields[static_cast<std::size_t>(columns.cuid)]));
    object.change_ns =
        static_cast<std::int64_t>(to_u64(fields[static_cast<std::size_t>(columns.ctime)])) * 1000000000;
    out.add(object);
  }
}

std::string dev_shm_path(const std::string& kind, const std::string& name) {
  std::string bare = name.starts_with('/') ? name.substr(1) : name;
  return std::string(shm_dir) + (kind == "posix_sem" ? "/sem." : "/") + bare;
}

// The fields of /proc/PID/stat after the command name (which may contain spaces and ')').
std::vector<std::string> stat_fields(int pid) {
  std::string stat = read_file(fmt::format("/proc/{}/stat", pid));
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return {};
  std::istringstream rest(stat.substr(close_paren + 1));
  std::vector<std::string> fields;
  std::string field;
  while (rest >> field) fields.push_back(field);
  return fields;
}

std::vector<int> parse_pids(const std::string& text) {
  std::vector<int> pids;
  std::istringstream in(text);
  int pid = 0;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

// Kernels without CONFIG_PROC_CHILDREN have no task/TID/children: scan every process instead.
std::vector<int> children_by_scan(int pid) {
  std::vector<int> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (const dirent* entry = readdir(proc)) {
    int candidate = 0;
    std::string_view name = entry->d_name;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), candidate);
    if (ec != std::errc{} || end != name.data() + name.size()) continue;
    auto status = status_of(candidate);
    if (status && status->ppid == pid) children.push_back(candidate);
  }
  closedir(proc);
  return children;
}

}  // namespace

// /dev/shm's stamp: its ctime. Every entry created, removed, linked or renamed in a directory
// (and every change to the directory itself) sets the directory's ctime to the current time,
// so the same device, inode and ctime, to the nanosecond, mean that the names and inodes a
// listing found after the stamp are still all there is. Current time may be read from a
// per-tick clock, where a change within the tick of the previous one would keep the ctime: the
// stamp is taken only when the last change is older than many ticks (`settled`), so any later
// one carries a later time. (Since Linux 6.13 tmpfs has multigrain timestamps: a change after
// a stat() always gets a new one.) tmpfs only: its times live in memory exactly as set.
class directory_stamps {
 public:
  explicit directory_stamps(const struct stat& dev_shm) : dev_shm_(dev_shm) {}

  bool dev_shm_unchanged() const {
    struct stat now {};
    return stat(shm_dir, &now) == 0 && now.st_dev == dev_shm_.st_dev &&
           now.st_ino == dev_shm_.st_ino && now.st_ctim.tv_sec == dev_shm_.st_ctim.tv_sec &&
           now.st_ctim.tv_nsec == dev_shm_.st_ctim.tv_nsec;
  }

 private:
  struct stat dev_shm_;
};

void directory_stamps_deleter::operator()(directory_stamps* stamps) const noexcept {
  delete stamps;
}

directory_stamps_ptr stamp_directories() {
  constexpr std::chrono::nanoseconds settled = std::chrono::milliseconds(50);
  struct statfs fs {};
  if (statfs(shm_dir, &fs) != 0 || fs.f_type != TMPFS_MAGIC) return nullptr;
  struct stat dir {};
  timespec now {};
  if (stat(shm_dir, &dir) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0) return nullptr;
  auto age = std::chrono::seconds(now.tv_sec - dir.st_ctim.tv_sec) +
             std::chrono::nanoseconds(now.tv_nsec - dir.st_ctim.tv_nsec);
  // Changed a moment ago (or the clock went back since): a ctime cannot tell the next change.
  if (age < settled) return nullptr;
  return directory_stamps_ptr(new directory_stamps(dir));
}

void list_objects(const std::vector<std::filesystem::path>& watch_dirs, listing& out,
                  const directory_stamps* unchanged_since) {
  if (unchanged_since == nullptr || !unchanged_since->dev_shm_unchanged()) scan_dev_shm(out);
  if (mqueue_mounted()) scan_dev_mqueue(out);
  scan_sysvipc("shm", "sysv_shm", {9, 13}, out);
  scan_sysvipc("sem", "sysv_sem", {6, 9}, out);
  scan_sysvipc("msg", "sysv_msg", {9, 13}, out);
  for (const auto& dir : watch_dirs) detail::scan_watch_dir(dir, out);
}

void complete(object_entry& entry) {
  if (entry.kind.starts_with("sysv_")) return;  // the listing carries the size
  if ((entry.kind == "posix_shm" || entry.kind == "posix_sem") && entry.path.empty())
    entry.path = dev_shm_path(entry.kind, entry.name);
  detail::complete_file(entry);
}

std::optional<object_entry> probe_named(const std::string& kind, const std::string& name) {
  if (kind == "posix_mq") {
    mqd_t queue = mq_open(name.c_str(), O_RDONLY);
    if (queue == static_cast<mqd_t>(-1)) return std::nullopt;
    object_entry entry{kind, name, "", 0, 0, 0};
    // On Linux a message queue descriptor is a file descriptor of the mqueue file system.
    struct stat st {};
    if (fstat(queue, &st) == 0) {
      entry.inode = static_cast<std::uint64_t>(st.st_ino);
      entry.uid = st.st_uid;
    }
    mq_attr attr{};
    if (mq_getattr(queue, &attr) == 0)
      entry.size = static_cast<std::uint64_t>(attr.mq_curmsgs) *
                   static_cast<std::uint64_t>(attr.mq_msgsize);
    mq_close(queue);
    return entry;
  }
  if (kind.starts_with("sysv_")) return detail::probe_sysv(kind, name);
  bool posix = kind == "posix_shm" || kind == "posix_sem";
  object_entry entry{kind, name, posix ? dev_shm_path(kind, name) : name, 0, 0, 0};
  if (posix) {
    // Asked once per claim: through the /dev/shm descriptor, one statx.
    if (name.size() < 2 || name[0] != '/' || name.find('/', 1) != std::string::npos)
      return std::nullopt;  // not a POSIX name
    std::string leaf = (kind == "posix_sem" ? "sem." : "") + name.substr(1);
    detail::file_identity id;
    if (dev_shm_fd() < 0 || !detail::identity_at(dev_shm_fd(), leaf.c_str(), id)) return std::nullopt;
    entry.inode = id.inode;
    entry.birth_ns = id.birth_ns;
    entry.change_ns = id.change_ns;
    entry.uid = id.uid;
    entry.size = id.size;
    return entry;
  }
  detail::complete_file(entry);
  if (entry.inode == 0) return std::nullopt;
  return entry;
}

std::vector<std::filesystem::path> ipc_directories() { return {shm_dir}; }

std::string key_of_path(const std::filesystem::path& path, bool directory) {
  std::string key;
  if (directory) {
    make_key("file", path.string(), key);
  } else if (path.parent_path() == shm_dir) {
    std::string leaf = path.filename().string();
    bool semaphore = leaf.starts_with("sem.");
    make_key(semaphore ? "posix_sem" : "posix_shm", "/" + (semaphore ? leaf.substr(4) : leaf), key);
  } else {
    make_key("file", path.string(), key);
  }
  return key;
}

bool listable(const std::string& kind) { return kind != "posix_mq" || mqueue_mounted(); }

std::string cleanup_command(const object_entry& entry) {
  if (entry.kind == "posix_shm" || entry.kind == "posix_sem")
    return "rm -- " + detail::shell_quote(dev_shm_path(entry.kind, entry.name));
  if (entry.kind == "posix_mq") {
    if (!entry.path.empty()) return "rm -- " + detail::shell_quote(entry.path);
    // Without /dev/mqueue mounted there is no file to rm; mq_unlink from any language does it.
    return "python3 -c " + detail::shell_quote(fmt::format(
        "import ctypes,ctypes.util; ctypes.CDLL(ctypes.util.find_library('rt')).mq_unlink(b'{}')",
        entry.name));
  }
  return detail::cleanup_common(entry);
}

std::error_code remove_object(const object_entry& entry) noexcept {
  try {
    if (entry.kind == "posix_shm" || entry.kind == "posix_sem") {
      object_entry at_path = entry;
      at_path.path = dev_shm_path(entry.kind, entry.name);
      return detail::remove_file(at_path);
    }
    if (entry.kind == "posix_mq") {
      if (mqueue_mounted()) {  // by the name, never by a path someone recorded
        object_entry at_path = entry;
        at_path.path = std::string(mqueue_dir) + entry.name;
        return detail::remove_file(at_path);
      }
      auto now = probe_named(entry.kind, entry.name);
      if (!now) return std::make_error_code(std::errc::no_such_file_or_directory);
      if (entry.inode == 0 || now->inode != entry.inode || now->uid != entry.uid)
        return std::make_error_code(std::errc::operation_canceled);
      if (mq_unlink(entry.name.c_str()) != 0) return {errno, std::generic_category()};
      return {};
    }
    if (entry.kind.starts_with("sysv_")) return detail::remove_sysv(entry);
    return detail::remove_file(entry);
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

std::optional<peer> peer_of(int socket_fd) {
  ucred credentials{};
  socklen_t len = sizeof credentials;
  if (getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &credentials, &len) != 0 ||
      credentials.pid <= 0)
    return std::nullopt;
  return peer{static_cast<int>(credentials.pid), static_cast<unsigned>(credentials.uid)};
}

namespace detail {

bool identity_at(int dirfd, const char* name, file_identity& out) {
  struct statx st {};
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW,
            STATX_INO | STATX_BTIME | STATX_CTIME | STATX_UID | STATX_SIZE, &st) != 0)
    return false;
  constexpr std::int64_t second_ns = 1000000000;
  out.inode = st.stx_ino;
  out.birth_ns = (st.stx_mask & STATX_BTIME) != 0
                     ? st.stx_btime.tv_sec * second_ns + st.stx_btime.tv_nsec
                     : 0;
  out.change_ns = st.stx_ctime.tv_sec * second_ns + st.stx_ctime.tv_nsec;
  out.uid = st.stx_uid;
  out.size = st.stx_size;
  return true;
}

}  // namespace detail

std::optional<process_status> status_of(int pid) {
  auto fields = stat_fields(pid);
  if (fields.size() < 20) return std::nullopt;
  process_status status;
  // /proc/PID belongs to the process's effective uid.
  struct stat proc_dir {};
  if (stat(fmt::format("/proc/{}", pid).c_str(), &proc_dir) == 0) status.uid = proc_dir.st_uid;
  status.pid = pid;
  status.zombie = fields[0] == "Z" || fields[0] == "X";
  status.ppid = static_cast<int>(to_u64(fields[1]));
  status.pgid = static_cast<int>(to_u64(fields[2]));
  status.start_time = to_u64(fields[19]);
  return status;
}

std::vector<int> children_of(int pid) {
  std::string task_dir = fmt::format("/proc/{}/task", pid);
  DIR* tasks = opendir(task_dir.c_str());
  if (tasks == nullptr) return {};
  std::vector<int> children;
  bool have_children_file = false;
  while (const dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    std::string file = task_dir + "/" + entry->d_name + "/children";
    if (access(file.c_str(), R_OK) != 0) continue;
    have_children_file = true;
    for (int child : parse_pids(read_file(file))) children.push_back(child);
  }
  closedir(tasks);
  if (!have_children_file) return children_by_scan(pid);
  return children;
}

std::vector<int> processes_with(const std::string& entry) {
  std::vector<int> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (const dirent* item = readdir(proc)) {
    int pid = 0;
    std::string_view name = item->d_name;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc{} || end != name.data() + name.size() || pid == getpid()) continue;
    auto status = status_of(pid);
    if (status && !status->zombie && environment_has(pid, entry)) found.push_back(pid);
  }
  closedir(proc);
  return found;
}

bool environment_has(int pid, const std::string& entry) {
  std::string environ = read_file(fmt::format("/proc/{}/environ", pid));
  std::size_t start = 0;
  while (start < environ.size()) {
    std::size_t end = environ.find('\0', start);
    if (end == std::string::npos) end = environ.size();
    if (std::string_view(environ).substr(start, end - start) == entry) return true;
    start = end + 1;
  }
  return false;
}

std::string command_of(int pid) {
  std::string cmdline = read_file(fmt::format("/proc/{}/cmdline", pid));
  while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline;
}

}  // namespace afterlife::probes

// Linux probes: /dev/shm (POSIX shm and `sem.` semaphores; stamped by its ctime), /dev/mqueue
// when it is mounted, /proc/sysvipc, and /proc/PID for processes.
#include "probes/probes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <mqueue.h>
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

// Reads a whole (small, /proc) file; empty when it cannot be read.
std::string read_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return data;
}

// "/NAME" for a directory entry NAME, into a reused buffer.
void posix_name(std::string_view name, std::string& into) {
  into.assign(1, '/');
  into += name;
}

bool mqueue_mounted() {
  struct stat st {};
  return stat(mqueue_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

// /dev/shm holds both: `sem.NAME` is the semaphore "/NAME", anything else the shm "/NAME".
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
    if (file == "." || file == ".." || entry->d_type == DT_DIR) continue;
    bool semaphore = file.starts_with("sem.");
    posix_name(semaphore ? file.substr(4) : file, name);
    listed_object object;
    object.kind = semaphore ? "posix_sem" : "posix_shm";
    object.name = name;
    object.inode = entry->d_ino;
    out.add(object);
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
    listed_object object;
    object.kind = "posix_mq";
    object.name = name;
    object.path = path;
    object.inode = entry->d_ino;
    out.add(object);
  }
  closedir(dir);
}

std::uint64_t to_u64(const std::string& text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// /proc/sysvipc/{shm,sem,msg}: a header line, then one object per line. Columns (proc(5)):
// shm: key shmid perms size cpid ...; sem: key semid perms nsems ...; msg: key msqid perms
// cbytes qnum lspid ...
void scan_sysvipc(const char* file, const char* kind, listing& out) {
  std::istringstream lines(read_file(std::string("/proc/sysvipc/") + file));
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string key, id, perms, size, cpid;
    if (!(fields >> key >> id >> perms >> size)) continue;
    listed_object object;
    object.kind = kind;
    object.name = id;
    object.size = to_u64(size);
    if (std::string_view(kind) == "sysv_shm" && (fields >> cpid))
      object.creator_pid = static_cast<int>(to_u64(cpid));
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
  scan_sysvipc("shm", "sysv_shm", out);
  scan_sysvipc("sem", "sysv_sem", out);
  scan_sysvipc("msg", "sysv_msg", out);
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
    if (fstat(queue, &st) == 0) entry.inode = static_cast<std::uint64_t>(st.st_ino);
    mq_attr attr{};
    if (mq_getattr(queue, &attr) == 0)
      entry.size = static_cast<std::uint64_t>(attr.mq_curmsgs) *
                   static_cast<std::uint64_t>(attr.mq_msgsize);
    mq_close(queue);
    return entry;
  }
  if (kind == "posix_shm" || kind == "posix_sem") {
    object_entry entry{kind, name, dev_shm_path(kind, name), 0, 0, 0};
    struct stat st {};
    if (lstat(entry.path.c_str(), &st) != 0) return std::nullopt;
    entry.inode = static_cast<std::uint64_t>(st.st_ino);
    entry.size = static_cast<std::uint64_t>(st.st_size);
    return entry;
  }
  if (kind.starts_with("sysv_")) return detail::probe_sysv(kind, name);
  object_entry entry{kind, name, name, 0, 0, 0};
  struct stat st {};
  if (lstat(name.c_str(), &st) != 0) return std::nullopt;
  entry.inode = static_cast<std::uint64_t>(st.st_ino);
  entry.size = static_cast<std::uint64_t>(st.st_size);
  return entry;
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
      if (!entry.path.empty()) return detail::remove_file(entry);
      if (entry.inode != 0) {
        auto now = probe_named(entry.kind, entry.name);
        if (!now) return std::make_error_code(std::errc::no_such_file_or_directory);
        if (now->inode != entry.inode) return std::make_error_code(std::errc::operation_canceled);
      }
      if (mq_unlink(entry.name.c_str()) != 0) return {errno, std::generic_category()};
      return {};
    }
    if (entry.kind.starts_with("sysv_")) return detail::remove_sysv(entry);
    return detail::remove_file(entry);
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

std::optional<process_status> status_of(int pid) {
  auto fields = stat_fields(pid);
  if (fields.size() < 20) return std::nullopt;
  process_status status;
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

process_details inspect(int pid) {
  process_details details;
  std::string cmdline = read_file(fmt::format("/proc/{}/cmdline", pid));
  while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
  for (char& c : cmdline)
    if (c == '\0') c = ' ';
  details.command = cmdline;

  std::string fd_dir = fmt::format("/proc/{}/fd", pid);
  if (DIR* fds = opendir(fd_dir.c_str())) {
    while (const dirent* entry = readdir(fds)) {
      if (entry->d_name[0] == '.') continue;
      char target[4096];
      std::string link = fd_dir + "/" + entry->d_name;
      ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
      if (n < 0) continue;
      details.fds.push_back({static_cast<int>(to_u64(entry->d_name)),
                             std::string(target, static_cast<std::size_t>(n))});
    }
    closedir(fds);
    std::sort(details.fds.begin(), details.fds.end(),
              [](const fd_target& a, const fd_target& b) { return a.fd < b.fd; });
  } else {
    details.notes.push_back(fmt::format("fds: cannot read {}: {}", fd_dir,
                                        std::generic_category().message(errno)));
  }

  // maps lines: START-END PERMS OFFSET DEV INODE [PATH]; PERMS[3] is 's' (shared) or 'p'.
  std::istringstream maps(read_file(fmt::format("/proc/{}/maps", pid)));
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode;
    if (!(fields >> range >> perms >> offset >> dev >> inode)) continue;
    std::string path;
    std::getline(fields >> std::ws, path);
    if (path.empty()) continue;
    auto dash = range.find('-');
    std::uint64_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    std::uint64_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    bool shared = perms.size() > 3 && perms[3] == 's';
    auto same = std::find_if(details.maps.begin(), details.maps.end(),
                             [&](const mapping& m) { return m.path == path; });
    if (same != details.maps.end()) {
      same->size += end - begin;
      same->shared = same->shared || shared;
    } else {
      details.maps.push_back({path, end - begin, shared});
    }
  }
  return details;
}

}  // namespace afterlife::probes

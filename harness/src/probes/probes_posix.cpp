// Probes that POSIX gives on every platform: watched directories, SysV objects by id, POSIX
// shm and semaphores by name, and the removal of files and SysV objects.
#include "probes/probes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <semaphore.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <charconv>

namespace afterlife::probes::detail {

namespace {

// Deep enough for build trees, bounded so that a watched `/` cannot take forever.
constexpr int max_depth = 8;
constexpr std::size_t max_entries = 200000;  // of all watched directories of one listing

// The kinds as constants: a listing of 20,000 entries builds no string per entry for them.
std::string_view kind_of(unsigned char d_type, int dirfd, const char* name) {
  if (d_type == DT_UNKNOWN) {
    struct stat st {};
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
    if (S_ISDIR(st.st_mode)) return "directory";
    if (S_ISSOCK(st.st_mode)) return "socket";
    if (S_ISFIFO(st.st_mode)) return "fifo";
    return "file";
  }
  switch (d_type) {
    case DT_DIR: return "directory";
    case DT_SOCK: return "socket";
    case DT_FIFO: return "fifo";
    default: return "file";  // regular files, symlinks (as themselves), devices
  }
}

// `path` is the directory's path, extended in place by each entry's name (one buffer for the
// whole walk) and restored before return.
void scan_dir_fd(int dirfd, std::string& path, int depth, listing& out) {
  DIR* dir = fdopendir(dirfd);
  if (dir == nullptr) {
    close(dirfd);
    return;
  }
  const std::size_t base = path.size();
  while (const dirent* entry = readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (out.watched >= max_entries) {
      out.notes.push_back(fmt::format("watch: stopped after {} entries under {}", max_entries,
                                      path.substr(0, base)));
      break;
    }
    std::string_view kind = kind_of(entry->d_type, dirfd, entry->d_name);
    if (kind.empty()) continue;
    path.resize(base);
    path += '/';
    path += name;
    // A directory is listed as itself (kind `directory`: one the run made is a leftover too),
    // then its entries.
    listed_object object;
    object.kind = kind;
    object.name = path;
    object.path = path;
    object.inode = static_cast<std::uint64_t>(entry->d_ino);
    ++out.watched;
    out.add(object);
    if (kind == "directory" && depth < max_depth) {
      int sub = openat(dirfd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) scan_dir_fd(sub, path, depth + 1, out);
    }
  }
  path.resize(base);
  closedir(dir);
}

std::optional<int> parse_id(const std::string& text) {
  int id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return id;
}

}  // namespace

int open_nofollow(const std::filesystem::path& path, bool whole) {
  if (!path.is_absolute()) {
    errno = EINVAL;
    return -1;
  }
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  const std::filesystem::path walk = whole ? path.relative_path() : path.parent_path().relative_path();
  for (const auto& part : walk) {
    if (part == ".." || part == ".") {  // a lexical detour could leave the allowed roots
      close(fd);
      errno = EINVAL;
      return -1;
    }
    int next = openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    close(fd);
    if (next < 0) {
      errno = saved;
      return -1;
    }
    fd = next;
  }
  return fd;
}

bool same_identity(const object_entry& recorded, const file_identity& now) {
  if (recorded.inode != 0 && now.inode != recorded.inode) return false;
  if (recorded.uid >= 0 && now.uid != recorded.uid) return false;
  if (recorded.birth_ns != 0 && now.birth_ns != 0) return recorded.birth_ns == now.birth_ns;
  if (recorded.change_ns != 0) return recorded.change_ns == now.change_ns;
  return recorded.inode != 0;  // nothing but the name to go by: never enough
}

void scan_watch_dir(const std::filesystem::path& dir, listing& out) {
  // Component by component without following symlinks: a run that swapped a watched directory
  // (its own TMPDIR) for a link must not make another directory's entries look like its own.
  int fd = open_nofollow(dir, true);
  if (fd < 0) {
    out.notes.push_back(fmt::format("watch: cannot open {}: {}", dir.string(),
                                    std::generic_category().message(errno)));
    return;
  }
  std::string path = dir.string();
  scan_dir_fd(fd, path, 0, out);
}

void complete_file(object_entry& entry) {
  std::filesystem::path path = entry.path;
  int dirfd = open_nofollow(path, false);
  if (dirfd < 0) return;
  file_identity id;
  if (identity_at(dirfd, path.filename().c_str(), id)) {
    entry.size = id.size;
    entry.inode = id.inode;
    entry.birth_ns = id.birth_ns;
    entry.change_ns = id.change_ns;
    entry.uid = id.uid;
  }
  close(dirfd);
}

std::optional<object_entry> probe_sysv(const std::string& kind, const std::string& name) {
  auto id = parse_id(name);
  if (!id) return std::nullopt;
  object_entry entry{kind, name, "", 0, 0, 0};
  constexpr std::int64_t second_ns = 1000000000;
  if (kind == "sysv_shm") {
    shmid_ds ds{};
    if (shmctl(*id, IPC_STAT, &ds) != 0) return std::nullopt;
    entry.size = ds.shm_segsz;
    entry.creator_pid = static_cast<int>(ds.shm_cpid);
    entry.change_ns = static_cast<std::int64_t>(ds.shm_ctime) * second_ns;
    entry.uid = ds.shm_perm.cuid;
  } else if (kind == "sysv_sem") {
    semid_ds ds{};
    if (semctl(*id, 0, IPC_STAT, &ds) != 0) return std::nullopt;
    entry.size = ds.sem_nsems;
    entry.change_ns = static_cast<std::int64_t>(ds.sem_ctime) * second_ns;
    entry.uid = ds.sem_perm.cuid;
  } else if (kind == "sysv_msg") {
    msqid_ds ds{};
    if (msgctl(*id, IPC_STAT, &ds) != 0) return std::nullopt;
    entry.size = ds.msg_qnum;
    entry.change_ns = static_cast<std::int64_t>(ds.msg_ctime) * second_ns;
    entry.uid = ds.msg_perm.cuid;
  } else {
    return std::nullopt;
  }
  return entry;
}

std::optional<object_entry> probe_posix_name(const std::string& kind, const std::string& name) {
  if (kind == "posix_shm") {
    int fd = shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    object_entry entry{kind, name, "", 0, 0, 0};
    if (fstat(fd, &st) == 0) {
      entry.size = static_cast<std::uint64_t>(st.st_size);
      entry.inode = static_cast<std::uint64_t>(st.st_ino);
    }
    close(fd);
    return entry;
  }
  if (kind == "posix_sem") {
    sem_t* sem = sem_open(name.c_str(), 0);
    if (sem == SEM_FAILED) return std::nullopt;
    sem_close(sem);
    return object_entry{kind, name, "", 0, 0, 0};
  }
  return std::nullopt;
}

std::error_code remove_file(const object_entry& entry) noexcept {
  std::filesystem::path path = entry.path;
  int dirfd = open_nofollow(path, false);
  if (dirfd < 0) return {errno, std::generic_category()};
  std::error_code result;
  file_identity now;
  std::string leaf = path.filename().string();
  if (!identity_at(dirfd, leaf.c_str(), now)) {
    result = {errno, std::generic_category()};
  } else if (!same_identity(entry, now)) {
    result = std::make_error_code(std::errc::operation_canceled);  // someone else's now
  } else if (unlinkat(dirfd, leaf.c_str(), entry.kind == "directory" ? AT_REMOVEDIR : 0) != 0) {
    // A directory goes only when empty: what is still in it (kept, someone else's) keeps it.
    result = {errno, std::generic_category()};
  }
  close(dirfd);
  return result;
}

std::error_code remove_sysv(const object_entry& entry) noexcept {
  auto id = parse_id(entry.name);
  if (!id) return std::make_error_code(std::errc::invalid_argument);
  // The id may have been reused since it was recorded: the same creator pid (shm) and ctime,
  // asked again now, or nothing is removed.
  std::optional<object_entry> now;
  try {
    now = probe_sysv(entry.kind, entry.name);
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  if (!now) return std::make_error_code(std::errc::no_such_file_or_directory);
  if (now->creator_pid != entry.creator_pid || now->change_ns != entry.change_ns ||
      entry.change_ns == 0 || now->uid != entry.uid)
    return std::make_error_code(std::errc::operation_canceled);
  int rc = -1;
  if (entry.kind == "sysv_shm") {
    rc = shmctl(*id, IPC_RMID, nullptr);
  } else if (entry.kind == "sysv_sem") {
    rc = semctl(*id, 0, IPC_RMID);
  } else if (entry.kind == "sysv_msg") {
    rc = msgctl(*id, IPC_RMID, nullptr);
  } else {
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (rc != 0) return {errno, std::generic_category()};
  return {};
}

std::string shell_quote(const std::string& word) {
  bool plain = !word.empty() && word.find_first_not_of(
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=+,@%") ==
      std::string::npos;
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') quoted += "'\\''";
    else quoted += c;
  }
  return quoted + "'";
}

std::string cleanup_common(const object_entry& entry) {
  if (entry.kind == "sysv_shm") return "ipcrm -m " + entry.name;
  if (entry.kind == "sysv_sem") return "ipcrm -s " + entry.name;
  if (entry.kind == "sysv_msg") return "ipcrm -q " + entry.name;
  if (entry.kind == "directory") return "rm -r -- " + shell_quote(entry.path);
  return "rm -- " + shell_quote(entry.path);
}

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

}  // namespace afterlife::probes::detail

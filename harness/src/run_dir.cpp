#include "run_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace afterlife::detail {

namespace {

// Distinguishes runs of one process (afterlife matrix runs many at once). A constinit atomic:
// trivially constructed, nothing to destroy.
constinit std::atomic<unsigned> run_counter{0};

bool is_directory(const char* path) {
  struct stat st {};
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// Searchable by every user: a child that dropped to another uid can reach what is below.
bool searchable_by_others(const char* path) {
  struct stat st {};
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_IXOTH) != 0;
}

bool usable_base(const char* path) {
  return privileged_harness() ? searchable_by_others(path) : is_directory(path);
}

// A memory file system when there is one: a run creates and removes its directory, socket and
// journal every time, and on a disk file system (ext4 /tmp) that alone costs half a millisecond.
std::filesystem::path runtime_base(const std::filesystem::path& configured) {
  if (!configured.empty()) return configured;
  for (const char* name : {"AFTERLIFE_RUNTIME_DIR", "XDG_RUNTIME_DIR"}) {
    const char* value = std::getenv(name);
    // An explicit AFTERLIFE_RUNTIME_DIR is taken as it is; XDG's only when it fits.
    if (value != nullptr && value[0] == '/' &&
        (std::string_view(name) == "AFTERLIFE_RUNTIME_DIR" || usable_base(value)))
      return value;
  }
  std::string user_run = fmt::format("/run/user/{}", getuid());
  if (usable_base(user_run.c_str())) return user_run;
  // Linux's POSIX shm tmpfs; a directory there is no shm object (the probes skip directories).
  if (is_directory("/dev/shm")) return "/dev/shm";
  return "/tmp";
}

// Directory modes: private, or, for a privileged harness, searchable (not listable) by the
// uids its children may drop to.
mode_t directory_mode() { return privileged_harness() ? 0711 : 0700; }

}  // namespace

bool privileged_harness() { return geteuid() == 0; }

std::filesystem::path runtime_root(const std::filesystem::path& configured) {
  auto top = runtime_base(configured) / fmt::format("afterlife-{}", getuid());
  if (mkdir(top.c_str(), directory_mode()) != 0 && errno != EEXIST)
    throw std::system_error(errno, std::generic_category(), "mkdir " + top.string());
  // A shared /tmp: someone else could have made this name first (or a symlink to elsewhere).
  int fd = open(top.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(top.string() + " is not a private directory of this user");
  struct stat st {};
  bool mine = fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 022) == 0;
  if (mine && (st.st_mode & 0777) != directory_mode()) mine = fchmod(fd, directory_mode()) == 0;
  close(fd);
  if (!mine) throw std::runtime_error(top.string() + " is not a private directory of this user");
  return top;
}

run_dir::run_dir(const std::filesystem::path& configured_runtime_dir)
    : top_(runtime_root(configured_runtime_dir)) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  id_ = fmt::format("{}-{}-{:x}", getpid(), run_counter.fetch_add(1),
                    std::chrono::duration_cast<std::chrono::microseconds>(now).count() & 0xffffff);
  root_ = top_ / id_;
  if (mkdir(root_.c_str(), 0700) != 0)
    throw std::system_error(errno, std::generic_category(), "mkdir " + root_.string());
  fd_ = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd_ < 0) {
    int saved = errno;
    (void)rmdir(root_.c_str());
    throw std::system_error(saved, std::generic_category(), "open " + root_.string());
  }
  // The program's TMPDIR: sticky and world-writable when its processes may drop to another uid
  // (as /tmp is), so that their mktemp works; private otherwise.
  bool shared = privileged_harness();
  if (mkdirat(fd_, "tmp", 0700) != 0 ||
      (shared && (fchmodat(fd_, "tmp", 01777, 0) != 0 || fchmod(fd_, directory_mode()) != 0)))
    throw std::system_error(errno, std::generic_category(), "mkdir " + tmp().string());
}

run_dir::~run_dir() {
  // A run that never got going (a throw while it was being set up) leaves nothing behind.
  if (!settled_ && fd_ >= 0) remove();
  if (fd_ >= 0) close(fd_);
}

void remove_contents(int dirfd) noexcept {
  int walk = dup(dirfd);
  if (walk < 0) return;
  DIR* dir = fdopendir(walk);
  if (dir == nullptr) {
    close(walk);
    return;
  }
  while (const dirent* entry = readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (unlinkat(dirfd, entry->d_name, 0) == 0) continue;
    int sub = openat(dirfd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) continue;
    remove_contents(sub);
    close(sub);
    (void)unlinkat(dirfd, entry->d_name, AT_REMOVEDIR);
  }
  closedir(dir);
}

void run_dir::remove() noexcept {
  settled_ = true;
  // What the harness put there, by name and through the directory's descriptor: four calls
  // instead of a walk, which is what most runs need (the program left nothing in its TMPDIR,
  // or it was reaped).
  (void)unlinkat(fd_, "control.sock", 0);
  (void)unlinkat(fd_, "journal", 0);
  if (unlinkat(fd_, "tmp", AT_REMOVEDIR) != 0) remove_contents(fd_);
  // The directory itself by its name in the top directory: if the run put something else in
  // its place, rmdir refuses a symlink or a non-empty directory.
  int top = open(top_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (top < 0) return;
  struct stat mine {};
  struct stat there {};
  if (fstat(fd_, &mine) == 0 && fstatat(top, id_.c_str(), &there, AT_SYMLINK_NOFOLLOW) == 0 &&
      mine.st_ino == there.st_ino && mine.st_dev == there.st_dev)
    (void)unlinkat(top, id_.c_str(), AT_REMOVEDIR);
  close(top);
}

}  // namespace afterlife::detail

#include "run_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
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

// A memory file system when there is one: a run creates and removes its directory, socket and
// ledger every time, and on a disk file system (ext4 /tmp) that alone costs half a millisecond.
std::filesystem::path runtime_base(const std::filesystem::path& configured) {
  if (!configured.empty()) return configured;
  for (const char* name : {"AFTERLIFE_RUNTIME_DIR", "XDG_RUNTIME_DIR"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] == '/') return value;
  }
  std::string user_run = fmt::format("/run/user/{}", getuid());
  if (is_directory(user_run.c_str())) return user_run;
  // Linux's POSIX shm tmpfs; a directory there is no shm object (the probes skip directories).
  if (is_directory("/dev/shm")) return "/dev/shm";
  return "/tmp";
}

void make_private_dir(const std::filesystem::path& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::system_error(errno, std::generic_category(), "mkdir " + dir.string());
}

}  // namespace

std::filesystem::path runtime_root(const std::filesystem::path& configured) {
  auto top = runtime_base(configured) / fmt::format("afterlife-{}", getuid());
  make_private_dir(top);
  // A shared /tmp: someone else could have made this name first (or a symlink to elsewhere).
  struct stat st {};
  if (lstat(top.c_str(), &st) != 0)
    throw std::system_error(errno, std::generic_category(), "lstat " + top.string());
  if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0)
    throw std::runtime_error(top.string() + " is not a private directory of this user");
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
  make_private_dir(tmp());
  // The ledger doubles as the lock (flock is advisory: the interposer's appends ignore it). It
  // must exist before the child does: the interposer opens it without O_CREAT.
  lock_fd_ = open(ledger().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX) != 0)
    throw std::system_error(errno, std::generic_category(), "lock " + ledger().string());
}

run_dir::~run_dir() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

void run_dir::keep_finished() noexcept {
  int fd = open((root_ / "finished").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
}

void run_dir::remove() noexcept {
  // What the harness put there, by name: four calls instead of a walk of about twenty, which
  // is what most runs need (the program left nothing in its TMPDIR, or it was reaped).
  unlink(socket().c_str());
  unlink(ledger().c_str());
  if (rmdir(tmp().c_str()) == 0 && rmdir(root_.c_str()) == 0) return;
  // Something else is there (what the program left in tmp/ and reaping could not remove): the
  // walk. remove_all does not follow symlinks: a link in tmp/ to elsewhere is removed, not its
  // target.
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
}

}  // namespace afterlife::detail

// The run's private directory: <runtime dir>/afterlife-<uid>/<run-id>/ holding control.sock,
// ledger and tmp/ (the child's TMPDIR). The harness holds an exclusive flock on `ledger` while
// the run is in progress, so `afterlife clean` can tell a live run from an abandoned one.
#pragma once

#include <filesystem>
#include <string>

namespace afterlife::detail {

// <runtime dir>/afterlife-<uid>, created 0700 if missing; refuses one that is a symlink or
// belongs to someone else. Throws std::system_error / std::runtime_error.
// The runtime dir: `configured`, else $AFTERLIFE_RUNTIME_DIR, $XDG_RUNTIME_DIR, /run/user/<uid>,
// /dev/shm, /tmp (the first that exists; memory file systems first).
std::filesystem::path runtime_root(const std::filesystem::path& configured);

class run_dir {
 public:
  // Creates a fresh run directory and takes its lock.
  explicit run_dir(const std::filesystem::path& configured_runtime_dir);
  ~run_dir();
  run_dir(const run_dir&) = delete;
  run_dir& operator=(const run_dir&) = delete;

  const std::string& id() const { return id_; }
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path socket() const { return root_ / "control.sock"; }
  std::filesystem::path ledger() const { return root_ / "ledger"; }
  std::filesystem::path tmp() const { return root_ / "tmp"; }
  std::filesystem::path top() const { return top_; }

  // The run is over and its leftovers were handled: keep the directory for inspection
  // (`finished` marker, clean leaves it alone) or remove it. noexcept: exit path.
  void keep_finished() noexcept;
  void remove() noexcept;

 private:
  std::filesystem::path top_;
  std::filesystem::path root_;
  std::string id_;
  int lock_fd_ = -1;
};

}  // namespace afterlife::detail

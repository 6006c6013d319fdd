// The run's private directory: <runtime dir>/afterlife-<uid>/<run-id>/ holding control.sock,
// journal (the harness's own, see journal.hpp; it is also the run's lock) and tmp/ (the
// child's TMPDIR). The harness keeps a descriptor of the directory and does everything in it
// through that descriptor, so a run that renames the directory or puts a symlink in its place
// cannot make the harness unlink or rmdir anything elsewhere.
#pragma once

#include <filesystem>
#include <string>

namespace afterlife::detail {

// <runtime dir>/afterlife-<uid>, created if missing; refuses one that is a symlink, belongs to
// someone else or that others may write. Throws std::system_error / std::runtime_error.
// The runtime dir: `configured`, else $AFTERLIFE_RUNTIME_DIR, $XDG_RUNTIME_DIR, /run/user/<uid>,
// /dev/shm, /tmp (the first that exists; memory file systems first; for a root harness, the
// first that other users may search, so that children that drop privileges reach the run).
std::filesystem::path runtime_root(const std::filesystem::path& configured);

// Whether the harness has more privilege than its children may keep: it then opens the run
// directory to the uids they may drop to (search only; TMPDIR sticky and world-writable, the
// socket world-connectable) and checks every sender and every owner (removal rule 4).
bool privileged_harness();

class run_dir {
 public:
  // Creates a fresh run directory.
  explicit run_dir(const std::filesystem::path& configured_runtime_dir);
  ~run_dir();
  run_dir(const run_dir&) = delete;
  run_dir& operator=(const run_dir&) = delete;

  const std::string& id() const { return id_; }
  const std::filesystem::path& root() const { return root_; }
  // The directory's descriptor (O_DIRECTORY | O_NOFOLLOW, taken at creation).
  int fd() const { return fd_; }
  std::filesystem::path socket() const { return root_ / "control.sock"; }
  std::filesystem::path tmp() const { return root_ / "tmp"; }
  std::filesystem::path top() const { return top_; }

  // The run is over and its leftovers were handled: keep the directory for inspection (the
  // journal says the run finished; clean leaves it alone) or remove it. noexcept: exit path.
  void keep() noexcept { settled_ = true; }
  void remove() noexcept;

 private:
  std::filesystem::path top_;
  std::filesystem::path root_;
  std::string id_;
  int fd_ = -1;
  bool settled_ = false;  // keep() or remove() was called; else the destructor removes
};

// Removes everything below the directory `dirfd` (depth first, never following a symlink: a
// link is removed, not its target). noexcept: exit path.
void remove_contents(int dirfd) noexcept;

}  // namespace afterlife::detail

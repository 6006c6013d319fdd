// The probes: what exists on the machine (named objects, files, processes) and how to remove
// it. One interface, one file per OS: probes_linux.cpp (/dev/shm, /dev/mqueue, /proc),
// probes_macos.cpp (libproc, probing claimed names), probes_posix.cpp (what POSIX gives everywhere:
// watched directories, SysV by id, POSIX names by probing). A probe a platform cannot do still
// exists and says "unsupported: why" in the notes it returns.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace afterlife::probes {

// A named object or file. Its key (make_key: kind + ":" + name, the id for SysV) identifies it
// across listings.
struct object_entry {
  std::string kind;  // posix_shm posix_sem posix_mq sysv_shm sysv_sem sysv_msg file socket fifo
  std::string name;  // "/NAME" for POSIX names, the id for SysV, the path for files
  std::string path;  // where it lives in the file system ("" for SysV and unlisted mqueues)
  std::uint64_t inode = 0;  // 0 when unknown; removal refuses an entry whose inode changed
  std::uint64_t size = 0;
  int creator_pid = 0;  // SysV shm: the kernel's cpid; 0 when the OS does not say
  // Identity beside the inode, checked again at removal: files and POSIX names: birth time
  // (statx; 0 where the file system has none) and change time; SysV: the object's ctime.
  std::int64_t birth_ns = 0;
  std::int64_t change_ns = 0;
  // The owner (files, POSIX names) or creator (SysV cuid); -1 when unknown.
  long long uid = -1;
};

// One object as a listing sees it; the views are valid only during the call that receives it.
struct listed_object {
  std::string_view kind;
  std::string_view name;
  std::string_view path;  // "" where the listing has none (SysV; /dev/shm until complete())
  std::uint64_t inode = 0;
  std::uint64_t size = 0;  // where the listing carries it (SysV)
  int creator_pid = 0;
  std::int64_t change_ns = 0;  // SysV: ctime
  long long uid = -1;          // SysV: cuid
};

// Where a listing sends what it finds: every object (one call each, no copy made unless the
// receiver keeps it) and notes ("unsupported: why", probe errors).
class listing {
 public:
  explicit listing(std::function<void(const listed_object&)> receive)
      : receive_(std::move(receive)) {}
  void add(const listed_object& object) { receive_(object); }
  std::vector<std::string> notes;
  // Entries of watched directories so far: their scan is bounded, and the bound must fall at
  // the same entry in every listing, whatever else was left out of one.
  std::size_t watched = 0;

 private:
  std::function<void(const listed_object&)> receive_;
};

// What the OS part noted about the directories it lists, just before a listing, so that a later
// listing can leave out a directory that provably has not changed since (Linux: /dev/shm, by
// its ctime). Defined by the OS part.
class directory_stamps;
struct directory_stamps_deleter {
  void operator()(directory_stamps* stamps) const noexcept;
};
using directory_stamps_ptr = std::unique_ptr<directory_stamps, directory_stamps_deleter>;

// Takes the stamps; nullptr where no directory can be shown unchanged (every listing is full).
directory_stamps_ptr stamp_directories();

// Everything listable now: POSIX shm/sem (and mqueues where mounted), SysV objects, and files,
// sockets and FIFOs under the watched directories (recursively, never following symlinks).
// Sizes (and, for /dev/shm entries, paths) are filled in only by complete(), so that listing a
// busy /dev/shm stays cheap. With `unchanged_since`, a directory its stamps show unchanged is
// left out: it holds exactly what a listing made after the stamps were taken found there.
void list_objects(const std::vector<std::filesystem::path>& watch_dirs, listing& out,
                  const directory_stamps* unchanged_since = nullptr);

// What existed before the run: the key and inode of every listed object, and nothing else. A
// busy /dev/shm has thousands of entries and every run lists it twice, so the keys' bytes go
// into one arena and the table is open-addressing: a few allocations, not three per entry. It
// also keeps the directory stamps taken just before it was listed: a directory unchanged since
// need not be read again after the run.
class snapshot {
 public:
  snapshot();
  void add(const listed_object& object);
  // Whether an object with this key and this inode was listed.
  bool has(std::string_view key, std::uint64_t inode) const;
  // Whether an object with this key was listed, whatever its inode: a name that existed before
  // the run is never removed.
  bool has_name(std::string_view key) const { return inodes_.contains(key); }
  void keep_stamps(directory_stamps_ptr stamps) { stamps_ = std::move(stamps); }
  const directory_stamps* stamps() const { return stamps_.get(); }
  std::vector<std::string> notes;

 private:
  std::unique_ptr<std::pmr::monotonic_buffer_resource> keys_;  // stable under moves
  boost::unordered_flat_map<std::string_view, std::uint64_t, std::hash<std::string_view>> inodes_;
  directory_stamps_ptr stamps_;
};

// kind + ":" + name: what identifies an object across listings.
void make_key(std::string_view kind, std::string_view name, std::string& into);

snapshot take_snapshot(const std::vector<std::filesystem::path>& watch_dirs);

// What is listed now and was not in `before` (a new key, or the same key with another inode):
// the candidate leftovers, each once, not yet complete()d.
struct changes {
  std::vector<object_entry> objects;
  std::vector<std::string> notes;
};
// `renewed(kind, name)`: names the caller knows were made again during the run (a kernel
// event, an exclusive creation the interposer recorded): listed with the same inode as before,
// they are still candidates — an inode number is reused (PostgreSQL's postmaster.pid), the
// name's object is new.
changes new_since(const snapshot& before, const std::vector<std::filesystem::path>& watch_dirs,
                  const std::function<bool(std::string_view kind, std::string_view name)>& renewed = {});

// Fills in size (and inode where the listing did not give it) of an entry new_since found.
void complete(object_entry& entry);

// Objects that cannot be listed on this OS (POSIX mqueues without /dev/mqueue; every POSIX name
// on macOS): asks the OS whether `name` of `kind` exists now. nullopt when it does not.
std::optional<object_entry> probe_named(const std::string& kind, const std::string& name);

// The directories whose entries are IPC names (Linux: /dev/shm), for the name watch.
std::vector<std::filesystem::path> ipc_directories();
// The key (make_key) of the object an entry of such a directory, or of a watched directory,
// is: /dev/shm/sem.X is "posix_sem:/X", /dev/shm/X "posix_shm:/X", a directory or anything
// else "file:PATH" (claims and events compare the file family's kinds under one kind: what
// `mkfifo` made may be listed as a fifo, a socket, or a file).
std::string key_of_path(const std::filesystem::path& path, bool directory);

// Kinds probe_named() must be asked about, because take_snapshot() cannot list them here.
bool listable(const std::string& kind);

// A copy-pasteable shell command that removes the entry.
std::string cleanup_command(const object_entry& entry);

// Removes the entry; never follows symlinks and refuses when the object at that name is not
// the one recorded (inode or SysV identity changed). noexcept: it runs on the exit path.
std::error_code remove_object(const object_entry& entry) noexcept;

// Processes.
struct process_status {
  int pid = 0;
  int ppid = 0;
  int pgid = 0;
  std::uint64_t start_time = 0;  // comparable between processes of one machine
  bool zombie = false;
  long long uid = -1;  // effective uid; -1 when the OS does not say
};

// The other end of a connected Unix socket, as the kernel says (Linux SO_PEERCRED; macOS
// LOCAL_PEERPID and getpeereid). nullopt when it cannot say.
struct peer {
  int pid = 0;
  unsigned uid = 0;
};
std::optional<peer> peer_of(int socket_fd);

std::optional<process_status> status_of(int pid);
// Direct children of pid (all of its threads). Empty when pid is gone.
std::vector<int> children_of(int pid);
// Processes of a run that are no longer below the harness in the process tree, found by
// process group `pgid` or by `marker` in their environment: orphans adopted by launchd. macOS
// only (containment_macos.cpp); on Linux a cgroup or a keeper holds the run.
std::vector<int> lost_descendants(int pgid, const std::string& marker);
// Every live process on the machine whose environment holds exactly `entry` (a full scan:
// for `afterlife clean`, which has no process tree to walk).
std::vector<int> processes_with(const std::string& entry);
// True when pid's environment holds exactly `entry` (e.g. "AFTERLIFE_RUN=<id>").
bool environment_has(int pid, const std::string& entry);

// argv joined by spaces; "" for a zombie, a kernel thread, or a process that is gone. The rest
// of what a process holds is the harness's evidence (harness/src/evidence/).
std::string command_of(int pid);

}  // namespace afterlife::probes

// Shared by the OS files; defined in probes_posix.cpp.
namespace afterlife::probes::detail {

// Lists the files, sockets and FIFOs under dir (recursively, not following symlinks).
void scan_watch_dir(const std::filesystem::path& dir, listing& out);
void complete_file(object_entry& entry);
// What identifies the entry `name` of directory `dirfd` (never following a symlink): inode,
// birth and change time, owner, size. Defined by the OS part (Linux: statx). False when gone.
struct file_identity {
  std::uint64_t inode = 0;
  std::int64_t birth_ns = 0;
  std::int64_t change_ns = 0;
  long long uid = -1;
  std::uint64_t size = 0;
};
bool identity_at(int dirfd, const char* name, file_identity& out);
// Whether `now` is still the object `recorded` describes: same inode, and the same birth time
// (or change time where the file system has no birth time).
bool same_identity(const object_entry& recorded, const file_identity& now);
// Opens every component of an absolute path with O_NOFOLLOW (the last one too when
// `whole`, else its parent). -1 with errno set.
int open_nofollow(const std::filesystem::path& path, bool whole);
// SysV object `kind` with id `name`, asked with IPC_STAT; nullopt when it is gone.
std::optional<object_entry> probe_sysv(const std::string& kind, const std::string& name);
// POSIX shm / semaphore by name (shm_open / sem_open without O_CREAT).
std::optional<object_entry> probe_posix_name(const std::string& kind, const std::string& name);
std::error_code remove_file(const object_entry& entry) noexcept;
std::error_code remove_sysv(const object_entry& entry) noexcept;
std::string shell_quote(const std::string& word);
// A whole (small: /proc) file; empty when it cannot be read.
std::string read_file(const std::string& path);
// cleanup_command for files and SysV (the same on every POSIX system).
std::string cleanup_common(const object_entry& entry);

}  // namespace afterlife::probes::detail

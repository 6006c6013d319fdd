// Process evidence: what a process of the run holds (its descriptors and its file-backed
// mappings, each with the device and inode it refers to) and what it is (ppid, uid, state, exe),
// read by the harness itself, without the interposer's help. The harness reads it just before it
// ends a process (the mode's signal, the SIGKILL of a timeout or of a survivor), and joins it
// with the interposer's claims: a new object that a process of the run had open or mapped is the
// run's (harness/README.md "Process evidence").
//
// One interface, one file per OS: evidence_linux.cpp (/proc/PID/{stat,fd,maps}, sockets decoded
// from /proc/PID/net/{tcp,tcp6,udp,udp6,unix}), evidence_macos.cpp (libproc: proc_pidinfo,
// proc_pidfdinfo, PROC_PIDREGIONPATHINFO), evidence_posix.cpp (matching an object to what was
// held, the same everywhere).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace afterlife::probes {
struct object_entry;
}

namespace afterlife::evidence {

// What an open file or a mapping refers to; {0, 0} when unknown.
struct file_id {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  bool operator==(const file_id&) const = default;
};

struct held_fd {
  int fd = 0;
  // A path, "pipe:[N]", "anon_inode:[eventfd]", or a socket decoded: "tcp 127.0.0.1:5577 LISTEN",
  // "tcp 127.0.0.1:5577 -> 127.0.0.1:40112 ESTABLISHED", "udp [::1]:53", "unix /path
  // (listening)", "unix @abstract", "unix" (unnamed); "socket:[N]" when it cannot be decoded.
  std::string target;
  file_id id;
  bool file_backed = false;  // a file in the file system (a path, not a pipe or a socket)
  bool socket = false;
  // A TCP socket in LISTEN or a bound, unconnected UDP socket: a port the next start of the
  // program may find taken.
  bool listening_port = false;
};

// One file-backed mapping (anonymous ones are left out), one entry per path with sizes summed.
struct held_map {
  std::string path;  // as the OS names it; Linux SysV segments: "/SYSV0000abcd (deleted)"
  std::uint64_t size = 0;
  bool shared = false;
  file_id id;  // Linux SysV segments: the inode is the segment's id
};

struct process_evidence {
  int pid = 0;
  int ppid = 0;
  long long uid = -1;  // effective uid; -1 when unknown
  std::string state;   // "sleeping", "zombie", ... ("" when the process is gone)
  std::string comm;    // the kernel's short name (kept for a zombie, which has no cmdline)
  std::string exe;     // the executable's path ("" when it cannot be read)
  std::string command;  // argv joined by spaces ("" for a zombie or a kernel thread)
  std::vector<held_fd> fds;
  std::vector<held_map> maps;
  std::vector<std::string> notes;  // what could not be read, and why
};

// Reads processes at one moment. Socket tables are read once per network namespace per reader:
// use one reader for the processes read together (every process of the run before a signal).
class reader {
 public:
  reader();
  ~reader();
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;
  process_evidence read(int pid);

  struct socket_tables;  // defined by the OS part

 private:
  std::unique_ptr<socket_tables> sockets_;
};

// Everything some processes held, by what it refers to: whether an object was held is then one
// lookup (a run may leave thousands of files and have read dozens of processes).
// evidence_posix.cpp.
class holdings {
 public:
  // `tag` comes back with a match (the caller's index of the reading).
  void add(const process_evidence& process, std::size_t tag);
  struct holder {
    std::size_t tag = 0;
    int pid = 0;
    std::string how;  // "fd 5", "a shared mapping"
  };
  // The first process added that held `object`: a descriptor or mapping of the same device and
  // inode (a POSIX name without a path, as on macOS: the descriptor's name and inode; SysV shm:
  // a mapping of that segment id). A name alone never matches.
  std::optional<holder> find(const probes::object_entry& object) const;

 private:
  struct id_hash {
    std::size_t operator()(const file_id& id) const noexcept {
      return std::hash<std::uint64_t>()(id.inode * 1000003u ^ id.device);
    }
  };
  std::unordered_map<file_id, holder, id_hash> by_id_;
  std::unordered_map<std::uint64_t, holder> by_sysv_shm_id_;
  std::unordered_map<std::string, std::vector<std::pair<std::uint64_t, holder>>> by_name_;
};

// What a path in the file system is now, without following a final symlink; {0, 0} when gone.
file_id file_id_of(const std::string& path);

}  // namespace afterlife::evidence

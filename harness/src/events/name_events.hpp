// Kernel events for names: which names were created or moved into /dev/shm and the watched
// directories during a run, and by which process. One interface, one file per OS:
//   name_events_linux.cpp  fanotify (FAN_REPORT_DFID_NAME, Linux >= 5.9; inode marks on each
//                          directory): the name always; the creator's pid when the harness has
//                          CAP_SYS_ADMIN (an unprivileged group gets pid 0). The pid is checked
//                          against the run at the moment the event is read, on a thread of its
//                          own: a `touch` may be gone a millisecond later.
//   name_events_macos.cpp  none (no fanotify; FSEvents names no process): the listing diff and
//                          the interposer are all there is.
// What it cannot see: entries of subdirectories (the marks are per directory; the listing diff
// still finds them), creations before start(), and a creator that exited before its event was
// read (by_run false: its pid is reported, its creation is not counted as the run's).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace afterlife::detail {

struct name_event {
  std::filesystem::path path;  // the directory's path as given to start() + the entry's name
  int pid = 0;                 // the process that created or moved it (0: not said)
  bool by_run = false;         // pid was a process of the run when the event was read
  bool directory = false;      // the entry is a directory (FAN_ONDIR)
};

class name_watch {
 public:
  // Watches `dirs` from now on; `is_run(pid)` is called on the watch's own thread (it must be
  // thread-safe) for every event with a pid. Never throws: a watch that cannot start is
  // inactive and says why. `off_because` non-empty: inactive, with that as its limitation.
  static std::unique_ptr<name_watch> start(const std::vector<std::filesystem::path>& dirs,
                                           std::function<bool(int pid)> is_run,
                                           const std::string& off_because);
  virtual ~name_watch() = default;

  // "fanotify" while it watches; "" when it could not start.
  virtual std::string source() const = 0;
  // Whether the events name their creator (else only that a name was made).
  virtual bool names_creators() const = 0;
  // Why it is inactive or what it cannot see here ("" if nothing to say).
  virtual std::string limitation() const = 0;
  // Stops watching and returns every event, oldest first. Called once, when every process of
  // the run is gone: events still queued are read now, their pids checked by `is_run` still
  // (the caller checks what is left against the pids it saw in the run).
  virtual std::vector<name_event> finish() = 0;
};

// Whether the executable is dynamically linked (an interposer can enter it): ELF with a
// PT_INTERP program header on Linux; true where the OS has no static executables to speak of
// (macOS) or the file cannot be read.
bool dynamically_linked(const std::filesystem::path& executable);

}  // namespace afterlife::detail

// The harness's own journal of a run: what it saw appear (with identities), the roots it may
// remove from and the run's reap policy. Only the harness writes it: its own descriptor,
// created with O_EXCL | O_NOFOLLOW, mode 0600, through the run directory's descriptor (a run
// that swaps the directory or plants a link cannot redirect it). Every record is one write(2)
// that has returned before the harness acts on it (or acknowledges the message that led to
// it), so a harness killed at any moment leaves `afterlife clean` what it had seen. It is the
// run's lock too: the harness holds an exclusive flock on it while the run is live, and the
// only place `clean` learns that a run finished (a `finished` record, never a file in the run
// directory, where the run's processes may write).
//
// The layout: a header written in one write(2) before the program starts (the first line, the
// run, its TMPDIR, its watched directories, then `begun`), then records (`seen`, `note`,
// `finished`), one line each. A header line after `begun`, or a line the harness never writes,
// is someone else's (a process of the same uid can open the file): read_journal() then says the
// journal is tampered with and `clean` removes nothing it lists (harness/README.md).
#pragma once

#include "afterlife/harness/run.hpp"
#include "probes/probes.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace afterlife::detail {

// A documented bound (harness/README.md): past it nothing more is journaled, the journal says
// so, and the run cannot pass `clean`.
inline constexpr std::size_t journal_objects_max = 100000;
// What the harness writes at most (the records of that many objects, each well under this
// share); a larger journal is not the harness's and is not read past the bound.
inline constexpr std::size_t journal_bytes_max = 256 << 20;

class journal {
 public:
  // Creates `journal` in the run directory `run_dirfd` and locks it. Throws std::system_error.
  explicit journal(int run_dirfd);
  ~journal();
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  // The run's identity and scope, written once before the program starts.
  void begin(const std::string& run_id, reap_policy policy, const std::filesystem::path& tmpdir,
             const std::vector<std::filesystem::path>& watched);
  // An object the harness saw appear; false (nothing written) once the bound is reached.
  bool seen(const probes::object_entry& object);
  void note(const std::string& text);
  // The run is over and its leftovers were handled: `clean` leaves the run alone from now on.
  void finish();
  bool full() const { return full_; }

 private:
  bool write_line(const std::string& line);
  int fd_ = -1;
  std::size_t objects_ = 0;
  std::size_t bytes_ = 0;
  bool full_ = false;
};

struct journal_contents {
  std::string run_id;
  reap_policy policy = reap_policy::ipc;
  std::filesystem::path tmpdir;
  std::vector<std::filesystem::path> watched;
  std::vector<probes::object_entry> seen;
  std::vector<std::string> notes;
  bool finished = false;
  // Lines the harness never writes (a header line after `begun`, an unknown or malformed line
  // before the last, more than the bounds allow): someone else wrote to it. Each says what.
  std::vector<std::string> foreign;
};

// Reads a journal from its descriptor (at most journal_bytes_max bytes). nullopt when it does
// not start as one does (the first line, `run`, `begun`). A last line without its newline was
// cut short by a crash and is ignored.
std::optional<journal_contents> read_journal(int fd);

}  // namespace afterlife::detail

// The harness's own journal of a run: what it saw appear (with identities), the roots it may
// remove from and the run's reap policy. Only the harness writes it: its own descriptor,
// created with O_EXCL | O_NOFOLLOW, mode 0600, through the run directory's descriptor (a run
// that swaps the directory or plants a link cannot redirect it). Every record is one write(2)
// that has returned before the harness acts on it (or acknowledges the message that led to
// it), so a harness killed at any moment leaves `afterlife clean` what it had seen. It is the
// run's lock too: the harness holds an exclusive flock on it while the run is live.
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
  bool full() const { return full_; }

 private:
  bool write_line(const std::string& line);
  int fd_ = -1;
  std::size_t objects_ = 0;
  bool full_ = false;
};

struct journal_contents {
  std::string run_id;
  reap_policy policy = reap_policy::ipc;
  std::filesystem::path tmpdir;
  std::vector<std::filesystem::path> watched;
  std::vector<probes::object_entry> seen;
  std::vector<std::string> notes;
};

// Reads a journal from its descriptor. nullopt when it does not start as one does.
std::optional<journal_contents> read_journal(int fd);

}  // namespace afterlife::detail

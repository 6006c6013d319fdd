// `afterlife clean`: removes what runs that never finished (the harness was killed) left behind,
// from what their harness journaled (never from what their processes claimed), under the removal
// rules of harness/README.md, and kills their processes still alive: by the cgroup or keeper
// process that held the run (recorded in its directory), and by the AFTERLIFE_RUN=<id> marker.
// A run in progress holds a lock on its directory and is skipped.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace afterlife {

struct clean_entry {
  std::string run_id;
  std::string kind;
  std::string name;
  bool removed = false;
  std::string error;
};

struct clean_result {
  std::vector<std::string> runs;  // run ids cleaned
  std::vector<int> killed;        // processes of those runs still alive, SIGKILLed
  std::vector<clean_entry> entries;
  std::vector<std::string> problems;  // what could not be done ("RUN: why")
};

// runtime_dir empty: as for run_options::runtime_dir.
clean_result clean_unfinished_runs(const std::filesystem::path& runtime_dir = {});

}  // namespace afterlife

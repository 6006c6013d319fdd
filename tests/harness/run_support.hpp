// Helpers for the `afterlife run` tests: run the real command with `--json -`, parse the report,
// and check that no process of the run is left (every process of a test's run carries a marker
// in its environment).
#pragma once

#include "child_process.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace afterlife_test {

struct harness_run {
  child_result raw;
  nlohmann::json report;  // null when the harness printed none
  int status() const { return raw.exit_code(); }
};

// A name unique to this test process and call, for shm names, markers and paths.
std::string unique(const std::string& prefix);

// The runtime directory every test run uses (AFTERLIFE_RUNTIME_DIR), apart from the machine's.
std::string runtime_dir();

// afterlife run --json - OPTIONS... -- COMMAND...; the run's processes carry `marker`.
harness_run afterlife_run(const std::vector<std::string>& options,
                          const std::vector<std::string>& command, const std::string& marker,
                          child_options extra = {});

// The actor program (programs/actor.c).
std::string actor();

// Whether the POSIX shared memory segment NAME ("/x") exists (by shm_open: no path on macOS).
bool shm_exists(const std::string& name);

// The report's leftover of that kind and name, or nullptr.
const nlohmann::json* find_leftover(const nlohmann::json& report, const std::string& kind,
                                    const std::string& name);

// OS parts (run_support_linux.cpp, run_support_macos.cpp).
// Pids of live (non-zombie) processes whose environment carries the marker.
std::vector<int> processes_with(const std::string& marker);
// What the report gives as a POSIX shm segment's path and removal command.
std::string expected_shm_path(const std::string& name);
std::string expected_shm_cleanup(const std::string& name);

// Pids of live processes with `argument` as one of their arguments (for a process whose
// environment was cleared, e.g. by `env -i`). Linux only (run_support_linux.cpp).
std::vector<int> processes_running(const std::string& argument);

// Kills what processes_with() finds (cleanup after a deliberately broken harness).
void kill_marked(const std::string& marker);

}  // namespace afterlife_test

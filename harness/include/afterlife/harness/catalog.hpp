// The scenario catalog (scenarios/catalog.json): every scenario, and for each exit mode that
// applies to it, the expectations its cell must meet; for a mode that does not apply, why. CMake (cmake/AfterlifeScenarios.cmake)
// and `afterlife matrix` both read it and turn a cell into the same `afterlife run` command.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace afterlife {

struct catalog_scenario {
  std::string name;
  std::string summary;
  std::vector<std::string> args;                            // scenario arguments after --exit
  std::map<std::string, std::vector<std::string>> expect;   // mode → expectation expressions
  std::map<std::string, std::string> not_applicable;        // mode → why it has no cell
  std::chrono::milliseconds timeout{20000};                 // the run's --timeout
  std::chrono::milliseconds grace{1000};                    // the run's --grace
};

struct catalog {
  std::vector<std::string> modes;  // column order of the matrix
  std::vector<catalog_scenario> scenarios;

  const catalog_scenario* find(const std::string& name) const;
};

// One cell: a scenario ended one way.
struct catalog_cell {
  const catalog_scenario* scenario = nullptr;
  std::string mode;
  const std::vector<std::string>* expect = nullptr;
};

// Program-chosen modes are what the scenario does itself (`--exit MODE`, run with --mode
// natural); the others are the harness's (`--exit wait`, ended at checkpoint `ready`), except
// child-death, where the main process goes on and exits normally after its worker is killed.
bool is_program_chosen_mode(const std::string& mode);

// The real situation a catalog mode models ("kill -9 PID, the OOM killer: ..."); "" if unknown.
std::string_view mode_situation(std::string_view mode);

// Parses and validates the catalog. Throws std::runtime_error naming the file and the problem.
catalog load_catalog(const std::filesystem::path& path);

// The arguments of `afterlife run` for one cell, after the `run` word: options, `--`, the
// scenario executable (in scenario_dir) and its arguments.
std::vector<std::string> cell_run_arguments(const catalog_cell& cell,
                                            const std::filesystem::path& scenario_dir);

}  // namespace afterlife

// The `afterlife matrix` and `afterlife scenarios` subcommands: their options and actions.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace afterlife {

struct matrix_command_args {
  std::string catalog;
  std::string scenario_dir;
  std::vector<std::string> scenarios;
  std::vector<std::string> modes;
  unsigned jobs = 0;  // 0: the number of cores
  std::string json, junit, html, out;
  std::string shard;                     // "K/N" ("" for all cells)
  std::string colour = "auto";           // --color auto|always|never
  bool quiet = false;                    // stdout: failures and the summary line only
  std::vector<std::string> merge_inputs; // `matrix merge A.json B.json ...`
};

// Adds the subcommands with their options bound to args; the caller parses.
CLI::App* add_matrix_subcommand(CLI::App& app, matrix_command_args& args);
CLI::App* add_scenarios_subcommand(CLI::App& app, matrix_command_args& args);

// Actions, after parsing. The matrix runs each cell with this same `afterlife` (its own
// executable); `matrix merge` when merge_inputs is set. Exit status: 0 every cell as expected,
// 1 some not, 2 usage (unknown scenario/mode, bad --shard or --color, shards that do not make
// one matrix), 3 harness error.
int run_matrix_command(const matrix_command_args& args);
int run_scenarios_command(const matrix_command_args& args);

}  // namespace afterlife

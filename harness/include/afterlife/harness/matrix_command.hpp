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
};

// Adds the subcommands with their options bound to args; the caller parses.
CLI::App* add_matrix_subcommand(CLI::App& app, matrix_command_args& args);
CLI::App* add_scenarios_subcommand(CLI::App& app, matrix_command_args& args);

// Actions, after parsing. The matrix runs each cell with this same `afterlife` (its own executable).
// Exit status: 0 every cell as expected, 1 some not, 2 usage (unknown scenario/mode), 3 harness error.
int run_matrix_command(const matrix_command_args& args);
int run_scenarios_command(const matrix_command_args& args);

}  // namespace afterlife

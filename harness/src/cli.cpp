#include "afterlife/harness/cli.hpp"

#include "afterlife/harness/matrix_command.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <string>

namespace afterlife {

namespace {

int not_yet(const std::string& command) {
  fmt::print(stderr, "afterlife: '{}' is not implemented yet\n", command);
  return exit_harness_error;
}

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{"afterlife: what does a dying process leave behind?", "afterlife"};
  app.set_version_flag("--version", std::string("afterlife ") + AFTERLIFE_VERSION);

  auto* run = app.add_subcommand("run", "run a command, end it the way you ask, list leftovers");
  run->allow_extras();
  matrix_command_args matrix_args;
  auto* matrix = add_matrix_subcommand(app, matrix_args);
  auto* scenarios = add_scenarios_subcommand(app, matrix_args);
  auto* clean = app.add_subcommand("clean", "remove leftovers of runs that never finished");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "afterlife: {}\nRun 'afterlife --help' for usage.\n", e.what());
    return exit_usage;
  }
  if (matrix->parsed()) return run_matrix_command(matrix_args, argv[0]);
  if (scenarios->parsed()) return run_scenarios_command(matrix_args);
  for (auto* sub : {run, clean}) {
    if (sub->parsed()) return not_yet(sub->get_name());
  }
  fmt::print(stderr, "afterlife: a subcommand is required (run, matrix, scenarios, clean)\n"
                     "Run 'afterlife --help' for usage.\n");
  return exit_usage;
}

}  // namespace afterlife

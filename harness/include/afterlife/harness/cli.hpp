// The `afterlife` command line: parses, dispatches to run / matrix / scenarios / clean, and maps
// outcomes to the exit statuses of docs/architecture.md ("CLI").
#pragma once

namespace afterlife {

// Exit statuses of the command (docs/architecture.md "CLI").
enum exit_status : int {
  exit_met = 0,           // expectations met
  exit_not_met = 1,       // expectations not met
  exit_usage = 2,         // usage error
  exit_harness_error = 3  // the harness could not do its job
};

int cli_main(int argc, char** argv);

}  // namespace afterlife

// What every scenario executable shares (DESIGN.md "Scenarios and the matrix"):
//   <scenario> --exit normal|error|exception|immediate|abort|wait [scenario options]
// A scenario builds its resources, calls scenario::ready() (checkpoint `ready`; with
// `--exit wait` it blocks there until the harness ends the process), then scenario::finish().
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace scenario {

enum class exit_mode { normal, error, exception, immediate, abort, wait };

struct options {
  exit_mode exit = exit_mode::normal;
  std::vector<std::string> rest;  // arguments after the known ones, for the scenario itself
};

std::string_view to_string(exit_mode mode);

// Parses argv; on a usage error prints one line to stderr and exits 2.
options parse(int argc, char** argv);

// Checkpoint `ready`: the scenario's resources exist. Under `--exit wait` this never returns
// normally: the process waits at the checkpoint for the harness to end it.
void ready(const options& opts);

// Ends the process the way --exit asks: normal → exit status 0, error → 1, exception → an
// uncaught exception from main, immediate → _exit without flushing, abort → abort().
[[noreturn]] void finish(const options& opts);

}  // namespace scenario

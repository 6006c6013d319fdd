// What every scenario executable shares (docs/architecture.md "Catalog"):
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

// One line on stdout with one write(2) per chunk: nothing waits in a stdio buffer that _exit
// would lose, and lines written by finalizers keep their order with the runtime's own reports.
void say(std::string_view text) noexcept;
// The same on any descriptor (stderr for what a program reports as an error).
void write_line(int fd, std::string_view text) noexcept;

// $TMPDIR (under `afterlife run`, the run's private and always-watched directory), else /tmp.
std::string tmp_dir();

// Parses argv and initializes the lifecycle runtime (if the program has not); on a usage error
// prints one line to stderr and exits 2.
options parse(int argc, char** argv);

// Checkpoint `ready`: the scenario's resources exist. Under `--exit wait` this never returns
// normally: the process waits at the checkpoint for the harness to end it.
void ready(const options& opts);

// Ends the process the way --exit asks, through the runtime's exit paths: normal →
// lifecycle::exit(0) and error → lifecycle::exit(1) (all ten phases), exception → an exception
// nothing catches (traceback, all phases, status 1), immediate → lifecycle::immediate_exit(0)
// (no phase, buffered output lost), abort → lifecycle::fatal_error (message, SIGABRT).
[[noreturn]] void finish(const options& opts);

}  // namespace scenario

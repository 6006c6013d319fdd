#include "afterlife/harness/cli.hpp"

#include "afterlife/harness/clean.hpp"
#include "afterlife/harness/matrix_command.hpp"
#include "afterlife/harness/report.hpp"
#include "afterlife/harness/run.hpp"
#include "text_pattern.hpp"

#include <CLI/CLI.hpp>
#include <afterlife/protocol.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

namespace afterlife {

namespace {

// Set by SIGINT/SIGTERM/SIGHUP sent to the harness itself: the run then kills its tree and
// still reports, instead of the harness dying and orphaning the program.
constinit std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) { interrupted.store(true); }

void install_signal_handling() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &action, nullptr);
  // A reader of our stdout that goes away must not kill the harness mid-run.
  signal(SIGPIPE, SIG_IGN);
}

struct run_arguments {
  std::string mode = "natural";
  std::string at;
  std::string timeout = "10m";
  std::string grace = "1s";
  std::string kill_after;
  std::vector<std::string> watch;
  std::vector<std::string> expect;
  bool strict = false;
  bool no_reap = false;
  std::string reap = "ipc";
  bool no_interposer = false;
  std::string json;
  std::string junit;
  bool quiet = false;
  std::vector<std::string> command;
};

void add_run_options(CLI::App& run, run_arguments& args) {
  run.add_option("--mode", args.mode,
                 "how the run ends: " + mode_names(run_modes) + " (default: natural)")
      ->type_name("MODE");
  run.add_option("--at", args.at,
                 "when a signal mode fires: checkpoint[:NAME], line:REGEX, delay:DURATION, "
                 "file:PATH (default: the first checkpoint if the program uses the control "
                 "client, else immediately after start); REGEX: " +
                     std::string(detail::regex_syntax))
      ->type_name("WHEN");
  run.add_option("--timeout", args.timeout, "hard limit for the whole run (default 10m)")
      ->type_name("DURATION");
  run.add_option("--kill-after", args.kill_after,
                 "with sigterm/sigint: SIGKILL what is still alive this long after the signal "
                 "(as timeout -k)")
      ->type_name("DURATION");
  run.add_option("--grace", args.grace,
                 "how long descendants may outlive the main process (default 1s)")
      ->type_name("DURATION");
  // One value per occurrence (repeat the option): a vector option would otherwise take every
  // word up to `--` and swallow the separator.
  run.add_option("--watch", args.watch, "another directory to check for leftover files (repeatable)")
      ->type_name("DIR")
      ->allow_extra_args(false);
  run.add_option("--expect", args.expect,
                 "clean, exit=N, signal=NAME, KIND=N, leftovers=N, survivors=N, held_fds=N, phase=NAME, "
                 "phases=N, output~REGEX (repeatable; default: clean); KIND is one of " +
                     protocol::kind_list() + "; REGEX: " + std::string(detail::regex_syntax) +
                     ", as for --at line:")
      ->type_name("EXPR")
      ->allow_extra_args(false);
  run.add_flag("--strict", args.strict, "leftovers not created by the run also fail `clean`");
  run.add_option("--reap", args.reap,
                 "what to remove of what the run created: ipc (default: IPC objects and the "
                 "run's TMPDIR), files (files, sockets, FIFOs in --watch directories and the "
                 "TMPDIR), all, none")
      ->type_name("WHAT");
  run.add_flag("--no-reap", args.no_reap, "the same as --reap none: leave everything in place");
  run.add_flag("--no-interposer", args.no_interposer,
               "run without the interposer (attribution: SysV creator pids and TMPDIR only)");
  run.add_option("--json", args.json, "write the JSON report to FILE (- for stdout)")
      ->type_name("FILE|-");
  run.add_option("--junit", args.junit, "write a JUnit XML report to FILE (- for stdout)")
      ->type_name("FILE|-");
  run.add_flag("--quiet,-q", args.quiet,
               "no report: the exit status is the verdict; on failure one line on stderr "
               "names what failed (the program's own output still passes through)");
  run.add_option("command", args.command, "the program to run and its arguments, after --")
      ->type_name("COMMAND [ARG...]")
      ->required();
}

// Converts the textual options; throws std::invalid_argument (a usage error).
run_options to_run_options(const run_arguments& args) {
  run_options options;
  options.command = args.command;
  options.mode = parse_mode(args.mode);
  if (!args.at.empty()) options.at = parse_trigger(args.at);
  options.timeout = parse_duration(args.timeout);
  options.grace = parse_duration(args.grace);
  if (!args.kill_after.empty()) options.kill_after = parse_duration(args.kill_after);
  for (const auto& dir : args.watch) options.watch.emplace_back(dir);
  for (const auto& text : args.expect) options.expect.push_back(parse_expectation(text));
  options.strict = args.strict;
  auto reap = parse_reap_policy(args.reap);
  if (!reap)
    throw std::invalid_argument("bad --reap '" + args.reap + "' (ipc, files, all, none)");
  options.reap = args.no_reap ? reap_policy::none : *reap;
  options.no_interposer = args.no_interposer;
  if (args.json == "-" && args.junit == "-")
    throw std::invalid_argument("--json - and --junit - cannot both have stdout");
  // stdout carries the JSON or the JUnit XML alone.
  if (args.json == "-" || args.junit == "-") options.copy_stdout_to = 2;
  options.interrupted = &interrupted;
  return options;
}

// The one line `--quiet` prints for a failed run: each unmet expectation with what was seen,
// then what the run left behind, by kind and name.
std::string failure_line(const run_report& report) {
  std::vector<std::string> unmet;
  for (const auto& result : report.expectations)
    if (!result.met) unmet.push_back(fmt::format("{} (got {})", result.expr, result.actual));
  std::vector<std::string> left;
  for (const auto& item : report.leftovers) left.push_back(item.kind + " " + item.name);
  for (const auto& item : report.survivors)
    left.push_back(fmt::format("pid {} ({})", item.pid, item.command));
  std::string line = "afterlife run: FAIL";
  if (!unmet.empty()) line += fmt::format(": {}", fmt::join(unmet, "; "));
  if (!left.empty()) line += fmt::format("; left {}", fmt::join(left, ", "));
  return line;
}

template <typename Writer>
void write_file(const std::string& path, Writer&& writer) {
  std::ofstream out(path);
  if (!out) throw harness_error("cannot write " + path);
  writer(out);
  if (!out.flush()) throw harness_error("cannot write " + path);
}

int run_command(const run_arguments& args) {
  run_options options;
  try {
    options = to_run_options(args);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "afterlife run: {}\n", e.what());
    return exit_usage;
  }
  try {
    auto started = std::chrono::system_clock::now();
    run_report report = run(options);
    bool stdout_is_report = args.json == "-" || args.junit == "-";
    if (args.quiet) {
      if (!report.pass) fmt::print(stderr, "{}\n", failure_line(report));
    } else {
      write_text(stdout_is_report ? std::cerr : std::cout, report);
      (stdout_is_report ? std::cerr : std::cout).flush();
    }
    auto write_json = [&](std::ostream& out) { out << to_json(report).dump(2) << "\n"; };
    auto write_xml = [&](std::ostream& out) { write_junit(out, report, started); };
    if (args.json == "-") write_json(std::cout);
    else if (!args.json.empty()) write_file(args.json, write_json);
    if (args.junit == "-") write_xml(std::cout);
    else if (!args.junit.empty()) write_file(args.junit, write_xml);
    std::cout.flush();
    return report.pass ? exit_met : exit_not_met;
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "afterlife run: {}\n", e.what());
    return exit_usage;
  } catch (const harness_error& e) {
    fmt::print(stderr, "afterlife run: {}\n", e.what());
    return exit_harness_error;
  } catch (const std::exception& e) {
    fmt::print(stderr, "afterlife run: {}\n", e.what());
    return exit_harness_error;
  }
}

int clean_command() {
  try {
    auto result = clean_unfinished_runs();
    for (const auto& entry : result.entries) {
      if (entry.removed)
        fmt::print("removed {} {} (run {})\n", entry.kind, entry.name, entry.run_id);
      else
        fmt::print("could not remove {} {} (run {}): {}\n", entry.kind, entry.name, entry.run_id,
                   entry.error);
    }
    for (int pid : result.killed) fmt::print("killed pid {}\n", pid);
    for (const auto& problem : result.problems) fmt::print("problem: {}\n", problem);
    fmt::print("afterlife clean: {} unfinished run(s) cleaned\n", result.runs.size());
    return exit_met;
  } catch (const std::exception& e) {
    fmt::print(stderr, "afterlife clean: {}\n", e.what());
    return exit_harness_error;
  }
}

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{"afterlife: what does a dying process leave behind?", "afterlife"};
  app.set_version_flag("--version", std::string("afterlife ") + AFTERLIFE_VERSION);

  run_arguments run_args;
  auto* run = app.add_subcommand("run", "run a command, end it the way you ask, list leftovers");
  add_run_options(*run, run_args);
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
  if (run->parsed()) {
    install_signal_handling();
    return run_command(run_args);
  }
  if (clean->parsed()) return clean_command();
  if (matrix->parsed()) return run_matrix_command(matrix_args);
  if (scenarios->parsed()) return run_scenarios_command(matrix_args);
  fmt::print(stderr, "afterlife: a subcommand is required (run, matrix, scenarios, clean)\n"
                     "Run 'afterlife --help' for usage.\n");
  return exit_usage;
}

}  // namespace afterlife

#include "afterlife/harness/matrix_command.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fmt/core.h>
#include <fstream>
#include <thread>

#include "afterlife/harness/cli.hpp"
#include "afterlife/harness/matrix.hpp"
#include "spawn/spawn.hpp"
#include "terminal.hpp"

namespace afterlife {

namespace {

// Where this afterlife runs from: an installed one finds the catalog and the scenarios
// relative to its own directory (AfterlifeInstall.cmake puts them there; the prefix may be
// moved); one in the build tree (the tests, a developer) uses the build's.
std::filesystem::path own_directory() { return detail::self_executable().parent_path(); }

bool in_build_tree() {
  std::string build = AFTERLIFE_BUILD_DIR;
  return own_directory().string().starts_with(build);
}

// The first of: the environment variable, the installed location, the build tree's; "" when
// none exists.
std::string locate(const char* variable, const char* installed_relative, const char* build) {
  if (const char* value = std::getenv(variable); value != nullptr && *value != '\0') return value;
  std::error_code ec;
  auto installed = (own_directory() / installed_relative).lexically_normal();
  if (!own_directory().empty() && std::filesystem::exists(installed, ec)) return installed.string();
  if (in_build_tree() && std::filesystem::exists(build, ec)) return build;
  return {};
}

std::string default_catalog() {
  return locate("AFTERLIFE_CATALOG", AFTERLIFE_INSTALLED_CATALOG, AFTERLIFE_DEFAULT_CATALOG);
}
std::string default_scenario_dir() {
  return locate("AFTERLIFE_SCENARIO_DIR", AFTERLIFE_INSTALLED_SCENARIO_DIR,
                AFTERLIFE_DEFAULT_SCENARIO_DIR);
}
std::string default_report_dir() {
  return in_build_tree() ? AFTERLIFE_DEFAULT_REPORT_DIR : "afterlife-report";
}

// The catalog to read: the one asked for, else the default; throws the one line that says how
// to point at one when there is none.
std::string catalog_or_explain(const std::string& asked) {
  if (!asked.empty()) return asked;
  auto found = default_catalog();
  if (found.empty())
    throw std::runtime_error(fmt::format(
        "no scenario catalog found (looked for {}); pass --catalog FILE or set AFTERLIFE_CATALOG",
        (own_directory() / AFTERLIFE_INSTALLED_CATALOG).lexically_normal().string()));
  return found;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void write_or_stdout(const std::string& where, const std::string& text) {
  if (where == "-") {
    fmt::print("{}", text);
    std::fflush(stdout);
    return;
  }
  write_file(where, text);
}

std::string dump(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// The directory a report written to `where` names its cell logs from ("" for stdout:
// absolute names).
std::filesystem::path links_from(const std::string& where) {
  if (where == "-") return {};
  return std::filesystem::absolute(where).parent_path();
}

// --json, --junit and --html as asked; at most one of them may have stdout.
void write_requested(const matrix_command_args& args, const matrix_result& result) {
  if (!args.json.empty()) write_or_stdout(args.json, dump(matrix_json(result, links_from(args.json))));
  if (!args.junit.empty()) write_or_stdout(args.junit, matrix_junit(result));
  if (!args.html.empty()) write_or_stdout(args.html, matrix_html(result, links_from(args.html)));
}

// The stream for the table and the progress: stdout, unless a report goes there.
FILE* table_stream(const matrix_command_args& args) {
  return args.json == "-" || args.junit == "-" || args.html == "-" ? stderr : stdout;
}

// Usage errors of the options every matrix command shares; "" when there is none.
std::string check_common_options(const matrix_command_args& args) {
  int to_stdout = (args.json == "-") + (args.junit == "-") + (args.html == "-");
  if (to_stdout > 1) return "only one of --json, --junit and --html can be '-' (stdout)";
  try {
    terminal::parse_colour_choice(args.colour);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

const char* verdict_word(cell_verdict v) {
  return v == cell_verdict::pass ? "ok" : v == cell_verdict::fail ? "FAIL" : "ERROR";
}

// What the matrix prints as cells finish. On a terminal that can redraw: one line rewritten in
// place. Otherwise (a pipe, a CI log, TERM=dumb): one line per finished cell, flushed at once,
// as ctest does. --quiet: only the cells not as expected.
class cell_progress {
 public:
  cell_progress(FILE* out, bool colour, bool quiet)
      : out_(out), colour_(colour), quiet_(quiet), redraw_(!quiet && terminal::can_redraw(fileno(out))) {}

  void done(const matrix_cell_result& r, std::size_t done, std::size_t total) {
    bool pass = r.verdict == cell_verdict::pass;
    if (redraw_) {
      fmt::print(out_, "\r\033[K[{}/{}] {} × {} {}", done, total, r.scenario, r.mode, pass ? "✓" : "✗");
      if (done == total) fmt::print(out_, "\r\033[K");
    } else if (!quiet_ || !pass) {
      const char* on = !colour_ ? "" : pass ? "\033[32m" : "\033[31m";
      const char* off = colour_ ? "\033[0m" : "";
      auto width = std::to_string(total).size() + 2;
      fmt::print(out_, "{:>{}}/{} {} × {} ... {}{}{}  {:.2f} s{}\n", done, width, total, r.scenario, r.mode, on,
                 verdict_word(r.verdict), off, static_cast<double>(r.duration.count()) / 1000.0,
                 pass ? "" : "  " + r.reason);
    }
    std::fflush(out_);
  }

 private:
  FILE* out_;
  bool colour_, quiet_, redraw_;
};

// The end of a matrix command on the terminal: the table, or with --quiet the summary line.
void print_outcome(const matrix_command_args& args, const matrix_result& result, FILE* out) {
  bool colour = terminal::use_colour(terminal::parse_colour_choice(args.colour), fileno(out));
  fmt::print(out, "{}", args.quiet ? matrix_summary(result) : matrix_table(result, colour));
}

int run_merge_command(const matrix_command_args& args) {
  std::vector<matrix_result> parts;
  for (const auto& input : args.merge_inputs) {
    std::ifstream in(input);
    if (!in) {
      fmt::print(stderr, "afterlife matrix merge: cannot read {}\n", input);
      return exit_usage;
    }
    try {
      parts.push_back(matrix_from_json(nlohmann::json::parse(in), std::filesystem::absolute(input).parent_path()));
    } catch (const std::exception& e) {
      fmt::print(stderr, "afterlife matrix merge: {}: {}\n", input, e.what());
      return exit_usage;
    }
  }
  matrix_result merged;
  try {
    merged = merge_matrices(parts, args.merge_inputs);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "afterlife matrix merge: {}\n", e.what());
    return exit_usage;
  }
  try {
    write_requested(args, merged);
  } catch (const std::exception& e) {
    fmt::print(stderr, "afterlife matrix merge: {}\n", e.what());
    return exit_harness_error;
  }
  print_outcome(args, merged, table_stream(args));
  return merged.all_met() ? exit_met : exit_not_met;
}

}  // namespace

CLI::App* add_matrix_subcommand(CLI::App& app, matrix_command_args& args) {
  auto* sub = app.add_subcommand("matrix", "run every scenario cell of the catalog and print the table");
  sub->add_option("--scenario", args.scenarios, "only this scenario (repeatable)");
  sub->add_option("--mode", args.modes, "only this exit mode (repeatable)");
  sub->add_option("--jobs,-j", args.jobs, "cells run at once (default: the number of cores)")
      ->check(CLI::Range(1u, 256u));
  sub->add_option("--json", args.json, "write the matrix JSON here ('-' for stdout)");
  sub->add_option("--junit", args.junit, "write JUnit XML here ('-' for stdout)");
  sub->add_option("--html", args.html, "write the HTML page here ('-' for stdout)");
  sub->add_option("--shard", args.shard,
                  "run only the K-th of N shares of the cells (every N-th cell in catalog order, "
                  "from the K-th); `matrix merge` joins the shards' matrix.json")
      ->type_name("K/N");
  auto add_terminal_options = [&](CLI::App* command) {
    command->add_option("--color", args.colour,
                        "colour on the terminal: auto (default: when a terminal, NO_COLOR unset or "
                        "empty, TERM not dumb), always, never")
        ->type_name("WHEN");
    command->add_flag("--quiet,-q", args.quiet,
                      "print nothing on stdout but the cells not as expected and the summary line");
  };
  add_terminal_options(sub);
  auto* merge = sub->add_subcommand(
      "merge", "make one report of the shards' matrix.json files (refuses overlapping or missing cells)");
  merge->add_option("reports", args.merge_inputs, "the shards' matrix.json files")->required()->type_name("JSON...");
  merge->add_option("--json", args.json, "write the merged matrix JSON here ('-' for stdout)");
  merge->add_option("--junit", args.junit, "write JUnit XML here ('-' for stdout)");
  merge->add_option("--html", args.html, "write the HTML page here ('-' for stdout)");
  add_terminal_options(merge);
  sub->add_option("--out", args.out, "directory for matrix.json, matrix.xml, matrix.html and cells/")
      ->default_str(default_report_dir());
  sub->add_option("--catalog", args.catalog, "the scenario catalog")->default_str(default_catalog());
  sub->add_option("--scenario-dir", args.scenario_dir, "where the scenario executables are")
      ->default_str(default_scenario_dir());
  return sub;
}

CLI::App* add_scenarios_subcommand(CLI::App& app, matrix_command_args& args) {
  auto* sub = app.add_subcommand("scenarios", "list the scenario catalog: each scenario and its modes");
  sub->add_option("--catalog", args.catalog, "the scenario catalog")->default_str(default_catalog());
  return sub;
}

int run_scenarios_command(const matrix_command_args& args) {
  catalog cat;
  try {
    cat = load_catalog(catalog_or_explain(args.catalog));
  } catch (const std::exception& e) {
    fmt::print(stderr, "afterlife: {}\n", e.what());
    return exit_harness_error;
  }
  std::size_t width = 8, cells = 0;
  for (const auto& s : cat.scenarios) width = std::max(width, s.name.size());
  for (const auto& s : cat.scenarios) {
    std::string modes;
    for (const auto& m : cat.modes)
      if (s.expect.count(m)) modes += (modes.empty() ? "" : " ") + m;
    cells += s.expect.size();
    fmt::print("{:<{}}  {}\n{:<{}}  modes: {}\n", s.name, width, s.summary, "", width, modes);
    for (const auto& m : cat.modes) {
      auto why = s.not_applicable.find(m);
      if (why != s.not_applicable.end()) fmt::print("{:<{}}  not {}: {}\n", "", width, m, why->second);
    }
  }
  fmt::print("{} scenarios, {} cells\n", cat.scenarios.size(), cells);
  return exit_met;
}

int run_matrix_command(const matrix_command_args& args) {
  if (auto problem = check_common_options(args); !problem.empty()) {
    fmt::print(stderr, "afterlife matrix: {}\n", problem);
    return exit_usage;
  }
  if (!args.merge_inputs.empty()) return run_merge_command(args);
  std::filesystem::path catalog_path;
  try {
    catalog_path = catalog_or_explain(args.catalog);
  } catch (const std::exception& e) {
    fmt::print(stderr, "afterlife: {}\n", e.what());
    return exit_harness_error;
  }
  matrix_options options;
  options.scenario_dir = args.scenario_dir.empty() ? default_scenario_dir() : args.scenario_dir;
  if (options.scenario_dir.empty()) {
    fmt::print(stderr, "afterlife: no scenario directory found (looked for {}); pass "
                       "--scenario-dir DIR or set AFTERLIFE_SCENARIO_DIR\n",
               (own_directory() / AFTERLIFE_INSTALLED_SCENARIO_DIR).lexically_normal().string());
    return exit_harness_error;
  }
  options.out_dir = args.out.empty() ? default_report_dir() : args.out;
  options.afterlife_exe = detail::self_executable();  // each cell runs this same afterlife
  options.scenarios = args.scenarios;
  options.modes = args.modes;
  options.jobs = args.jobs ? args.jobs : std::max(1u, std::thread::hardware_concurrency());
  if (!args.shard.empty()) {
    try {
      options.shard = parse_shard(args.shard);
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "afterlife matrix: {}\n", e.what());
      return exit_usage;
    }
  }
  FILE* out = table_stream(args);
  cell_progress progress(out, terminal::use_colour(terminal::parse_colour_choice(args.colour), fileno(out)),
                         args.quiet);
  options.on_cell_done = [&](const matrix_cell_result& r, std::size_t done, std::size_t total) {
    progress.done(r, done, total);
  };

  catalog cat;
  try {
    cat = load_catalog(catalog_path);
    if (select_cells(cat, options.scenarios, options.modes).empty()) {
      fmt::print(stderr, "afterlife: the catalog {} has no cells to run{}\n", catalog_path.string(),
                 cat.scenarios.empty() ? " (no scenarios yet)" : " for these filters");
      return exit_harness_error;
    }
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "afterlife: {}\n", e.what());
    return exit_usage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "afterlife: {}\n", e.what());
    return exit_harness_error;
  }

  matrix_result result;
  try {
    result = run_matrix(cat, options);
    auto dir = std::filesystem::absolute(options.out_dir);
    write_file(options.out_dir / "matrix.json", dump(matrix_json(result, dir)));
    write_file(options.out_dir / "matrix.xml", matrix_junit(result));
    write_file(options.out_dir / "matrix.html", matrix_html(result, dir));
    write_requested(args, result);
  } catch (const std::exception& e) {
    fmt::print(stderr, "afterlife: {}\n", e.what());
    return exit_harness_error;
  }
  // With a report on stdout the table goes to stderr, so stdout stays machine-readable.
  print_outcome(args, result, out);
  if (!args.quiet) fmt::print(out, "reports: {}\n", (options.out_dir / "matrix.html").string());
  return result.all_met() ? exit_met : exit_not_met;
}

}  // namespace afterlife

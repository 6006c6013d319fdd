#include "afterlife/harness/matrix_command.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fmt/core.h>
#include <fstream>
#include <thread>

#include "afterlife/harness/cli.hpp"
#include "afterlife/harness/matrix.hpp"
#include "spawn/spawn.hpp"

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
    return;
  }
  write_file(where, text);
}

}  // namespace

CLI::App* add_matrix_subcommand(CLI::App& app, matrix_command_args& args) {
  auto* sub = app.add_subcommand("matrix", "run every scenario cell of the catalog and print the table");
  sub->add_option("--scenario", args.scenarios, "only this scenario (repeatable)");
  sub->add_option("--mode", args.modes, "only this exit mode (repeatable)");
  sub->add_option("--jobs,-j", args.jobs, "cells run at once (default: the number of cores)")
      ->check(CLI::Range(1u, 256u));
  sub->add_option("--json", args.json, "write the matrix JSON here ('-' for stdout)");
  sub->add_option("--junit", args.junit, "write JUnit XML here");
  sub->add_option("--html", args.html, "write the HTML page here");
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
  options.progress = isatty(STDERR_FILENO) != 0;

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
    auto json = matrix_json(result).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    write_file(options.out_dir / "matrix.json", json);
    auto junit = matrix_junit(result);
    auto html = matrix_html(result);
    write_file(options.out_dir / "matrix.xml", junit);
    write_file(options.out_dir / "matrix.html", html);
    if (!args.json.empty()) write_or_stdout(args.json, json);
    if (!args.junit.empty()) write_or_stdout(args.junit, junit);
    if (!args.html.empty()) write_or_stdout(args.html, html);
  } catch (const std::exception& e) {
    fmt::print(stderr, "afterlife: {}\n", e.what());
    return exit_harness_error;
  }
  // With --json - the table goes to stderr so stdout stays machine-readable.
  FILE* table_stream = args.json == "-" ? stderr : stdout;
  fmt::print(table_stream, "{}", matrix_table(result, isatty(fileno(table_stream)) != 0));
  fmt::print(table_stream, "reports: {}\n", (options.out_dir / "matrix.html").string());
  return result.all_met() ? exit_met : exit_not_met;
}

}  // namespace afterlife

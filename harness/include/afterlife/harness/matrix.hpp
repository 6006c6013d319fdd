// `afterlife matrix`: every catalog cell run through `afterlife run`, in parallel, judged, and
// written as a table, JSON ("afterlife.matrix/1"), JUnit and one self-contained HTML page.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "afterlife/harness/catalog.hpp"

namespace afterlife {

struct matrix_options {
  std::filesystem::path scenario_dir;     // where the scenario executables are
  std::filesystem::path afterlife_exe;    // the `afterlife` that runs each cell
  std::vector<std::string> scenarios;     // only these (empty: all)
  std::vector<std::string> modes;         // only these (empty: all)
  unsigned jobs = 1;
  std::filesystem::path out_dir;          // matrix.json, matrix.xml, matrix.html, cells/
  std::optional<std::filesystem::path> json_path, junit_path, html_path;  // override out_dir names
  bool progress = false;                  // a live progress line on stderr
};

enum class cell_verdict { pass, fail, error };

struct matrix_cell_result {
  std::string scenario;
  std::string mode;
  std::vector<std::string> expected;
  cell_verdict verdict = cell_verdict::error;
  std::string reason;            // why it failed or errored; empty on pass
  nlohmann::json report;         // the cell's full `afterlife run` report (null if none)
  std::chrono::milliseconds duration{0};
};

// A row × column of the table that has no cell, with the catalog's reason (empty if it gives
// none).
struct matrix_gap {
  std::string scenario;
  std::string mode;
  std::string reason;
};

struct matrix_result {
  std::vector<std::string> modes;      // columns, in catalog order, after filtering
  std::vector<std::string> scenarios;  // rows, in catalog order, after filtering
  std::vector<matrix_cell_result> cells;
  std::vector<matrix_gap> not_applicable;  // in row, then column order
  std::chrono::milliseconds elapsed{0};

  bool all_met() const;
};

// The cells the filters select, in catalog order. Throws std::invalid_argument for a filter
// naming an unknown scenario or mode.
std::vector<catalog_cell> select_cells(const catalog& cat, const std::vector<std::string>& scenarios,
                                       const std::vector<std::string>& modes);

// The places of the table (rows `scenarios` × columns `modes`) that have no cell, in row, then
// column order, each with the catalog's reason. Filters pick whole rows and columns, so these
// are the modes a scenario does not have.
std::vector<matrix_gap> matrix_gaps(const catalog& cat, const std::vector<std::string>& scenarios,
                                    const std::vector<std::string>& modes);

// Runs the cells of `cat` that options.scenarios / options.modes select. Throws
// std::invalid_argument for an unknown filter.
matrix_result run_matrix(const catalog& cat, const matrix_options& options);

// Judges one finished `afterlife run`: its raw wait status and its JSON report (if written).
matrix_cell_result judge_cell(const catalog_cell& cell, int wait_status,
                              const std::optional<nlohmann::json>& report, const std::string& stderr_tail);

// Writers.
std::string matrix_table(const matrix_result& result, bool colour);
nlohmann::json matrix_json(const matrix_result& result);
std::string matrix_junit(const matrix_result& result);
std::string matrix_html(const matrix_result& result);

}  // namespace afterlife

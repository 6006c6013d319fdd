// `afterlife matrix`: every catalog cell run through `afterlife run`, in parallel, judged, and
// written as a table, JSON ("afterlife.matrix/1"), JUnit and one self-contained HTML page.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "afterlife/harness/catalog.hpp"

namespace afterlife {

struct matrix_cell_result;

// `--shard K/N`: the K-th of N deterministic shares of the selected cells (1 <= K <= N).
struct matrix_shard {
  unsigned index = 1;
  unsigned count = 1;
};

// Parses "K/N"; throws std::invalid_argument naming what is wrong.
matrix_shard parse_shard(std::string_view text);

struct matrix_options {
  std::filesystem::path scenario_dir;     // where the scenario executables are
  std::filesystem::path afterlife_exe;    // the `afterlife` that runs each cell
  std::vector<std::string> scenarios;     // only these (empty: all)
  std::vector<std::string> modes;         // only these (empty: all)
  unsigned jobs = 1;
  std::filesystem::path out_dir;          // matrix.json, matrix.xml, matrix.html, cells/
  std::optional<std::filesystem::path> json_path, junit_path, html_path;  // override out_dir names
  std::optional<matrix_shard> shard;      // only this share of the selected cells
  // Called as each cell finishes, one call at a time, with how many are done of how many.
  std::function<void(const matrix_cell_result&, std::size_t done, std::size_t total)> on_cell_done;
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
  std::filesystem::path log;     // the cell's output and text report (empty if none)
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
  std::map<std::string, std::string> summaries;  // scenario → the catalog's summary
  std::chrono::milliseconds elapsed{0};
  std::chrono::system_clock::time_point started;
  std::string hostname;                    // where it ran ("a, b" for a merge of machines)
  // For a shard: which one, and how many cells the whole selection has.
  std::optional<matrix_shard> shard;
  std::size_t selection_cells = 0;

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

// The cells of the shard: those whose index in `cells` (catalog order) is K-1 modulo N.
std::vector<catalog_cell> shard_cells(const std::vector<catalog_cell>& cells, matrix_shard shard);

// Runs the cells of `cat` that options.scenarios / options.modes select. Throws
// std::invalid_argument for an unknown filter.
matrix_result run_matrix(const catalog& cat, const matrix_options& options);

// Judges one finished `afterlife run`: its raw wait status and its JSON report (if written).
matrix_cell_result judge_cell(const catalog_cell& cell, int wait_status,
                              const std::optional<nlohmann::json>& report, const std::string& stderr_tail);

// Writers. `links_from` is the directory the JSON or page is written to: cell logs are named
// relative to it (absolute when it is empty).
std::string matrix_table(const matrix_result& result, bool colour);
// The summary line: "N cells: P as expected, F not · S scenarios × M modes · T s".
std::string matrix_summary(const matrix_result& result);
nlohmann::json matrix_json(const matrix_result& result, const std::filesystem::path& links_from = {});
std::string matrix_junit(const matrix_result& result);
std::string matrix_html(const matrix_result& result, const std::filesystem::path& links_from = {});
// What a cell's run left, from its report: "clean", "1 shm", "2 file, 1 survivor".
std::string cell_left(const nlohmann::json& report);

// Reads a matrix JSON written by matrix_json; `dir` is where it lies (its log names are
// relative to it). Throws std::runtime_error naming what is wrong.
matrix_result matrix_from_json(const nlohmann::json& doc, const std::filesystem::path& dir);

// One matrix of shards: cells in catalog order (the shards' row and column order). Throws
// std::invalid_argument when two reports hold the same cell, when the shards disagree on the
// selection, or when cells are missing (a shard not given).
matrix_result merge_matrices(const std::vector<matrix_result>& parts,
                             const std::vector<std::string>& names = {});

}  // namespace afterlife

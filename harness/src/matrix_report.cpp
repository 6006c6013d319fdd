// The matrix's four views: the terminal table, JSON, JUnit XML and a self-contained HTML page.
#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "afterlife/harness/catalog.hpp"
#include "afterlife/harness/matrix.hpp"
#include "junit.hpp"

#include <fstream>
#include <set>

namespace afterlife {

namespace {

const char* verdict_name(cell_verdict v) {
  switch (v) {
    case cell_verdict::pass: return "pass";
    case cell_verdict::fail: return "fail";
    case cell_verdict::error: return "error";
  }
  return "error";
}

bool is_gap(const matrix_result& result, const std::string& scenario, const std::string& mode) {
  for (const auto& g : result.not_applicable)
    if (g.scenario == scenario && g.mode == mode) return true;
  return false;
}

// The end of a cell's log for <system-out>: the last 64 KiB (a runaway program's output would
// otherwise make the report too big to open).
std::string log_tail(const std::filesystem::path& path) {
  constexpr std::streamoff limit = 64 * 1024;
  std::ifstream in(path, std::ios::binary);
  if (path.empty() || !in) return {};
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff from = size > limit ? size - limit : 0;
  in.seekg(from);
  std::string text(static_cast<std::size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return from > 0 ? "[... the first " + std::to_string(from) + " bytes left out ...]\n" + text : text;
}

std::string log_link(const std::filesystem::path& log, const std::filesystem::path& links_from) {
  if (log.empty() || links_from.empty()) return log.string();
  return log.lexically_relative(std::filesystem::absolute(links_from)).generic_string();
}

const matrix_cell_result* find_cell(const matrix_result& result, const std::string& scenario,
                                    const std::string& mode) {
  for (const auto& c : result.cells)
    if (c.scenario == scenario && c.mode == mode) return &c;
  return nullptr;
}


}  // namespace

std::string matrix_table(const matrix_result& result, bool colour) {
  std::size_t name_width = 8;
  for (const auto& s : result.scenarios) name_width = std::max(name_width, s.size());
  std::map<std::string, std::size_t> width;
  std::size_t mode_width = 0;
  for (const auto& m : result.modes) {
    width[m] = std::max<std::size_t>(m.size(), 3);
    mode_width = std::max(mode_width, m.size());
  }

  const char* green = colour ? "\033[32m" : "";
  const char* red = colour ? "\033[31m" : "";
  const char* dim = colour ? "\033[2m" : "";
  const char* reset = colour ? "\033[0m" : "";

  std::string out = fmt::format("{:<{}}", "scenario", name_width);
  for (const auto& m : result.modes) out += fmt::format("  {:^{}}", m, width[m]);
  out += "\n";
  for (const auto& s : result.scenarios) {
    out += fmt::format("{:<{}}", s, name_width);
    for (const auto& m : result.modes) {
      const auto* c = find_cell(result, s, m);
      // Symbols are one column wide each; pad by hand so colour codes do not disturb alignment.
      // "·" does not apply; blank: another shard's cell.
      std::string symbol = !c && !is_gap(result, s, m) ? std::string(" ")
                           : !c ? fmt::format("{}·{}", dim, reset)
                           : c->verdict == cell_verdict::pass ? fmt::format("{}✓{}", green, reset)
                                                              : fmt::format("{}✗{}", red, reset);
      std::size_t left = (width[m] - 1) / 2, right = width[m] - 1 - left;
      out += "  " + std::string(left, ' ') + symbol + std::string(right, ' ');
    }
    out += "\n";
  }

  std::string reasons;
  for (const auto& c : result.cells) {
    if (c.verdict == cell_verdict::pass) continue;
    reasons += fmt::format("{}✗{} {} × {}: {}\n", red, reset, c.scenario, c.mode, c.reason);
  }
  if (!reasons.empty()) out += "\n" + reasons;
  out += "\n";
  for (const auto& m : result.modes)
    if (auto situation = mode_situation(m); !situation.empty())
      out += fmt::format("{}{:<{}}{}  {}\n", dim, m, mode_width, reset, situation);
  out += "\n" + matrix_summary(result);
  return out;
}

std::string matrix_summary(const matrix_result& result) {
  std::size_t passed = 0;
  for (const auto& c : result.cells) passed += c.verdict == cell_verdict::pass;
  std::string shard = result.shard ? fmt::format(" · shard {}/{} of {} cells", result.shard->index,
                                                 result.shard->count, result.selection_cells)
                                   : std::string{};
  return fmt::format("{} cells: {} as expected, {} not · {} scenarios × {} modes{} · {:.1f} s\n",
                     result.cells.size(), passed, result.cells.size() - passed, result.scenarios.size(),
                     result.modes.size(), shard, static_cast<double>(result.elapsed.count()) / 1000.0);
}

nlohmann::json matrix_json(const matrix_result& result, const std::filesystem::path& links_from) {
  nlohmann::json cells = nlohmann::json::array();
  for (const auto& c : result.cells) {
    cells.push_back({{"scenario", c.scenario},
                     {"mode", c.mode},
                     {"expected", c.expected},
                     {"verdict", verdict_name(c.verdict)},
                     {"reason", c.reason},
                     {"duration_ms", c.duration.count()},
                     {"log", log_link(c.log, links_from)},
                     {"report", c.report}});
  }
  nlohmann::json gaps = nlohmann::json::array();
  for (const auto& g : result.not_applicable)
    gaps.push_back({{"scenario", g.scenario}, {"mode", g.mode}, {"reason", g.reason}});
  nlohmann::json situations = nlohmann::json::object();
  for (const auto& m : result.modes) situations[m] = std::string(mode_situation(m));
  nlohmann::json shard = result.shard ? nlohmann::json{{"index", result.shard->index},
                                                        {"count", result.shard->count},
                                                        {"selection_cells", result.selection_cells}}
                                      : nlohmann::json(nullptr);
  return {{"schema", "afterlife.matrix/1"},
          {"elapsed_ms", result.elapsed.count()},
          {"started", junit::iso_timestamp(result.started) + "Z"},
          {"hostname", result.hostname},
          {"shard", shard},
          {"modes", result.modes},
          {"mode_situations", situations},
          {"scenarios", result.scenarios},
          {"summaries", result.summaries},
          {"cells", cells},
          {"not_applicable", gaps}};
}

std::string matrix_junit(const matrix_result& result) {
  // One case per place of the table, in row then column order: a cell that ran, or one that
  // does not apply (skipped, with the catalog's reason).
  junit::test_suite suite;
  suite.name = "afterlife.matrix";
  suite.seconds = static_cast<double>(result.elapsed.count()) / 1000.0;
  suite.started = result.started;
  suite.hostname = result.hostname;
  for (const auto& s : result.scenarios) {
    for (const auto& m : result.modes) {
      junit::test_case t;
      t.classname = "scenario." + s;
      t.name = m;
      const auto* c = find_cell(result, s, m);
      if (c == nullptr) {
        if (!is_gap(result, s, m)) continue;  // another shard's
        auto gap = std::find_if(result.not_applicable.begin(), result.not_applicable.end(),
                                [&](const matrix_gap& g) { return g.scenario == s && g.mode == m; });
        t.result = junit::outcome::skipped;
        t.message = gap->reason.empty() ? "does not apply" : "does not apply: " + gap->reason;
        suite.cases.push_back(std::move(t));
        continue;
      }
      t.seconds = static_cast<double>(c->duration.count()) / 1000.0;
      t.system_out = log_tail(c->log);
      if (c->verdict != cell_verdict::pass) {
        t.result = c->verdict == cell_verdict::fail ? junit::outcome::failed : junit::outcome::errored;
        t.message = c->reason;
        t.body = junit::failure_body(c->report);
      }
      suite.cases.push_back(std::move(t));
    }
  }
  return junit::to_xml(suite);
}

}  // namespace afterlife

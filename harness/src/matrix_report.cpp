// The matrix's four views: the terminal table, JSON, JUnit XML and a self-contained HTML page.
#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "afterlife/harness/catalog.hpp"
#include "afterlife/harness/matrix.hpp"
#include "xml_escape.hpp"

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
      std::string symbol = !c ? fmt::format("{}·{}", dim, reset)
                           : c->verdict == cell_verdict::pass ? fmt::format("{}✓{}", green, reset)
                                                              : fmt::format("{}✗{}", red, reset);
      std::size_t left = (width[m] - 1) / 2, right = width[m] - 1 - left;
      out += "  " + std::string(left, ' ') + symbol + std::string(right, ' ');
    }
    out += "\n";
  }

  std::size_t passed = 0;
  std::string reasons;
  for (const auto& c : result.cells) {
    if (c.verdict == cell_verdict::pass) {
      ++passed;
      continue;
    }
    reasons += fmt::format("{}✗{} {} × {}: {}\n", red, reset, c.scenario, c.mode, c.reason);
  }
  if (!reasons.empty()) out += "\n" + reasons;
  out += "\n";
  for (const auto& m : result.modes)
    if (auto situation = mode_situation(m); !situation.empty())
      out += fmt::format("{}{:<{}}{}  {}\n", dim, m, mode_width, reset, situation);
  out += fmt::format("\n{} cells: {} as expected, {} not · {} scenarios × {} modes · {:.1f} s\n",
                     result.cells.size(), passed, result.cells.size() - passed, result.scenarios.size(),
                     result.modes.size(), static_cast<double>(result.elapsed.count()) / 1000.0);
  return out;
}

nlohmann::json matrix_json(const matrix_result& result) {
  nlohmann::json cells = nlohmann::json::array();
  for (const auto& c : result.cells) {
    cells.push_back({{"scenario", c.scenario},
                     {"mode", c.mode},
                     {"expected", c.expected},
                     {"verdict", verdict_name(c.verdict)},
                     {"reason", c.reason},
                     {"duration_ms", c.duration.count()},
                     {"report", c.report}});
  }
  nlohmann::json gaps = nlohmann::json::array();
  for (const auto& g : result.not_applicable)
    gaps.push_back({{"scenario", g.scenario}, {"mode", g.mode}, {"reason", g.reason}});
  nlohmann::json situations = nlohmann::json::object();
  for (const auto& m : result.modes) situations[m] = std::string(mode_situation(m));
  return {{"schema", "afterlife.matrix/1"},
          {"elapsed_ms", result.elapsed.count()},
          {"modes", result.modes},
          {"mode_situations", situations},
          {"scenarios", result.scenarios},
          {"cells", cells},
          {"not_applicable", gaps}};
}

std::string matrix_junit(const matrix_result& result) {
  std::size_t failures = 0, errors = 0;
  for (const auto& c : result.cells) {
    failures += c.verdict == cell_verdict::fail;
    errors += c.verdict == cell_verdict::error;
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites><testsuite name=\"afterlife.matrix\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                     result.cells.size(), failures, errors, static_cast<double>(result.elapsed.count()) / 1000.0);
  for (const auto& c : result.cells) {
    out += fmt::format("  <testcase classname=\"scenario.{}\" name=\"{}\" time=\"{:.3f}\"", detail::xml_escape(c.scenario),
                       detail::xml_escape(c.mode), static_cast<double>(c.duration.count()) / 1000.0);
    if (c.verdict == cell_verdict::pass) {
      out += "/>\n";
      continue;
    }
    const char* tag = c.verdict == cell_verdict::fail ? "failure" : "error";
    out += fmt::format(">\n    <{} message=\"{}\"/>\n  </testcase>\n", tag, detail::xml_escape(c.reason));
  }
  out += "</testsuite></testsuites>\n";
  return out;
}

}  // namespace afterlife

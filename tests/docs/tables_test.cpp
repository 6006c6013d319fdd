// The documentation's tables of kinds, modes and phases against their one declaration: a row
// missed, added or out of order when a kind, a mode or a phase changes fails here.
#include <afterlife/protocol.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "afterlife/harness/modes.hpp"
#include "afterlife/harness/run.hpp"
#include "catch.hpp"
#include "lifecycle/phases.hpp"

namespace {

std::string read_doc(const std::string& relative) {
  std::ifstream in(std::string(AFTERLIFE_SOURCE_DIR) + "/" + relative);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim_cell(std::string cell) {
  std::string out;
  for (char c : cell)
    if (c != '`') out += c;
  auto first = out.find_first_not_of(' ');
  auto last = out.find_last_not_of(' ');
  return first == std::string::npos ? std::string{} : out.substr(first, last - first + 1);
}

// The body rows of the first table after the line `heading`, each split into its cells
// (backticks and padding removed).
std::vector<std::vector<std::string>> table_after(const std::string& doc, const std::string& heading) {
  std::istringstream lines(doc);
  std::string line;
  bool found = false;
  while (std::getline(lines, line))
    if (line == heading) {
      found = true;
      break;
    }
  INFO(heading);
  REQUIRE(found);
  std::vector<std::vector<std::string>> rows;
  bool in_table = false;
  int header_lines = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("|", 0) != 0) {
      if (in_table) break;
      if (line.rfind("#", 0) == 0) break;  // next section without a table
      continue;
    }
    in_table = true;
    if (header_lines < 2) {  // the header and the |---| line
      ++header_lines;
      continue;
    }
    std::vector<std::string> cells;
    std::string cell;
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|') {
        cells.push_back(trim_cell(cell));
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    rows.push_back(cells);
  }
  return rows;
}

std::string family_name(afterlife::protocol::kind_family family) {
  switch (family) {
    case afterlife::protocol::kind_family::posix_name: return "posix_name";
    case afterlife::protocol::kind_family::sysv: return "sysv";
    case afterlife::protocol::kind_family::file: return "file";
  }
  return "?";
}

}  // namespace

TEST_CASE("docs/architecture.md's kinds table is AFTERLIFE_KINDS, in order, with each family") {
  auto rows = table_after(read_doc("docs/architecture.md"), "### Leftover kinds");
  REQUIRE(rows.size() == afterlife::protocol::kinds.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& kind = afterlife::protocol::kinds[i];
    CHECK(rows[i].at(0) == kind.name);
    CHECK(rows[i].at(1) == family_name(kind.family));
  }
}

TEST_CASE("docs/architecture.md's run modes table is AFTERLIFE_RUN_MODES, in order") {
  auto rows = table_after(read_doc("docs/architecture.md"), "### Run modes");
  REQUIRE(rows.size() == std::size(afterlife::run_modes));
  for (std::size_t i = 0; i < rows.size(); ++i) CHECK(rows[i].at(0) == afterlife::run_modes[i].name);
}

// The words of `set(NAME word...)` in cmake/afterlife-functions.cmake (installed without the
// C++ registries, so it holds copies of their names).
std::vector<std::string> cmake_list(const std::string& name) {
  std::string text = read_doc("cmake/afterlife-functions.cmake");
  std::string head = "set(" + name + " ";
  auto at = text.find(head);
  INFO(head);
  REQUIRE(at != std::string::npos);
  auto end = text.find(')', at);
  std::istringstream words(text.substr(at + head.size(), end - at - head.size()));
  std::vector<std::string> result;
  for (std::string word; words >> word;) result.push_back(word);
  return result;
}

TEST_CASE("afterlife_add_test's modes and kinds are AFTERLIFE_RUN_MODES and AFTERLIFE_KINDS") {
  std::vector<std::string> modes;
  for (const auto& mode : afterlife::run_modes) modes.emplace_back(mode.name);
  CHECK(cmake_list("AFTERLIFE_RUN_MODES") == modes);
  std::vector<std::string> kinds;
  for (const auto& kind : afterlife::protocol::kinds) kinds.emplace_back(kind.name);
  CHECK(cmake_list("AFTERLIFE_KINDS") == kinds);
}

TEST_CASE("docs/architecture.md's cell modes table is AFTERLIFE_CELL_MODES, in order, as each runs") {
  auto rows = table_after(read_doc("docs/architecture.md"),
                          "### Catalog (`scenarios/catalog.json`, `\"schema\": \"afterlife.catalog/1\"`)");
  REQUIRE(rows.size() == std::size(afterlife::cell_modes));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& mode = afterlife::cell_modes[i];
    INFO(mode.name);
    CHECK(rows[i].at(0) == mode.name);
    CHECK(rows[i].at(1) == (mode.chooser == afterlife::mode_chooser::program ? "program" : "harness"));
    CHECK(rows[i].at(2) == afterlife::to_string(mode.run_mode));
    CHECK(rows[i].at(3) == mode.exit_as);
  }
}

TEST_CASE("the phase tables of docs/architecture.md and lifecycle/README.md are LIFECYCLE_PHASES, in order") {
  auto doc_rows = table_after(read_doc("docs/architecture.md"), "## The finalization phases");
  auto readme_rows = table_after(read_doc("lifecycle/README.md"), "## Runtime and finalization");
  REQUIRE(doc_rows.size() == lifecycle::phase_count);
  REQUIRE(readme_rows.size() == lifecycle::phase_count);
  for (std::size_t i = 0; i < lifecycle::phase_count; ++i) {
    auto p = static_cast<lifecycle::phase>(i);
    INFO(lifecycle::phase_name(p));
    CHECK(doc_rows[i].at(0) == std::to_string(i + 1));
    CHECK(doc_rows[i].at(1) == lifecycle::phase_name(p));
    CHECK(doc_rows[i].at(2) == lifecycle::phase_summary(p));
    CHECK(readme_rows[i].at(1) == lifecycle::phase_name(p));
  }
}

#include "afterlife/harness/matrix.hpp"
#include "catch.hpp"

#include <sys/wait.h>

namespace {

afterlife::catalog two_scenarios() {
  afterlife::catalog cat;
  cat.modes = {"normal", "sigkill", "tree-kill"};
  afterlife::catalog_scenario a;
  a.name = "alpha";
  a.expect = {{"normal", {"clean"}}, {"sigkill", {"signal=KILL"}}};
  afterlife::catalog_scenario b;
  b.name = "beta";
  b.expect = {{"tree-kill", {"posix_shm=1"}}};
  b.not_applicable = {{"sigkill", "no checkpoint to kill at"}};
  cat.scenarios = {a, b};
  return cat;
}

int exited_with(int code) { return code << 8; }  // the raw wait status of exit(code)

nlohmann::json failing_report() {
  return {{"exit", {{"pid", 42}, {"signal", 9}, {"signal_name", "KILL"}, {"core_dumped", false}}},
          {"expectations", {{{"expr", "signal=KILL"}, {"met", true}}, {{"expr", "posix_shm=0"}, {"met", false}}}},
          {"leftovers", {{{"kind", "posix_shm"}, {"name", "/x"}}}},
          {"survivors", nlohmann::json::array()},
          {"verdict", "fail"}};
}

}  // namespace

TEST_CASE("select_cells keeps catalog order and applies the filters") {
  auto cat = two_scenarios();
  auto all = afterlife::select_cells(cat, {}, {});
  REQUIRE(all.size() == 3);
  CHECK(all[0].scenario->name == "alpha");
  CHECK(all[0].mode == "normal");
  CHECK(all[1].mode == "sigkill");
  CHECK(all[2].scenario->name == "beta");
  CHECK(afterlife::select_cells(cat, {"beta"}, {}).size() == 1);
  CHECK(afterlife::select_cells(cat, {}, {"sigkill", "tree-kill"}).size() == 2);
  CHECK(afterlife::select_cells(cat, {"alpha"}, {"tree-kill"}).empty());
  CHECK_THROWS_WITH(afterlife::select_cells(cat, {"gamma"}, {}), "no scenario 'gamma' in the catalog");
  CHECK_THROWS_WITH(afterlife::select_cells(cat, {}, {"abort"}), "no mode 'abort' in the catalog");
}

TEST_CASE("judge_cell: exit 0 passes, exit 1 names the unmet expectation and what happened") {
  auto cat = two_scenarios();
  auto cells = afterlife::select_cells(cat, {}, {});
  auto pass = afterlife::judge_cell(cells[0], exited_with(0), nlohmann::json{{"verdict", "pass"}}, "");
  CHECK(pass.verdict == afterlife::cell_verdict::pass);
  CHECK(pass.reason.empty());
  CHECK(pass.expected == std::vector<std::string>{"clean"});

  auto fail = afterlife::judge_cell(cells[1], exited_with(1), failing_report(), "");
  CHECK(fail.verdict == afterlife::cell_verdict::fail);
  CHECK(fail.reason == "not met: posix_shm=0 (got killed by SIGKILL, 1 leftover(s), 0 survivor(s))");
  CHECK(fail.report["exit"]["pid"] == 42);
}

TEST_CASE("judge_cell: a harness error, a crashed harness and a missing report are errors") {
  auto cat = two_scenarios();
  auto cells = afterlife::select_cells(cat, {}, {});
  auto usage = afterlife::judge_cell(cells[0], exited_with(2), std::nullopt, "afterlife: bad --at");
  CHECK(usage.verdict == afterlife::cell_verdict::error);
  CHECK(usage.reason == "afterlife run exited 2: afterlife: bad --at");
  auto crashed = afterlife::judge_cell(cells[0], SIGSEGV, std::nullopt, "");
  CHECK(crashed.verdict == afterlife::cell_verdict::error);
  CHECK(crashed.reason == "afterlife run was killed by signal 11");
  auto no_report = afterlife::judge_cell(cells[0], exited_with(0), std::nullopt, "");
  CHECK(no_report.verdict == afterlife::cell_verdict::error);
  CHECK(no_report.reason == "afterlife run exited 0 (no JSON report written)");
}

namespace {

afterlife::matrix_result small_result() {
  auto cat = two_scenarios();
  auto cells = afterlife::select_cells(cat, {}, {});
  afterlife::matrix_result r;
  r.modes = cat.modes;
  r.scenarios = {"alpha", "beta"};
  r.not_applicable = afterlife::matrix_gaps(cat, r.scenarios, r.modes);
  r.cells.push_back(afterlife::judge_cell(cells[0], exited_with(0), nlohmann::json{{"verdict", "pass"}}, ""));
  r.cells.push_back(afterlife::judge_cell(cells[1], exited_with(1), failing_report(), ""));
  r.cells.push_back(afterlife::judge_cell(cells[2], exited_with(0), nlohmann::json{{"out", "</script><b>"}}, ""));
  r.elapsed = std::chrono::milliseconds(1500);
  return r;
}

}  // namespace

TEST_CASE("the table marks each cell, dots what does not apply and lists the reasons") {
  auto r = small_result();
  CHECK_FALSE(r.all_met());
  CHECK(afterlife::matrix_table(r, false) ==
        "scenario  normal  sigkill  tree-kill\n"
        "alpha       ✓        ✗         ·    \n"
        "beta        ·        ·         ✓    \n"
        "\n"
        "✗ alpha × sigkill: not met: posix_shm=0 (got killed by SIGKILL, 1 leftover(s), 0 survivor(s))\n"
        "\n"
        "normal     exit(0) at the end of main: an orderly shutdown\n"
        "sigkill    kill -9 PID, the OOM killer: SIGKILL to the main process only\n"
        "tree-kill  systemd KillMode=control-group, docker kill, a CI job's cgroup torn down: "
        "SIGKILL to every process of the run at once\n"
        "\n"
        "3 cells: 2 as expected, 1 not · 2 scenarios × 3 modes · 1.5 s\n");
}

TEST_CASE("matrix JSON has the afterlife.matrix/1 shape") {
  auto j = afterlife::matrix_json(small_result());
  CHECK(j["schema"] == "afterlife.matrix/1");
  CHECK(j["elapsed_ms"] == 1500);
  CHECK(j["mode_situations"]["sigkill"] ==
        "kill -9 PID, the OOM killer: SIGKILL to the main process only");
  REQUIRE(j["cells"].size() == 3);
  CHECK(j["cells"][1]["scenario"] == "alpha");
  CHECK(j["cells"][1]["mode"] == "sigkill");
  CHECK(j["cells"][1]["expected"] == nlohmann::json{"signal=KILL"});
  CHECK(j["cells"][1]["verdict"] == "fail");
  CHECK(j["cells"][1]["report"]["exit"]["signal_name"] == "KILL");
  // The table's empty places, with the catalog's reason where it gives one.
  CHECK(j["not_applicable"] == nlohmann::json::array({
                                   {{"scenario", "alpha"}, {"mode", "tree-kill"}, {"reason", ""}},
                                   {{"scenario", "beta"}, {"mode", "normal"}, {"reason", ""}},
                                   {{"scenario", "beta"}, {"mode", "sigkill"}, {"reason", "no checkpoint to kill at"}},
                               }));
}

TEST_CASE("JUnit has one testcase per cell and a failure for each unmet one") {
  auto xml = afterlife::matrix_junit(small_result());
  CHECK_THAT(xml, Catch::Matchers::ContainsSubstring(R"(tests="3" failures="1" errors="0")"));
  CHECK_THAT(xml, Catch::Matchers::ContainsSubstring(R"(<testcase classname="scenario.alpha" name="normal")"));
  CHECK_THAT(xml, Catch::Matchers::ContainsSubstring(
                      R"x(<failure message="not met: posix_shm=0 (got killed by SIGKILL, 1 leftover(s), 0 survivor(s))"/>)x"));
}

TEST_CASE("the HTML page embeds the data without letting it close the script element") {
  auto html = afterlife::matrix_html(small_result());
  CHECK_THAT(html, Catch::Matchers::ContainsSubstring("\"schema\":\"afterlife.matrix/1\""));
  CHECK_THAT(html, Catch::Matchers::ContainsSubstring(R"(<\/script><b>)"));
  // The only closing script tags are the page's own two.
  std::size_t closes = 0;
  for (auto at = html.find("</script>"); at != std::string::npos; at = html.find("</script>", at + 1)) ++closes;
  CHECK(closes == 2);
}

#include "afterlife/harness/matrix.hpp"
#include "catch.hpp"

#include <fmt/core.h>

#include "terminal.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

using Catch::Matchers::ContainsSubstring;

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
  auto odd = afterlife::judge_cell(cells[2], exited_with(0), nlohmann::json{{"verdict", "pass"}}, "");
  odd.reason = "</script><b>";
  r.cells.push_back(odd);
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

TEST_CASE("the HTML page embeds the data without letting it close the script element") {
  auto html = afterlife::matrix_html(small_result());
  CHECK_THAT(html, Catch::Matchers::ContainsSubstring(R"("scenarios":["alpha","beta"])"));
  CHECK_THAT(html, Catch::Matchers::ContainsSubstring(R"(<\/script><b>)"));
  // The only closing script tags are the page's own two.
  std::size_t closes = 0;
  for (auto at = html.find("</script>"); at != std::string::npos; at = html.find("</script>", at + 1)) ++closes;
  CHECK(closes == 2);
}

namespace {

// A report as `afterlife run --json` writes it, with a leftover its run created and a survivor.
nlohmann::json leaking_report() {
  return {{"exit", {{"pid", 42}, {"signal", 9}, {"signal_name", "KILL"}, {"core_dumped", false}}},
          {"expectations", {{{"expr", "signal=KILL"}, {"met", true}, {"actual", "SIGKILL"}},
                            {{"expr", "posix_shm=0"}, {"met", false}, {"actual", "1"}}}},
          {"leftovers", {{{"kind", "posix_shm"}, {"name", "/x"}, {"cleanup", "rm /dev/shm/x"}, {"reaped", false},
                          {"creator", {{"pid", 42}, {"site", "main+0x10"}, {"callers", {"__libc_start_main+0x80"}}}}}}},
          {"survivors", {{{"pid", 43}, {"command", "sleep 100"}}}},
          {"verdict", "fail"}};
}

struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& text) {
    std::string templ = (std::filesystem::temp_directory_path() / "afterlife-matrix-log-XXXXXX").string();
    int fd = ::mkstemp(templ.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    path = templ;
    std::ofstream(path) << text;
  }
  ~temp_file() { std::filesystem::remove(path); }
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The structure junit-10.xsd (Jenkins' xunit plugin) requires of what we write, in a schema of
// our own: testsuites > testsuite (name, tests, failures, errors required) > testcase (name
// required) with skipped / failure / error / system-out.
constexpr const char* junit_structure_xsd = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:complexType name="outcome" mixed="true">
    <xs:attribute name="message" type="xs:string"/><xs:attribute name="type" type="xs:string"/>
  </xs:complexType>
  <xs:element name="testsuites"><xs:complexType><xs:sequence>
    <xs:element name="testsuite" maxOccurs="unbounded"><xs:complexType><xs:sequence>
      <xs:element name="testcase" minOccurs="0" maxOccurs="unbounded"><xs:complexType>
        <xs:choice minOccurs="0" maxOccurs="unbounded">
          <xs:element name="skipped" type="outcome"/><xs:element name="failure" type="outcome"/>
          <xs:element name="error" type="outcome"/><xs:element name="system-out" type="xs:string"/>
        </xs:choice>
        <xs:attribute name="name" type="xs:string" use="required"/>
        <xs:attribute name="classname" type="xs:string"/>
        <xs:attribute name="time" type="xs:decimal"/>
      </xs:complexType></xs:element>
      <xs:element name="system-out" type="xs:string" minOccurs="0"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="xs:decimal"/>
      <xs:attribute name="timestamp" type="xs:dateTime"/>
      <xs:attribute name="hostname" type="xs:string"/>
    </xs:complexType></xs:element>
  </xs:sequence>
  <xs:attribute name="name" type="xs:string"/><xs:attribute name="time" type="xs:decimal"/>
  <xs:attribute name="tests" type="xs:string"/><xs:attribute name="failures" type="xs:string"/>
  <xs:attribute name="errors" type="xs:string"/>
  </xs:complexType></xs:element>
</xs:schema>
)";

}  // namespace

TEST_CASE("matrix JUnit: a case per place, skipped for what does not apply, leftovers in the failure body, the log in system-out") {
  auto r = small_result();
  r.cells[1] = afterlife::judge_cell(afterlife::select_cells(two_scenarios(), {}, {})[1], exited_with(1), leaking_report(), "");
  temp_file log("alpha sigkill's log: <ready>\n");
  r.cells[1].log = log.path;
  r.cells[1].duration = std::chrono::milliseconds(1234);
  r.hostname = "ci-runner-7";
  r.started = std::chrono::system_clock::from_time_t(1796325635);  // 2026-12-03T19:20:35Z
  auto xml = afterlife::matrix_junit(r);

  CHECK_THAT(xml, ContainsSubstring(R"(<testsuites name="afterlife.matrix" tests="6" failures="1" errors="0" time="1.500">)"));
  CHECK_THAT(xml, ContainsSubstring(R"(<testsuite name="afterlife.matrix" tests="6" failures="1" errors="0" skipped="3" time="1.500" timestamp="2026-12-03T19:20:35" hostname="ci-runner-7">)"));
  CHECK(count(xml, "<testcase ") == 6);
  CHECK_THAT(xml, ContainsSubstring(R"(<testcase classname="scenario.alpha" name="normal" time="0.000"/>)"));
  CHECK_THAT(xml, ContainsSubstring("<testcase classname=\"scenario.beta\" name=\"sigkill\" time=\"0.000\">\n"
                                    "      <skipped message=\"does not apply: no checkpoint to kill at\"/>"));
  CHECK_THAT(xml, ContainsSubstring("<testcase classname=\"scenario.alpha\" name=\"tree-kill\" time=\"0.000\">\n"
                                    "      <skipped message=\"does not apply\"/>"));
  CHECK_THAT(xml, ContainsSubstring(
      "<testcase classname=\"scenario.alpha\" name=\"sigkill\" time=\"1.234\">\n"
      "      <failure message=\"not met: posix_shm=0 (got killed by SIGKILL, 1 leftover(s), 1 survivor(s))\">"
      "killed by SIGKILL (pid 42)\n"
      "not met: posix_shm=0 (actual: 1)\n"
      "leftover posix_shm /x: created by pid 42 at main+0x10 &lt;- __libc_start_main+0x80; remove: rm /dev/shm/x\n"
      "survivor pid 43: sleep 100\n"
      "</failure>\n"
      "      <system-out>alpha sigkill's log: &lt;ready&gt;\n</system-out>\n"
      "    </testcase>"));

  if (std::system("command -v xmllint >/dev/null 2>&1") == 0) {
    temp_file xsd(junit_structure_xsd), doc(xml);
    CHECK(std::system(("xmllint --noout --schema " + xsd.path.string() + " " + doc.path.string() + " 2>/dev/null").c_str()) == 0);
  }
}

TEST_CASE("matrix JUnit: bytes that are not UTF-8 or XML never break the document") {
  auto r = small_result();
  temp_file log(std::string("bad \xff\xfe bytes \x01 and fine é\n"));
  r.cells[0].log = log.path;
  auto xml = afterlife::matrix_junit(r);
  CHECK_THAT(xml, ContainsSubstring("<system-out>bad ?? bytes ? and fine é\n</system-out>"));
}

TEST_CASE("cell_left says what a run left, so leaking and clean cells differ") {
  CHECK(afterlife::cell_left(nlohmann::json{{"leftovers", nlohmann::json::array()}}) == "clean");
  CHECK(afterlife::cell_left(leaking_report()) == "1 shm, 1 survivor");
  nlohmann::json two{{"leftovers", {{{"kind", "file"}}, {{"kind", "sysv_shm"}}, {{"kind", "file"}}}},
                     {"survivors", {{{"pid", 1}}, {{"pid", 2}}}}};
  CHECK(afterlife::cell_left(two) == "2 file, 1 sysv_shm, 2 survivors");
  CHECK(afterlife::cell_left(nullptr) == "no report");
}

TEST_CASE("the HTML page: a legend, filters, each cell's digest with what it left and its log, no external resource") {
  auto r = small_result();
  r.cells[1] = afterlife::judge_cell(afterlife::select_cells(two_scenarios(), {}, {})[1], exited_with(1), leaking_report(), "");
  r.cells[1].log = "/reports/cells/alpha.sigkill.log";
  r.cells[1].duration = std::chrono::milliseconds(1260);
  r.summaries = {{"alpha", "alpha's summary"}};
  auto html = afterlife::matrix_html(r, "/reports");
  CHECK_THAT(html, ContainsSubstring(R"(<div class="legend">)"));
  for (const char* filter : {R"(id="f-scenario")", R"(id="f-mode")", R"(id="f-verdict")"})
    CHECK_THAT(html, ContainsSubstring(filter));
  CHECK_THAT(html, ContainsSubstring(R"("left":"1 shm, 1 survivor")"));
  CHECK_THAT(html, ContainsSubstring(R"("log":"cells/alpha.sigkill.log")"));
  CHECK_THAT(html, ContainsSubstring(R"("t":1.3)"));
  CHECK_THAT(html, ContainsSubstring(R"("summaries":{"alpha":"alpha's summary"})"));
  CHECK_THAT(html, ContainsSubstring(R"(["posix_shm","/x","pid 42 at main+0x10","rm /dev/shm/x","no"])"));
  CHECK(html.find("src=\"http") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
}

TEST_CASE("the HTML page of a full 37 × 11 matrix of realistic reports stays under 300 KB") {
  afterlife::catalog cat;
  cat.modes = {"normal", "error", "exception", "immediate", "abort", "sigint", "sigterm", "sigkill", "group-kill", "tree-kill", "child-death"};
  for (int i = 0; i < 37; ++i) {
    afterlife::catalog_scenario s;
    s.name = fmt::format("scenario_number_{:02}_with_a_long_name", i);
    s.summary = std::string(150, 's');
    for (const auto& m : cat.modes) s.expect[m] = {"exit=0", "phases=10", "leftovers=0", "survivors=0"};
    cat.scenarios.push_back(s);
  }
  // What a real cell's report holds (measured: ~2.2 KB of JSON): seven expectations, ten
  // phases, a leftover with its creator and callers, notes; the long output~ regexes of the
  // real catalog.
  nlohmann::json report = leaking_report();
  for (int e = 0; e < 5; ++e)
    report["expectations"].push_back({{"expr", "output~del y b=set[\\s\\S]*del _x b=set[\\s\\S]*del cycle[\\s\\S]*del"}, {"met", true}, {"actual", "matched"}});
  for (int p = 0; p < 10; ++p) report["phases"].push_back({{"name", "finalize_modules"}, {"begin_ms", 1.5}, {"end_ms", 2.5}});
  report["leftovers"][0]["creator"]["callers"] = {"shm_worker+0x2a", "run_worker+0x11", "main+0x10"};
  report["notes"] = {std::string(200, 'n')};
  afterlife::matrix_result r;
  r.modes = cat.modes;
  for (const auto& s : cat.scenarios) r.scenarios.push_back(s.name), r.summaries[s.name] = s.summary;
  for (const auto& cell : afterlife::select_cells(cat, {}, {})) {
    auto c = afterlife::judge_cell(cell, exited_with(1), report, "");
    c.log = "/reports/cells/" + cell.scenario->name + "." + cell.mode + ".log";
    c.duration = std::chrono::milliseconds(2345);
    r.cells.push_back(c);
  }
  REQUIRE(r.cells.size() == 407);
  auto html = afterlife::matrix_html(r, "/reports");
  CHECK(html.size() < 300 * 1024);
}

TEST_CASE("parse_shard and shard_cells: every cell in exactly one shard, by catalog index") {
  CHECK(afterlife::parse_shard("2/3").index == 2);
  CHECK(afterlife::parse_shard("2/3").count == 3);
  CHECK(afterlife::parse_shard("1/1").count == 1);
  for (const char* bad : {"0/3", "4/3", "3", "/3", "1/", "a/b", "1/3/4", "1/0", "-1/2", " 1/2"})
    CHECK_THROWS_AS(afterlife::parse_shard(bad), std::invalid_argument);
  CHECK_THROWS_WITH(afterlife::parse_shard("4/3"), "bad --shard '4/3': K must be from 1 to N, and N at least 1");

  auto cat = two_scenarios();
  auto cells = afterlife::select_cells(cat, {}, {});
  for (unsigned n = 1; n <= 5; ++n) {
    std::vector<std::string> seen;
    for (unsigned k = 1; k <= n; ++k)
      for (const auto& c : afterlife::shard_cells(cells, {k, n})) seen.push_back(c.scenario->name + "/" + c.mode);
    std::sort(seen.begin(), seen.end());
    CHECK(seen == std::vector<std::string>{"alpha/normal", "alpha/sigkill", "beta/tree-kill"});
  }
  // Round-robin by index: shard 2/2 has the second cell.
  auto second = afterlife::shard_cells(cells, {2, 2});
  REQUIRE(second.size() == 1);
  CHECK(second[0].mode == "sigkill");
}

TEST_CASE("merge_matrices puts shards back in catalog order and refuses overlaps and gaps") {
  auto whole = small_result();
  auto part = [&](unsigned k, std::vector<std::size_t> which) {
    afterlife::matrix_result p = whole;
    p.cells.clear();
    for (auto i : which) p.cells.push_back(whole.cells[i]);
    p.shard = afterlife::matrix_shard{k, 2};
    p.selection_cells = 3;
    return p;
  };
  auto merged = afterlife::merge_matrices({part(2, {1}), part(1, {0, 2})}, {"b.json", "a.json"});
  REQUIRE(merged.cells.size() == 3);
  CHECK(merged.cells[0].mode == "normal");
  CHECK(merged.cells[1].mode == "sigkill");
  CHECK(merged.cells[2].scenario == "beta");
  CHECK_FALSE(merged.shard.has_value());
  CHECK_THROWS_WITH(afterlife::merge_matrices({part(1, {0, 2}), part(1, {1})}, {"a.json", "b.json"}),
                    "a.json and b.json are both shard 1/2");
  CHECK_THROWS_WITH(afterlife::merge_matrices({part(1, {0, 2})}, {"a.json"}),
                    "shard(s) 2/2 missing: a merge needs every shard");
  CHECK_THROWS_WITH(afterlife::merge_matrices({part(1, {0, 2}), part(2, {2})}, {"a.json", "b.json"}),
                    "the cell beta × tree-kill is in both a.json and b.json");
  CHECK_THROWS_WITH(afterlife::merge_matrices({part(1, {0}), part(2, {1})}, {"a.json", "b.json"}),
                    "the shards hold 2 cells of the 3 selected");
}

TEST_CASE("a matrix JSON read back is the matrix that wrote it") {
  auto r = small_result();
  r.cells[1].log = "/reports/cells/alpha.sigkill.log";
  r.summaries = {{"alpha", "a"}};
  auto back = afterlife::matrix_from_json(afterlife::matrix_json(r, "/reports"), "/elsewhere");
  CHECK(back.scenarios == r.scenarios);
  CHECK(back.modes == r.modes);
  REQUIRE(back.cells.size() == 3);
  CHECK(back.cells[1].verdict == afterlife::cell_verdict::fail);
  CHECK(back.cells[1].reason == r.cells[1].reason);
  CHECK(back.cells[1].log == "/elsewhere/cells/alpha.sigkill.log");
  CHECK(back.not_applicable.size() == 3);
  CHECK(back.summaries == r.summaries);
  CHECK(afterlife::matrix_json(back, "/elsewhere")["cells"] == afterlife::matrix_json(r, "/reports")["cells"]);
  CHECK_THROWS_WITH(afterlife::matrix_from_json(nlohmann::json{{"schema", "other"}}, "/"),
                    ContainsSubstring("not an afterlife matrix report"));
}

namespace {

// A pseudo-terminal's far end: a terminal for isatty, without needing one on the test's stdout.
struct pseudo_terminal {
  int master = -1, slave = -1;
  pseudo_terminal() {
    master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    REQUIRE(slave >= 0);
  }
  ~pseudo_terminal() {
    ::close(slave);
    ::close(master);
  }
};

// Sets or unsets one environment variable for a scope.
struct scoped_env {
  std::string name;
  std::optional<std::string> old;
  scoped_env(const char* n, const char* value) : name(n) {
    if (const char* v = std::getenv(n)) old = v;
    if (value) ::setenv(n, value, 1);
    else ::unsetenv(n);
  }
  ~scoped_env() {
    if (old) ::setenv(name.c_str(), old->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("colour: a terminal gets it unless NO_COLOR is non-empty or TERM is dumb, always and never win") {
  using afterlife::terminal::colour_choice;
  using afterlife::terminal::use_colour;
  pseudo_terminal tty;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  {
    scoped_env no_colour("NO_COLOR", nullptr), term("TERM", "xterm-256color");
    CHECK(use_colour(colour_choice::automatic, tty.slave));
    CHECK_FALSE(use_colour(colour_choice::automatic, fds[1]));
    CHECK(afterlife::terminal::can_redraw(tty.slave));
    CHECK(use_colour(colour_choice::always, fds[1]));
    CHECK_FALSE(use_colour(colour_choice::never, tty.slave));
  }
  {
    scoped_env no_colour("NO_COLOR", "1"), term("TERM", "xterm");
    CHECK_FALSE(use_colour(colour_choice::automatic, tty.slave));
    CHECK(use_colour(colour_choice::always, tty.slave));
  }
  {
    scoped_env no_colour("NO_COLOR", ""), term("TERM", "xterm");  // empty: as if unset
    CHECK(use_colour(colour_choice::automatic, tty.slave));
  }
  {
    scoped_env no_colour("NO_COLOR", nullptr), term("TERM", "dumb");
    CHECK_FALSE(use_colour(colour_choice::automatic, tty.slave));
    CHECK_FALSE(afterlife::terminal::can_redraw(tty.slave));
  }
  CHECK(afterlife::terminal::parse_colour_choice("always") == colour_choice::always);
  CHECK_THROWS_WITH(afterlife::terminal::parse_colour_choice("yes"), "bad --color 'yes' (auto, always, never)");
  ::close(fds[0]);
  ::close(fds[1]);
}

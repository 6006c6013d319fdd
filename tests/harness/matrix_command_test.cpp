// `afterlife matrix` end to end on a catalog of tiny shell scenarios this test writes: the
// per-cell lines of a piped matrix (before it finishes), colour, --quiet, --junit -, --shard and
// `matrix merge`.
#include "catch.hpp"
#include "child_process.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

namespace fs = std::filesystem;
using afterlife_test::run_child;
using Catch::Matchers::ContainsSubstring;

namespace {

// A fresh directory holding catalog.json and the scenario scripts it names, and a private
// runtime directory for the runs.
struct scenario_dir {
  fs::path root;
  scenario_dir() {
    std::string templ = (fs::temp_directory_path() / "afterlife-matrix-test-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    root = templ;
    fs::create_directories(root / "bin");
    fs::create_directories(root / "runtime");
  }
  ~scenario_dir() {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
  // A scenario is `bin/NAME --exit MODE ARGS...`: the body is a shell script.
  void script(const std::string& name, const std::string& body) const {
    auto path = root / "bin" / name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(path, fs::perms::owner_all);
  }
  void catalog(const nlohmann::json& scenarios) const {
    nlohmann::json doc{{"schema", "afterlife.catalog/1"}, {"modes", {"normal", "error"}}, {"scenarios", scenarios}};
    std::ofstream(root / "catalog.json") << doc.dump(2);
  }
  std::vector<std::string> matrix(std::vector<std::string> extra, const std::string& out = "out") const {
    std::vector<std::string> argv{AFTERLIFE_EXE, "matrix", "--catalog", (root / "catalog.json").string(),
                                  "--scenario-dir", (root / "bin").string(), "--out", (root / out).string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  afterlife_test::child_options env(std::map<std::string, std::string> more = {}) const {
    afterlife_test::child_options o;
    o.set_env = std::move(more);
    o.set_env["AFTERLIFE_RUNTIME_DIR"] = (root / "runtime").string();
    o.unset_env = {"NO_COLOR"};
    o.timeout = std::chrono::seconds(120);
    return o;
  }
};

// Three scenarios: two clean ones in both modes, one that does not apply in `error` and
// fails in `normal` (it expects exit 1 and exits 0).
void three_scenarios(const scenario_dir& dir) {
  dir.script("alpha", "exit 0");
  dir.script("beta", "exit 0");
  dir.script("gamma", "exit 0");
  dir.catalog({{{"name", "alpha"}, {"summary", "alpha is clean"}, {"expect", {{"normal", {"exit=0"}}, {"error", {"exit=0"}}}}},
               {{"name", "beta"}, {"summary", "beta is clean"}, {"expect", {{"normal", {"exit=0"}}, {"error", {"exit=0"}}}}},
               {{"name", "gamma"}, {"summary", "gamma fails"}, {"expect", {{"normal", {"exit=1"}}}},
                {"not_applicable", {{"error", "gamma has no error path"}}}}});
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

std::map<std::string, std::string> verdicts(const nlohmann::json& matrix) {
  std::map<std::string, std::string> v;
  for (const auto& c : matrix["cells"]) v[c["scenario"].get<std::string>() + "/" + c["mode"].get<std::string>()] = c["verdict"];
  return v;
}

}  // namespace

TEST_CASE("a piped matrix prints each cell's line as it finishes, before the matrix ends") {
  scenario_dir dir;
  dir.script("quick", "exit 0");
  // Waits for the gate file (its third argument, after --exit MODE): the matrix cannot end
  // before the test opens the gate.
  auto gate = dir.root / "gate";
  dir.script("gated", "while [ ! -e \"$3\" ]; do sleep 0.02; done; exit 0");
  dir.catalog({{{"name", "quick"}, {"expect", {{"normal", {"exit=0"}}}}},
               {{"name", "gated"}, {"args", {gate.string()}}, {"timeout", "60s"}, {"expect", {{"normal", {"exit=0"}}}}}});

  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  auto argv = dir.matrix({"--jobs", "1"});
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  auto runtime = (dir.root / "runtime").string();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::setenv("AFTERLIFE_RUNTIME_DIR", runtime.c_str(), 1);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string seen;
  char buffer[512];
  while (seen.find('\n') == std::string::npos) {
    ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    seen.append(buffer, static_cast<std::size_t>(n));
  }
  // The first cell's line is here while the matrix still runs (the gated cell waits).
  CHECK_THAT(seen, ContainsSubstring("1/2 quick × normal ... ok"));
  int status = 0;
  CHECK(::waitpid(pid, &status, WNOHANG) == 0);
  std::ofstream(gate) << "open\n";
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) seen.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(seen, ContainsSubstring("2/2 gated × normal ... ok"));
  CHECK(seen.find("quick × normal") < seen.find("gated × normal"));
  CHECK_THAT(seen, ContainsSubstring("2 cells: 2 as expected, 0 not"));
}

TEST_CASE("matrix colour: none on a pipe or with --color never, ESC with --color always despite NO_COLOR") {
  scenario_dir dir;
  three_scenarios(dir);
  auto piped = run_child(dir.matrix({"--scenario", "alpha"}), dir.env());
  CHECK(piped.exit_code() == 0);
  CHECK(piped.out.find('\033') == std::string::npos);
  auto always = run_child(dir.matrix({"--scenario", "alpha", "--color", "always"}), dir.env({{"NO_COLOR", "1"}}));
  CHECK(always.exit_code() == 0);
  CHECK_THAT(always.out, ContainsSubstring("\033[32m"));
  auto never = run_child(dir.matrix({"--scenario", "alpha", "--color", "never"}), dir.env({{"TERM", "xterm"}}));
  CHECK(never.exit_code() == 0);
  CHECK(never.out.find('\033') == std::string::npos);
  auto bad = run_child(dir.matrix({"--color", "sometimes"}), dir.env());
  CHECK(bad.exit_code() == 2);
  CHECK_THAT(bad.err, ContainsSubstring("bad --color 'sometimes' (auto, always, never)"));
  CHECK(bad.out.empty());
}

TEST_CASE("matrix --quiet prints only the cells not as expected and the summary line") {
  scenario_dir dir;
  three_scenarios(dir);
  auto r = run_child(dir.matrix({"--quiet", "--jobs", "2"}), dir.env());
  CHECK(r.exit_code() == 1);
  // One line for gamma's failure, one summary line; no table, no passing cells.
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
  CHECK_THAT(r.out, ContainsSubstring("gamma × normal ... FAIL"));
  CHECK_THAT(r.out, ContainsSubstring("not met: exit=1"));
  CHECK_THAT(r.out, ContainsSubstring("5 cells: 4 as expected, 1 not · 3 scenarios × 2 modes"));
  CHECK(r.out.find("alpha") == std::string::npos);
}

TEST_CASE("matrix --junit - writes the XML alone on stdout, with a skipped case for what does not apply") {
  scenario_dir dir;
  three_scenarios(dir);
  auto r = run_child(dir.matrix({"--junit", "-"}), dir.env());
  CHECK(r.exit_code() == 1);
  REQUIRE(r.out.starts_with("<?xml"));
  CHECK(r.out.ends_with("</testsuites>\n"));
  CHECK_THAT(r.out, ContainsSubstring(R"(tests="6" failures="1" errors="0" skipped="1")"));
  CHECK_THAT(r.out, ContainsSubstring(
                        R"(<testcase classname="scenario.gamma" name="error" time="0.000">)"
                        "\n      <skipped message=\"does not apply: gamma has no error path\"/>"));
  // The table went to stderr.
  CHECK_THAT(r.err, ContainsSubstring("5 cells: 4 as expected, 1 not"));
  auto both = run_child(dir.matrix({"--junit", "-", "--json", "-"}), dir.env());
  CHECK(both.exit_code() == 2);
  CHECK_THAT(both.err, ContainsSubstring("only one of --json, --junit and --html can be '-'"));
}

TEST_CASE("matrix --shard: bad values are usage errors") {
  scenario_dir dir;
  three_scenarios(dir);
  for (const char* bad : {"4/3", "0/3", "3", "a/3", "1/0", "1/3x", "-1/3", "1/"}) {
    auto r = run_child(dir.matrix({"--shard", bad}), dir.env());
    CHECK(r.exit_code() == 2);
    CHECK_THAT(r.err, ContainsSubstring(std::string("bad --shard '") + bad + "'"));
  }
}

TEST_CASE("shards 1/3, 2/3, 3/3 run every cell once, their merge has the unsharded verdicts") {
  scenario_dir dir;
  three_scenarios(dir);
  auto whole = run_child(dir.matrix({"--jobs", "2"}, "whole"), dir.env());
  CHECK(whole.exit_code() == 1);
  auto unsharded = read_json(dir.root / "whole" / "matrix.json");
  REQUIRE(unsharded["cells"].size() == 5);

  std::multiset<std::string> ran;
  std::vector<std::string> merge{AFTERLIFE_EXE, "matrix", "merge"};
  for (int k = 1; k <= 3; ++k) {
    auto out = "shard" + std::to_string(k);
    auto r = run_child(dir.matrix({"--shard", std::to_string(k) + "/3"}, out), dir.env());
    CHECK(r.exit_code() == (k == 2 ? 1 : 0));  // gamma × normal is the 5th cell: index 4, shard 2
    auto shard = read_json(dir.root / out / "matrix.json");
    CHECK(shard["shard"]["index"] == k);
    CHECK(shard["shard"]["selection_cells"] == 5);
    for (const auto& c : shard["cells"]) ran.insert(c["scenario"].get<std::string>() + "/" + c["mode"].get<std::string>());
    merge.push_back((dir.root / out / "matrix.json").string());
  }
  CHECK(ran == std::multiset<std::string>{"alpha/normal", "alpha/error", "beta/normal", "beta/error", "gamma/normal"});

  auto merged_argv = merge;
  merged_argv.insert(merged_argv.end(), {"--json", (dir.root / "merged.json").string(), "--junit",
                                         (dir.root / "merged.xml").string(), "--html", (dir.root / "merged.html").string()});
  auto m = run_child(merged_argv, dir.env());
  CHECK(m.exit_code() == 1);
  CHECK_THAT(m.out, ContainsSubstring("5 cells: 4 as expected, 1 not · 3 scenarios × 2 modes"));
  auto merged = read_json(dir.root / "merged.json");
  CHECK(verdicts(merged) == verdicts(unsharded));
  CHECK(merged["not_applicable"] == unsharded["not_applicable"]);
  CHECK(merged["shard"].is_null());
  // The logs stay where the shards wrote them, named relative to the merged report.
  CHECK(merged["cells"][0]["log"] == "shard1/cells/alpha.normal.log");
  CHECK(fs::exists(dir.root / merged["cells"][0]["log"].get<std::string>()));
  std::ifstream xml_in(dir.root / "merged.xml");
  std::string xml((std::istreambuf_iterator<char>(xml_in)), std::istreambuf_iterator<char>());
  CHECK_THAT(xml, ContainsSubstring(R"(tests="6" failures="1" errors="0" skipped="1")"));

  // A shard given twice, or one left out, is refused with what is wrong.
  auto twice = run_child({AFTERLIFE_EXE, "matrix", "merge", merge[3], merge[3], merge[4], merge[5]}, dir.env());
  CHECK(twice.exit_code() == 2);
  CHECK_THAT(twice.err, ContainsSubstring("are both shard 1/3"));
  auto missing = run_child({AFTERLIFE_EXE, "matrix", "merge", merge[3], merge[5]}, dir.env());
  CHECK(missing.exit_code() == 2);
  CHECK_THAT(missing.err, ContainsSubstring("shard(s) 2/3 missing"));
  auto overlap = run_child({AFTERLIFE_EXE, "matrix", "merge", (dir.root / "whole" / "matrix.json").string(),
                            merge[3]}, dir.env());
  CHECK(overlap.exit_code() == 2);
  CHECK_THAT(overlap.err, ContainsSubstring("are not shards of one matrix"));
}

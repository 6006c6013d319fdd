#include "catch.hpp"
#include "child_process.hpp"

#include <stdlib.h>
#include <unistd.h>  // mkdtemp on macOS

#include <filesystem>

using afterlife_test::run_child;

TEST_CASE("version flag prints the project version") {
  auto r = run_child({AFTERLIFE_EXE, "--version"});
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "afterlife 0.1.0\n");
}

TEST_CASE("an unknown option is a usage error: exit 2, one clear line") {
  auto r = run_child({AFTERLIFE_EXE, "--no-such-option"});
  CHECK(r.exit_code() == 2);
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring("--no-such-option"));
  CHECK(r.out.empty());
}

TEST_CASE("no subcommand is a usage error") {
  auto r = run_child({AFTERLIFE_EXE});
  CHECK(r.exit_code() == 2);
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring("subcommand"));
}

TEST_CASE("--help lists the subcommands, run --help lists the run options") {
  auto top = run_child({AFTERLIFE_EXE, "--help"});
  CHECK(top.exit_code() == 0);
  for (const char* word : {"run", "clean", "matrix", "scenarios", "--version"})
    CHECK_THAT(top.out, Catch::Matchers::ContainsSubstring(word));
  auto run = run_child({AFTERLIFE_EXE, "run", "--help"});
  CHECK(run.exit_code() == 0);
  for (const char* word : {"--mode", "--at", "--timeout", "--grace", "--watch", "--expect",
                           "--strict", "--no-reap", "--json", "--junit"})
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring(word));
}

TEST_CASE("run without a command is a usage error") {
  auto r = run_child({AFTERLIFE_EXE, "run", "--mode", "sigkill"});
  CHECK(r.exit_code() == 2);
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring("command"));
}

TEST_CASE("run --junit - writes the JUnit XML alone on stdout: unique case names, the log, the leftovers") {
  std::string templ = (std::filesystem::temp_directory_path() / "afterlife-cli-junit-XXXXXX").string();
  REQUIRE(::mkdtemp(templ.data()) != nullptr);
  afterlife_test::child_options options;
  options.set_env["AFTERLIFE_RUNTIME_DIR"] = templ;
  // The program leaves a file in its TMPDIR (created by the run, reaped with --reap files).
  auto r = run_child({AFTERLIFE_EXE, "run", "--junit", "-", "--reap", "files", "--expect", "exit=0", "--expect",
                      "exit=0", "--expect", "file=0", "--", "/bin/sh", "-c",
                      "echo said-hello; : > \"$TMPDIR/left.txt\"; exit 0"},
                     options);
  std::filesystem::remove_all(templ);
  CHECK(r.exit_code() == 1);
  REQUIRE(r.out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"afterlife run /bin/sh -c"));
  CHECK(r.out.ends_with("</testsuites>\n"));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring(R"(tests="3" failures="1" errors="0" skipped="0")"));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring(R"(<testcase classname="afterlife.run.sh" name="natural exit=0" )"));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring(R"(<testcase classname="afterlife.run.sh" name="natural exit=0 #2" )"));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring(R"(<failure message="file=0: )"));
  // (Its creator's pid and site where the interposer reached the shell: not in macOS's
  // SIP-protected /bin/sh; matrix_test checks that part of the body.)
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring("leftover file "));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring("left.txt: "));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring("; remove: rm "));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring(" timestamp=\""));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring(" hostname=\""));
  // The suite's system-out: the text report and what the program printed.
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring("<system-out>afterlife run: /bin/sh -c"));
  CHECK_THAT(r.out, Catch::Matchers::ContainsSubstring("--- the program's stdout ---\nsaid-hello\n"));
  // The text report and the program's output went to stderr.
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring("verdict   FAIL"));
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring("said-hello"));

  auto both = run_child({AFTERLIFE_EXE, "run", "--junit", "-", "--json", "-", "--", "/bin/true"});
  CHECK(both.exit_code() == 2);
  CHECK_THAT(both.err, Catch::Matchers::ContainsSubstring("--json - and --junit - cannot both have stdout"));
}

#include "catch.hpp"
#include "child_process.hpp"

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

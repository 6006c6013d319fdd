#include "afterlife/harness/expectations.hpp"
#include "afterlife/harness/run.hpp"
#include "catch.hpp"

#include <stdexcept>

using namespace afterlife;

namespace {

run_report killed_with_leftovers() {
  run_report report;
  report.exit.pid = 42;
  report.exit.signal = 9;
  report.exit.signal_name = "KILL";
  report.leftovers.push_back({"posix_shm", "/a", "/dev/shm/a", 4096, creator_info{42, "x"}, true,
                              "rm -- /dev/shm/a", true, "", ""});
  report.leftovers.push_back({"posix_shm", "/b", "/dev/shm/b", 4096, std::nullopt, false,
                              "rm -- /dev/shm/b", false, "", ""});
  report.phases.push_back({"atexit", 1.0, 2.0});
  report.phases.push_back({"collect", 3.0, std::nullopt});
  report.stderr_text = "first line\nresource_tracker: leaked\n";
  return report;
}

}  // namespace

TEST_CASE("every expression of the language parses") {
  CHECK(parse_expectation("clean").what == expectation::kind::clean);
  CHECK(parse_expectation("exit=0").number == 0);
  CHECK(parse_expectation("signal=SIGKILL").subject == "KILL");
  CHECK(parse_expectation("signal=TERM").number == 15);
  auto kind = parse_expectation("sysv_sem=2");
  CHECK(kind.what == expectation::kind::leftover_kind);
  CHECK(kind.subject == "sysv_sem");
  CHECK(kind.number == 2);
  CHECK(parse_expectation("phase=finalize_modules").subject == "finalize_modules");
  CHECK(parse_expectation("output~a=b").subject == "a=b");
}

TEST_CASE("bad expressions are rejected with the expression in the message") {
  for (const char* bad : {"", "dirty", "exit=", "exit=x", "exit=-1", "signal=NOPE", "leaks=1",
                          "=3", "output~[", "survivors=1.5"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_expectation(bad), std::invalid_argument);
  }
  CHECK_THROWS_WITH(parse_expectation("leaks=1"), Catch::Matchers::ContainsSubstring("leaks=1"));
}

TEST_CASE("judging counts attributed leftovers, --strict adds the others to clean") {
  auto report = killed_with_leftovers();
  CHECK(judge(parse_expectation("signal=KILL"), report, false).met);
  CHECK_FALSE(judge(parse_expectation("exit=0"), report, false).met);
  CHECK(judge(parse_expectation("posix_shm=1"), report, false).met);
  CHECK(judge(parse_expectation("leftovers=1"), report, false).met);
  CHECK(judge(parse_expectation("survivors=0"), report, false).met);
  CHECK_FALSE(judge(parse_expectation("clean"), report, false).met);
  report.leftovers.erase(report.leftovers.begin());
  CHECK(judge(parse_expectation("clean"), report, false).met);
  CHECK_FALSE(judge(parse_expectation("clean"), report, true).met);
}

TEST_CASE("phases must have ended, output matches in stdout or stderr, ^ at any line") {
  auto report = killed_with_leftovers();
  CHECK(judge(parse_expectation("phase=atexit"), report, false).met);
  CHECK_FALSE(judge(parse_expectation("phase=collect"), report, false).met);
  CHECK(judge(parse_expectation("phases=1"), report, false).met);
  CHECK(judge(parse_expectation("output~^resource_tracker: "), report, false).met);
  CHECK_FALSE(judge(parse_expectation("output~^leaked"), report, false).met);
}

TEST_CASE("an output pattern can check an order across lines, . stays within a line") {
  run_report report;
  report.stdout_text = "del _a\nsomething else\ndel b\n";
  CHECK(judge(parse_expectation(R"(output~del _a[\s\S]*del b)"), report, false).met);
  CHECK_FALSE(judge(parse_expectation(R"(output~del b[\s\S]*del _a)"), report, false).met);
  CHECK_FALSE(judge(parse_expectation("output~del _a.*del b"), report, false).met);
  CHECK(judge(parse_expectation("output~^del b$"), report, false).met);
  auto unmet = judge(parse_expectation("output~nowhere"), report, false);
  CHECK(unmet.actual == "no match in stdout or stderr");
}

TEST_CASE("a MiB of output with a line-spanning pattern is matched, not a stack overflow") {
  run_report report;
  report.stderr_text = "start\n" + std::string(1 << 20, 'x') + "\nend\n";
  CHECK(judge(parse_expectation(R"(output~start[\s\S]*end)"), report, false).met);
  CHECK_FALSE(judge(parse_expectation(R"(output~end[\s\S]*start)"), report, false).met);
}

TEST_CASE("durations, modes and triggers parse, bad ones are rejected") {
  CHECK(parse_duration("250ms").count() == 250);
  CHECK(parse_duration("1.5s").count() == 1500);
  CHECK(parse_duration("2").count() == 2000);
  CHECK(parse_duration("1m").count() == 60000);
  CHECK_THROWS_AS(parse_duration("5x"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("-1s"), std::invalid_argument);
  CHECK(parse_duration("0.25s").count() == 250);
  CHECK(parse_duration("1.5min").count() == 90000);
  CHECK(parse_duration("2.ms").count() == 2);
  CHECK(parse_duration("2400h").count() == duration_max.count());  // 100 days, the longest
  for (const char* bad : {"", ".", ".5s", "1.5.5s", "1e3s", "s", " 1s", "2401h", "inf", "nan"})
    CHECK_THROWS_AS(parse_duration(bad), std::invalid_argument);
  CHECK(parse_mode("tree-kill") == exit_mode::tree_kill);
  CHECK(parse_mode("group-kill") == exit_mode::group_kill);
  CHECK(to_string(exit_mode::group_kill) == "group-kill");
  CHECK(to_string(exit_mode::child_death) == "child-death");
  CHECK_THROWS_AS(parse_mode("explode"), std::invalid_argument);
  CHECK(parse_trigger("checkpoint").argument.empty());
  CHECK(parse_trigger("checkpoint:ready").text() == "checkpoint:ready");
  CHECK(parse_trigger("delay:100ms").delay.count() == 100);
  CHECK(parse_trigger("line:^ok$").what == trigger::kind::line);
  CHECK_THROWS_AS(parse_trigger("line:("), std::invalid_argument);
  // Perl syntax, as output~ (std::regex's ECMAScript refuses `(?i)`).
  CHECK(parse_trigger("line:(?i)^ready$").argument == "(?i)^ready$");
  CHECK(parse_expectation("output~(?i)^ready$").subject == "(?i)^ready$");
  CHECK_THROWS_AS(parse_trigger("line:(?<"), std::invalid_argument);
  CHECK_THROWS_AS(parse_expectation("output~(?<"), std::invalid_argument);
  CHECK_THROWS_AS(parse_trigger("file:"), std::invalid_argument);
  CHECK_THROWS_AS(parse_trigger("soon"), std::invalid_argument);
}

TEST_CASE("held_fds counts the files and addressed sockets that ended processes held") {
  auto report = killed_with_leftovers();
  CHECK(parse_expectation("held_fds=0").what == expectation::kind::held_fds);
  held_process main;
  main.pid = 42;
  main.fds = {{0, "/dev/null", true, false},       // the standard three are not counted
              {3, "/tmp/data", true, false},       // a file
              {4, "pipe:[77]", false, false},      // a pipe
              {5, "unix", false, false},           // an unnamed socket (the interposer's)
              {6, "tcp 127.0.0.1:5577 LISTEN", false, true},
              {7, "unix /run/x.sock (listening)", false, false}};
  report.held.push_back(main);
  auto three = judge(parse_expectation("held_fds=3"), report, false);
  CHECK(three.met);
  CHECK(three.actual == "3 held fds");
  CHECK_FALSE(judge(parse_expectation("held_fds=0"), report, false).met);
  CHECK_THROWS_AS(parse_expectation("held_fds=x"), std::invalid_argument);
}

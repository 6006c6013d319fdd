// Each twin pair must show the same observable events in the same order and end the same way.
// Both run with stderr merged into stdout (one pipe), so the order across streams is real.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "child_process.hpp"
#include "lifecycle/cpython_version.hpp"

namespace {

using afterlife_test::child_result;

// python3 from PATH, or empty.
std::string find_python() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = std::filesystem::path(dir) / "python3";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

child_result run_merged(std::vector<std::string> argv) {
  // exec keeps the program's own wait status (a signal stays a signal).
  argv.insert(argv.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1"});
  afterlife_test::child_options options;
  // Python's buffering must be its default one (the flush-failure twin depends on it).
  options.unset_env = {"PYTHONUNBUFFERED", "LIFECYCLE_TRACE", "AFTERLIFE_SOCKET",
                       "LIFECYCLE_SHOWREFCOUNT", "PYTHONWARNINGS"};
  return afterlife_test::run_child(argv, options);
}

// The observable events: program lines `event ...`, unraisable headers up to their first
// colon ("Exception ignored in atexit callback"), KeyboardInterrupt, and `SomeError: message`.
std::vector<std::string> events(const std::string& output) {
  static const char* const error_line = R"(^[A-Za-z]*(Error|Exception): .*)";
  std::vector<std::string> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("event ", 0) == 0 || line == "KeyboardInterrupt" ||
        std::regex_match(line, std::regex(error_line))) {
      out.push_back(line);
    } else if (line.rfind("Exception ignored in", 0) == 0) {
      out.push_back(line.substr(0, line.find(':')));
    }
  }
  return out;
}

std::string describe_status(const child_result& r) {
  if (r.timed_out) return "timed out";
  if (r.signaled()) return "signal " + std::to_string(r.term_signal());
  return "exit " + std::to_string(r.exit_code());
}

struct outcome {
  std::vector<std::string> events;
  std::string status;
  std::string output;
};

// The CPython releases (minor versions) a twin was checked against and found to behave as the
// modelled 3.11 does; outside them the case is skipped with `reason`.
struct versions_checked {
  int first_minor = 10;
  int last_minor = 13;
  const char* reason = "not checked against this CPython";
};

// "3.11.2" from `python3 -c ...`, or empty when it cannot say.
std::string python_version(const std::string& python3) {
  auto r = afterlife_test::run_child(
      {python3, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"});
  if (!r.exited() || r.exit_code() != 0) return {};
  return r.out.substr(0, r.out.find('\n'));
}

// Runs both twins; returns false (after printing why) when python3 is missing or of a version
// the twin was not checked against.
bool run_twins(const std::string& name, outcome& python, outcome& lifecycle,
               const versions_checked& checked = {}) {
  std::string python3 = find_python();
  if (python3.empty()) {
    std::cout << "SKIPPED: python3 not found in PATH; the differential test " << name
              << " needs CPython to compare with\n";
    return false;
  }
  const auto modelled = lifecycle::modelled_cpython;
  std::string version = python_version(python3);
  int major = 0, minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) {
    std::cout << "SKIPPED: " << python3 << " did not tell its version\n";
    return false;
  }
  std::cout << "lifecycle models CPython " << modelled.major << '.' << modelled.minor
            << "; comparing " << name << " with CPython " << version << " (" << python3 << ")\n";
  if (major != 3 || minor < checked.first_minor || minor > checked.last_minor) {
    std::cout << "SKIPPED: " << name << " holds for CPython 3." << checked.first_minor
              << " to 3." << checked.last_minor << ", not " << version << ": " << checked.reason
              << "\n";
    return false;
  }
  auto py = run_merged({python3, std::string(TWINS_DIR) + "/" + name + ".py"});
  auto lc = run_merged({TWINS_PROGRAM, name});
  python = {events(py.out), describe_status(py), py.out};
  lifecycle = {events(lc.out), describe_status(lc), lc.out};
  return true;
}

void check_twins(const std::string& name, const std::vector<std::string>& expected_events,
                 const std::string& expected_status, const versions_checked& checked = {}) {
  outcome python, lifecycle;
  if (!run_twins(name, python, lifecycle, checked)) return;
  INFO("python output:\n" << python.output << "\nlifecycle output:\n" << lifecycle.output);
  // The twin pair agrees, and both agree with what the case is about.
  CHECK(lifecycle.events == python.events);
  CHECK(lifecycle.status == python.status);
  CHECK(python.events == expected_events);
  CHECK(python.status == expected_status);
}

}  // namespace

TEST_CASE("atexit order with a failing callback") {
  check_twins(
      "atexit_order",
      {"event main done", "event atexit 3", "event atexit 2 two", "event atexit failing",
       "Exception ignored in atexit callback", "RuntimeError: boom in atexit", "event atexit 1"},
      "exit 0",
      {.first_minor = 10,
       .last_minor = 12,
       .reason = "3.13 names the callback in the report's first line "
                 "(\"Exception ignored in atexit callback <function fail at 0x...>:\")"});
}

TEST_CASE("module dict clearing order") {
  check_twins(
      "module_clear_order",
      {"event main done", "event del y b=set", "event del _x b=set", "event del cycle",
       "event del _a b=set", "event del b b=None", "event del __c b=None", "event del d b=None"},
      "exit 0");
}

TEST_CASE("a cycle with a finalizer at exit") {
  check_twins("cycle_finalizer", {"event main done", "event atexit", "event del a", "event del b"},
              "exit 0");
}

TEST_CASE("SIGINT during main") {
  check_twins("sigint_main", {"event main", "KeyboardInterrupt", "event atexit"}, "signal 2");
}

TEST_CASE("exit 1 from an uncaught exception") {
  check_twins("uncaught_exception", {"event main", "RuntimeError: boom", "event atexit"}, "exit 1");
}

TEST_CASE("a daemon thread at exit") {
  check_twins("daemon_thread",
              {"event daemon started", "event main done", "event worker done",
               "event atexit releases daemon"},
              "exit 0");
}

TEST_CASE("stdout that cannot be flushed at exit") {
  check_twins("flush_failure",
              {"event atexit", "Exception ignored in", "OSError: [Errno 9] Bad file descriptor"},
              "exit 120",
              {.first_minor = 10,
               .last_minor = 12,
               .reason = "3.13 reports \"Exception ignored on flushing sys.stdout:\" instead of "
                         "\"Exception ignored in: <stdout>\""});
}

TEST_CASE("finalizer order over collections of big containers") {
  std::vector<std::string> expected = {"event collect 1", "event del g1", "event del g2",
                                       "event collect 2", "event del n50", "event del n100",
                                       "event collect 3"};
  for (int i = 0; i < 300; ++i) {
    if (i != 50 && i != 100) expected.push_back("event del n" + std::to_string(i));
    if (i != 0) expected.push_back("event del t" + std::to_string(i));
  }
  for (const char* name : {"b1", "b0", "t0", "c2", "c0", "c1"})
    expected.push_back(std::string("event del ") + name);
  expected.push_back("event done");
  check_twins("gc_list_order", expected, "exit 0");
}

TEST_CASE("the uncaught-exception twins both print a traceback header") {
  outcome python, lifecycle;
  if (!run_twins("uncaught_exception", python, lifecycle)) return;
  CHECK_THAT(python.output,
             Catch::Matchers::ContainsSubstring("Traceback (most recent call last):"));
  CHECK_THAT(lifecycle.output,
             Catch::Matchers::ContainsSubstring("Traceback (most recent call last):"));
}

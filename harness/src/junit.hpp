// The one JUnit XML writer, for `afterlife run --junit` and `afterlife matrix --junit` (and
// `matrix merge`). What it writes is valid against Jenkins' xunit plugin's junit-10.xsd:
// <testsuites> holds one <testsuite> with the required name, tests, failures, errors, plus
// skipped, time, timestamp and hostname; each <testcase> has at most one outcome element and a
// <system-out>. The run and the matrix only say what their cases are (report.cpp,
// matrix_report.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace afterlife::junit {

enum class outcome { passed, failed, errored, skipped };

struct test_case {
  std::string classname;  // what was run: "afterlife.run.PROGRAM", "scenario.NAME"
  std::string name;       // made unique within the suite by the writer
  double seconds = 0;
  outcome result = outcome::passed;
  std::string message;     // one line: why it failed, errored or was skipped
  std::string body;        // the failure's details (leftovers, survivors)
  std::string system_out;  // the case's log
};

struct test_suite {
  std::string name;
  double seconds = 0;
  std::chrono::system_clock::time_point started;
  std::string hostname;  // "" for this machine's
  std::vector<test_case> cases;
  std::string system_out;  // the suite's own log ("" for none)
};

std::string to_xml(const test_suite& suite);

// The failure body from an `afterlife run` JSON report (afterlife.report/1): how it ended, each
// leftover with its creator and the command that removes it, each survivor.
std::string failure_body(const nlohmann::json& report);

// This machine's name (gethostname), "localhost" if it has none.
std::string this_hostname();

// ISO 8601 in UTC without a zone designator (what JUnit's timestamp means): 2026-12-03T19:20:35.
std::string iso_timestamp(std::chrono::system_clock::time_point when);

// Escapes &, <, > and " (every attribute is double-quoted, so ' stays as it is); control characters XML 1.0 forbids even escaped become '?'.
std::string xml_escape(std::string_view text);

}  // namespace afterlife::junit

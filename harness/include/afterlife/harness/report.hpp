// The run report's three forms: JSON (docs/architecture.md "Report JSON", schema
// afterlife.report/1), readable text, and JUnit XML.
#pragma once

#include "afterlife/harness/run.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <ostream>

namespace afterlife {

nlohmann::json to_json(const run_report& report);
void write_text(std::ostream& out, const run_report& report);
// JUnit XML (junit.hpp's writer): one case per expectation; `started` is the run's wall-clock start.
void write_junit(std::ostream& out, const run_report& report,
                 std::chrono::system_clock::time_point started);

}  // namespace afterlife

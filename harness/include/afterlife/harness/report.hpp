// The run report's three forms: JSON (docs/architecture.md "Report JSON", schema
// afterlife.report/1), readable text, and JUnit XML.
#pragma once

#include "afterlife/harness/run.hpp"

#include <nlohmann/json.hpp>

#include <ostream>

namespace afterlife {

nlohmann::json to_json(const run_report& report);
void write_text(std::ostream& out, const run_report& report);
void write_junit(std::ostream& out, const run_report& report);

}  // namespace afterlife

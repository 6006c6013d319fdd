#include "afterlife/harness/catalog.hpp"

#include "afterlife/harness/modes.hpp"
#include "afterlife/harness/run.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <utility>

namespace afterlife {

namespace {

[[noreturn]] void invalid(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", path.string(), what));
}

// "20s", "500ms", "2m" → milliseconds; the same DURATION syntax `afterlife run` takes.
std::chrono::milliseconds parse_catalog_duration(const std::filesystem::path& path,
                                                 const std::string& text) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    invalid(path, fmt::format("'{}' is not a duration (like 500ms, 20s, 2m)", text));
  }
  std::string unit = text.substr(used);
  if (unit == "ms") return std::chrono::milliseconds(value);
  if (unit == "s") return std::chrono::seconds(value);
  if (unit == "m") return std::chrono::minutes(value);
  invalid(path, fmt::format("'{}' is not a duration (like 500ms, 20s, 2m)", text));
}

std::string format_duration(std::chrono::milliseconds d) { return fmt::format("{}ms", d.count()); }

catalog_scenario parse_scenario(const std::filesystem::path& path, const nlohmann::json& entry,
                                const std::set<std::string>& modes) {
  catalog_scenario s;
  if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string())
    invalid(path, "every scenario needs a \"name\" string");
  s.name = entry["name"].get<std::string>();
  auto where = [&](const std::string& what) { invalid(path, fmt::format("scenario '{}': {}", s.name, what)); };
  if (s.name.empty() || s.name.find_first_of("/ \t") != std::string::npos)
    where("a name is one word without slashes");
  s.summary = entry.value("summary", "");
  if (entry.contains("args")) {
    if (!entry["args"].is_array()) where("\"args\" must be a list of strings");
    for (const auto& a : entry["args"]) {
      if (!a.is_string()) where("\"args\" must be a list of strings");
      s.args.push_back(a.get<std::string>());
    }
  }
  if (entry.contains("timeout")) s.timeout = parse_catalog_duration(path, entry["timeout"].get<std::string>());
  if (entry.contains("grace")) s.grace = parse_catalog_duration(path, entry["grace"].get<std::string>());
  if (!entry.contains("expect") || !entry["expect"].is_object() || entry["expect"].empty())
    where("needs an \"expect\" object with at least one mode");
  for (const auto& [mode, exprs] : entry["expect"].items()) {
    if (!modes.count(mode)) where(fmt::format("unknown mode '{}'", mode));
    if (!exprs.is_array() || exprs.empty()) where(fmt::format("mode '{}' needs a non-empty list of expectations", mode));
    auto& list = s.expect[mode];
    for (const auto& e : exprs) {
      if (!e.is_string()) where(fmt::format("mode '{}': expectations are strings", mode));
      list.push_back(e.get<std::string>());
    }
  }
  if (entry.contains("not_applicable")) {
    if (!entry["not_applicable"].is_object())
      where("\"not_applicable\" must map modes to the reason they do not apply");
    for (const auto& [mode, why] : entry["not_applicable"].items()) {
      if (!modes.count(mode)) where(fmt::format("unknown mode '{}' in \"not_applicable\"", mode));
      if (s.expect.count(mode)) where(fmt::format("mode '{}' is both expected and not applicable", mode));
      if (!why.is_string() || why.get<std::string>().empty())
        where(fmt::format("mode '{}' in \"not_applicable\" needs the reason, a non-empty string", mode));
      s.not_applicable[mode] = why.get<std::string>();
    }
  }
  return s;
}

}  // namespace

const catalog_scenario* catalog::find(const std::string& name) const {
  for (const auto& s : scenarios)
    if (s.name == name) return &s;
  return nullptr;
}

std::string_view mode_situation(std::string_view mode) {
  const cell_mode_info* m = find_cell_mode(mode);
  return m != nullptr ? m->situation : std::string_view{};
}

bool is_program_chosen_mode(const std::string& mode) {
  const cell_mode_info* m = find_cell_mode(mode);
  return m != nullptr && m->chooser == mode_chooser::program;
}

catalog load_catalog(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) invalid(path, "cannot be read");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    invalid(path, fmt::format("not valid JSON: {}", e.what()));
  }
  if (!doc.is_object() || doc.value("schema", "") != "afterlife.catalog/1")
    invalid(path, "not an afterlife catalog (\"schema\": \"afterlife.catalog/1\" expected)");

  catalog cat;
  std::set<std::string> modes;
  for (const auto& m : doc.value("modes", nlohmann::json::array())) {
    auto mode = m.get<std::string>();
    if (find_cell_mode(mode) == nullptr)
      invalid(path, fmt::format("unknown mode '{}' in \"modes\"", mode));
    if (!modes.insert(mode).second) invalid(path, fmt::format("mode '{}' listed twice", mode));
    cat.modes.push_back(mode);
  }
  std::set<std::string> names;
  for (const auto& entry : doc.value("scenarios", nlohmann::json::array())) {
    auto s = parse_scenario(path, entry, modes);
    if (!names.insert(s.name).second) invalid(path, fmt::format("scenario '{}' listed twice", s.name));
    cat.scenarios.push_back(std::move(s));
  }
  return cat;
}

std::vector<std::string> cell_run_arguments(const catalog_cell& cell,
                                            const std::filesystem::path& scenario_dir) {
  const auto& s = *cell.scenario;
  const cell_mode_info* mode = find_cell_mode(cell.mode);
  if (mode == nullptr) throw std::invalid_argument(fmt::format("unknown mode '{}'", cell.mode));
  std::vector<std::string> args{"--mode", std::string(to_string(mode->run_mode))};
  if (mode->chooser == mode_chooser::harness) args.insert(args.end(), {"--at", "checkpoint:ready"});
  const std::string exit_arg(mode->exit_as);
  args.insert(args.end(), {"--timeout", format_duration(s.timeout), "--grace", format_duration(s.grace)});
  for (const auto& e : *cell.expect) args.insert(args.end(), {"--expect", e});
  args.insert(args.end(), {"--", (scenario_dir / s.name).string(), "--exit", exit_arg});
  args.insert(args.end(), s.args.begin(), s.args.end());
  return args;
}

}  // namespace afterlife

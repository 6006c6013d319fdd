// Sharding (`afterlife matrix --shard K/N`) and merging shards' reports (`afterlife matrix
// merge`): a matrix JSON read back, and several made one.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <map>
#include <set>
#include <stdexcept>

#include "afterlife/harness/matrix.hpp"

namespace afterlife {

namespace {

unsigned parse_positive(std::string_view digits, std::string_view whole) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
    throw std::invalid_argument(fmt::format("bad --shard '{}': K/N expected, two whole numbers, e.g. 2/3", whole));
  return value;
}

cell_verdict verdict_from(const std::string& name) {
  if (name == "pass") return cell_verdict::pass;
  if (name == "fail") return cell_verdict::fail;
  if (name == "error") return cell_verdict::error;
  throw std::runtime_error(fmt::format("unknown verdict '{}'", name));
}

// "2026-12-03T19:20:35Z" as matrix_json writes it.
std::chrono::system_clock::time_point parse_started(const std::string& text) {
  std::tm tm{};
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    return {};
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string cell_name(const std::string& scenario, const std::string& mode) {
  return scenario + " × " + mode;
}

}  // namespace

matrix_shard parse_shard(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    throw std::invalid_argument(fmt::format("bad --shard '{}': K/N expected, e.g. 2/3", text));
  matrix_shard shard{parse_positive(text.substr(0, slash), text), parse_positive(text.substr(slash + 1), text)};
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count)
    throw std::invalid_argument(
        fmt::format("bad --shard '{}': K must be from 1 to N, and N at least 1", text));
  return shard;
}

matrix_result matrix_from_json(const nlohmann::json& doc, const std::filesystem::path& dir) {
  if (!doc.is_object() || doc.value("schema", "") != "afterlife.matrix/1")
    throw std::runtime_error("not an afterlife matrix report (\"schema\": \"afterlife.matrix/1\" expected)");
  try {
    matrix_result r;
    r.modes = doc.at("modes").get<std::vector<std::string>>();
    r.scenarios = doc.at("scenarios").get<std::vector<std::string>>();
    r.elapsed = std::chrono::milliseconds(doc.value("elapsed_ms", 0LL));
    r.started = parse_started(doc.value("started", ""));
    r.hostname = doc.value("hostname", "");
    r.summaries = doc.value("summaries", std::map<std::string, std::string>{});
    for (const auto& g : doc.at("not_applicable"))
      r.not_applicable.push_back(
          {g.at("scenario").get<std::string>(), g.at("mode").get<std::string>(), g.value("reason", "")});
    for (const auto& c : doc.at("cells")) {
      matrix_cell_result cell;
      cell.scenario = c.at("scenario").get<std::string>();
      cell.mode = c.at("mode").get<std::string>();
      cell.expected = c.value("expected", std::vector<std::string>{});
      cell.verdict = verdict_from(c.at("verdict").get<std::string>());
      cell.reason = c.value("reason", "");
      cell.duration = std::chrono::milliseconds(c.value("duration_ms", 0LL));
      cell.report = c.value("report", nlohmann::json());
      std::filesystem::path log = c.value("log", "");
      cell.log = log.empty() || log.is_absolute() ? log : (dir / log).lexically_normal();
      r.cells.push_back(std::move(cell));
    }
    const auto& shard = doc.value("shard", nlohmann::json());
    if (shard.is_object()) {
      r.shard = matrix_shard{shard.at("index").get<unsigned>(), shard.at("count").get<unsigned>()};
      r.selection_cells = shard.at("selection_cells").get<std::size_t>();
    } else {
      r.selection_cells = r.cells.size();
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("malformed matrix report: {}", e.what()));
  }
}

matrix_result merge_matrices(const std::vector<matrix_result>& parts, const std::vector<std::string>& names) {
  if (parts.empty()) throw std::invalid_argument("nothing to merge: name the shards' matrix.json files");
  auto name = [&](std::size_t i) { return i < names.size() ? names[i] : fmt::format("report {}", i + 1); };
  const matrix_result& first = parts.front();
  for (std::size_t i = 1; i < parts.size(); ++i)
    if (parts[i].modes != first.modes || parts[i].scenarios != first.scenarios)
      throw std::invalid_argument(fmt::format(
          "{} and {} are matrices of different selections (scenarios or modes differ): run every "
          "shard with the same catalog, --scenario and --mode",
          name(0), name(i)));

  // Shards: each of 1..N once, all of the same N and selection.
  std::map<unsigned, std::size_t> shard_of;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (p.shard.has_value() != first.shard.has_value() ||
        (p.shard && (p.shard->count != first.shard->count || p.selection_cells != first.selection_cells)))
      throw std::invalid_argument(
          fmt::format("{} and {} are not shards of one matrix (--shard K/N with the same N)", name(0), name(i)));
    if (p.shard && !shard_of.emplace(p.shard->index, i).second)
      throw std::invalid_argument(fmt::format("{} and {} are both shard {}/{}", name(shard_of[p.shard->index]),
                                              name(i), p.shard->index, p.shard->count));
  }
  if (first.shard) {
    std::vector<std::string> missing;
    for (unsigned k = 1; k <= first.shard->count; ++k)
      if (!shard_of.count(k)) missing.push_back(fmt::format("{}/{}", k, first.shard->count));
    if (!missing.empty())
      throw std::invalid_argument(fmt::format("shard(s) {} missing: a merge needs every shard",
                                              fmt::join(missing, ", ")));
  }

  std::map<std::string, std::size_t> row, column;
  for (std::size_t i = 0; i < first.scenarios.size(); ++i) row[first.scenarios[i]] = i;
  for (std::size_t i = 0; i < first.modes.size(); ++i) column[first.modes[i]] = i;

  matrix_result merged;
  merged.modes = first.modes;
  merged.scenarios = first.scenarios;
  merged.not_applicable = first.not_applicable;
  merged.summaries = first.summaries;
  merged.started = first.started;
  std::set<std::string> hosts;
  std::map<std::string, std::size_t> holder;  // cell → the report it came from
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    // Shards run side by side: the merge took as long as the longest.
    merged.elapsed = std::max(merged.elapsed, p.elapsed);
    merged.started = std::min(merged.started, p.started);
    if (!p.hostname.empty()) hosts.insert(p.hostname);
    for (const auto& c : p.cells) {
      auto [it, fresh] = holder.emplace(cell_name(c.scenario, c.mode), i);
      if (!fresh)
        throw std::invalid_argument(fmt::format("the cell {} is in both {} and {}",
                                                cell_name(c.scenario, c.mode), name(it->second), name(i)));
      if (!row.count(c.scenario) || !column.count(c.mode))
        throw std::invalid_argument(fmt::format("{}: the cell {} is outside its own table",
                                                name(i), cell_name(c.scenario, c.mode)));
      merged.cells.push_back(c);
    }
  }
  if (first.shard && merged.cells.size() != first.selection_cells)
    throw std::invalid_argument(fmt::format("the shards hold {} cells of the {} selected",
                                            merged.cells.size(), first.selection_cells));
  std::stable_sort(merged.cells.begin(), merged.cells.end(), [&](const auto& a, const auto& b) {
    return std::pair(row[a.scenario], column[a.mode]) < std::pair(row[b.scenario], column[b.mode]);
  });
  merged.hostname = fmt::format("{}", fmt::join(hosts, ", "));
  merged.selection_cells = merged.cells.size();
  return merged;
}

}  // namespace afterlife

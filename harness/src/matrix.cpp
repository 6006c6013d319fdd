#include "afterlife/harness/matrix.hpp"

#include "junit.hpp"
#include "spawn/boost_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fmt/core.h>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace afterlife {

namespace bp = boost::process::v2;

namespace {

using clock = std::chrono::steady_clock;

// How long past the cell's own --timeout the matrix waits before it ends a stuck `afterlife run`
// (which should have stopped by itself): first SIGTERM, so it can still kill its tree and
// report, then SIGKILL.
constexpr auto watchdog_slack = std::chrono::seconds(10);
constexpr auto watchdog_kill_after = std::chrono::seconds(5);

std::string last_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

std::optional<nlohmann::json> read_report(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error&) {
    return std::nullopt;
  }
}

std::string describe_exit(const nlohmann::json& exit) {
  if (exit.contains("signal_name")) return fmt::format("killed by SIG{}", exit["signal_name"].get<std::string>());
  if (exit.contains("code")) return fmt::format("exit {}", exit["code"].get<int>());
  return "unknown exit";
}

// Runs one cell to completion; never throws (a failure to spawn is the cell's error).
matrix_cell_result run_cell(const catalog_cell& cell, const matrix_options& options) {
  auto cell_dir = options.out_dir / "cells";
  auto stem = cell.scenario->name + "." + cell.mode;
  auto json_path = cell_dir / (stem + ".json");
  auto log_path = cell_dir / (stem + ".log");
  std::error_code ignored;
  std::filesystem::remove(json_path, ignored);

  std::vector<std::string> args = {"run", "--json", json_path.string()};
  auto cell_args = cell_run_arguments(cell, options.scenario_dir);
  args.insert(args.end(), cell_args.begin(), cell_args.end());

  auto started = clock::now();
  int status = 0;
  // Close-on-exec: cells start concurrently, and another cell's child must not inherit this log
  // (it would show up among that run's survivors' fds). The dup2 onto the child's stdout and
  // stderr clears the flag there.
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FILE* log = log_fd < 0 ? nullptr : ::fdopen(log_fd, "w");
  if (log == nullptr) {
    if (log_fd >= 0) ::close(log_fd);
    matrix_cell_result r = judge_cell(cell, -1, std::nullopt, "cannot write " + log_path.string());
    return r;
  }
  try {
    boost::asio::io_context ctx;
    // The run's text report and the scenario's output go to the cell's log.
    bp::process proc(ctx, options.afterlife_exe.string(), args, bp::process_stdio{nullptr, log, log});
    auto deadline = started + cell.scenario->timeout + watchdog_slack;
    bool terminated = false;
    // Poll rather than block: a stuck run must not hold a worker forever.
    while (proc.running()) {
      auto now = clock::now();
      if (now >= deadline && !terminated) {
        ::kill(proc.id(), SIGTERM);
        terminated = true;
        deadline = now + watchdog_kill_after;
      } else if (now >= deadline) {
        ::kill(proc.id(), SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    status = proc.native_exit_code();
  } catch (const std::exception& e) {
    std::fclose(log);
    return judge_cell(cell, -1, std::nullopt, fmt::format("could not start afterlife run: {}", e.what()));
  }
  std::fclose(log);
  auto result = judge_cell(cell, status, read_report(json_path), last_line(log_path));
  result.log = std::filesystem::absolute(log_path);
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
  return result;
}

}  // namespace

bool matrix_result::all_met() const {
  for (const auto& c : cells)
    if (c.verdict != cell_verdict::pass) return false;
  // A shard may get no cell when there are more shards than cells.
  return !cells.empty() || (shard && selection_cells > 0);
}

std::vector<catalog_cell> select_cells(const catalog& cat, const std::vector<std::string>& scenarios,
                                       const std::vector<std::string>& modes) {
  for (const auto& name : scenarios)
    if (!cat.find(name)) throw std::invalid_argument(fmt::format("no scenario '{}' in the catalog", name));
  std::set<std::string> known_modes(cat.modes.begin(), cat.modes.end());
  for (const auto& mode : modes)
    if (!known_modes.count(mode)) throw std::invalid_argument(fmt::format("no mode '{}' in the catalog", mode));

  auto wanted = [](const std::vector<std::string>& filter, const std::string& x) {
    return filter.empty() || std::find(filter.begin(), filter.end(), x) != filter.end();
  };
  std::vector<catalog_cell> cells;
  for (const auto& s : cat.scenarios) {
    if (!wanted(scenarios, s.name)) continue;
    for (const auto& mode : cat.modes) {
      auto it = s.expect.find(mode);
      if (it == s.expect.end() || !wanted(modes, mode)) continue;
      cells.push_back({&s, mode, &it->second});
    }
  }
  return cells;
}

matrix_cell_result judge_cell(const catalog_cell& cell, int wait_status,
                              const std::optional<nlohmann::json>& report, const std::string& stderr_tail) {
  matrix_cell_result r;
  r.scenario = cell.scenario->name;
  r.mode = cell.mode;
  r.expected = *cell.expect;
  if (report) r.report = *report;

  if (wait_status == -1) {
    r.verdict = cell_verdict::error;
    r.reason = stderr_tail;
    return r;
  }
  if (!WIFEXITED(wait_status)) {
    r.verdict = cell_verdict::error;
    r.reason = fmt::format("afterlife run was killed by signal {}", WTERMSIG(wait_status));
    return r;
  }
  int code = WEXITSTATUS(wait_status);
  if (code == 0 && report) {
    r.verdict = cell_verdict::pass;
    return r;
  }
  if (code == 1 && report) {
    // Name each unmet expectation, then what actually happened.
    std::string unmet;
    for (const auto& e : report->value("expectations", nlohmann::json::array())) {
      if (e.value("met", true)) continue;
      if (!unmet.empty()) unmet += ", ";
      unmet += e.value("expr", "?");
    }
    r.verdict = cell_verdict::fail;
    r.reason = fmt::format("not met: {} (got {}, {} leftover(s), {} survivor(s))", unmet,
                           describe_exit(report->value("exit", nlohmann::json::object())),
                           report->value("leftovers", nlohmann::json::array()).size(),
                           report->value("survivors", nlohmann::json::array()).size());
    return r;
  }
  r.verdict = cell_verdict::error;
  r.reason = fmt::format("afterlife run exited {}{}{}", code, stderr_tail.empty() ? "" : ": ", stderr_tail);
  if (code <= 1 && !report) r.reason += " (no JSON report written)";
  return r;
}

std::vector<matrix_gap> matrix_gaps(const catalog& cat, const std::vector<std::string>& scenarios,
                                    const std::vector<std::string>& modes) {
  std::vector<matrix_gap> gaps;
  for (const auto& name : scenarios) {
    const catalog_scenario* s = cat.find(name);
    if (s == nullptr) continue;
    for (const auto& mode : modes) {
      if (s->expect.count(mode)) continue;
      auto why = s->not_applicable.find(mode);
      gaps.push_back({name, mode, why != s->not_applicable.end() ? why->second : ""});
    }
  }
  return gaps;
}

std::vector<catalog_cell> shard_cells(const std::vector<catalog_cell>& cells, matrix_shard shard) {
  std::vector<catalog_cell> share;
  for (std::size_t i = shard.index - 1; i < cells.size(); i += shard.count) share.push_back(cells[i]);
  return share;
}

matrix_result run_matrix(const catalog& cat, const matrix_options& options) {
  auto selected = select_cells(cat, options.scenarios, options.modes);
  // A shard keeps the whole selection's rows, columns and gaps (merge takes them once), and
  // runs its share of the cells.
  auto cells = options.shard ? shard_cells(selected, *options.shard) : selected;

  matrix_result result;
  result.shard = options.shard;
  result.selection_cells = selected.size();
  result.hostname = junit::this_hostname();
  for (const auto& mode : cat.modes)
    for (const auto& c : selected)
      if (c.mode == mode) {
        result.modes.push_back(mode);
        break;
      }
  for (const auto& s : cat.scenarios)
    for (const auto& c : selected)
      if (c.scenario == &s) {
        result.scenarios.push_back(s.name);
        result.summaries[s.name] = s.summary;
        break;
      }
  result.not_applicable = matrix_gaps(cat, result.scenarios, result.modes);

  std::filesystem::create_directories(options.out_dir / "cells");
  auto started = clock::now();
  result.started = std::chrono::system_clock::now();
  result.cells.resize(cells.size());
  std::atomic<std::size_t> next{0};
  std::mutex report_mutex;
  std::size_t done = 0;
  auto worker = [&] {
    for (std::size_t i = next++; i < cells.size(); i = next++) {
      result.cells[i] = run_cell(cells[i], options);
      std::lock_guard lock(report_mutex);
      ++done;
      if (options.on_cell_done) options.on_cell_done(result.cells[i], done, cells.size());
    }
  };
  std::vector<std::thread> workers;
  unsigned jobs = std::max(1u, std::min<unsigned>(options.jobs, static_cast<unsigned>(cells.size())));
  for (unsigned j = 0; j < jobs; ++j) workers.emplace_back(worker);
  for (auto& w : workers) w.join();
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
  return result;
}

}  // namespace afterlife

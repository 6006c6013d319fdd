// afterlife::run() from several threads of one process at once, as `afterlife matrix` does:
// each run must claim exactly its own leftovers and survivors, though all of the runs' orphans
// become children of the same (subreaper) process.
#include "afterlife/harness/run.hpp"
#include "catch.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace {

afterlife::run_report run_actor(const std::string& shm_name) {
  afterlife::run_options options;
  options.command = {ACTOR_EXE, "shm=" + shm_name, "daemonize=20000", "fork-sleep=20000",
                     "sleep=200", "exit=0"};
  options.grace = std::chrono::milliseconds(100);
  options.copy_stdout_to = -1;
  options.copy_stderr_to = -1;
  options.inherit_stdin = false;
  options.expect = {afterlife::parse_expectation("posix_shm=1"),
                    afterlife::parse_expectation("survivors=2")};
  return afterlife::run(options);
}

}  // namespace

TEST_CASE("concurrent runs in threads each claim their own leftovers and survivors") {
  constexpr int threads = 4;
  std::vector<std::string> names;
  for (int i = 0; i < threads; ++i)
    names.push_back("/al-conc-" + std::to_string(getpid()) + "-" + std::to_string(i));
  std::vector<afterlife::run_report> reports(threads);
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i)
    workers.emplace_back([&, i] { reports[static_cast<std::size_t>(i)] = run_actor(names[static_cast<std::size_t>(i)]); });
  for (auto& w : workers) w.join();

  for (int i = 0; i < threads; ++i) {
    const auto& report = reports[static_cast<std::size_t>(i)];
    const auto& mine = names[static_cast<std::size_t>(i)];
    INFO("run " << i);
    CHECK(report.pass);
    CHECK(report.exit.exited);
    CHECK(report.exit.code == 0);
    for (const auto& l : report.leftovers) {
      if (l.kind != "posix_shm" || l.name.rfind("/al-conc-", 0) != 0) continue;
      // Another run's segment may show up while both are live: never as ours.
      CHECK(l.attributed == (l.name == mine));
      if (l.name == mine) CHECK(l.creator->pid == report.exit.pid);
    }
    REQUIRE(report.survivors.size() == 2);
    for (const auto& s : report.survivors) CHECK(s.command.find(mine) != std::string::npos);
  }
  for (const auto& name : names) CHECK(shm_unlink(name.c_str()) == -1);  // all reaped
}

// Containment and the modes' meaning (harness/README.md "Containment", "Modes"), on real
// processes: a setsid + `env -i` double-fork escapee (it carries neither the run's process group
// nor its AFTERLIFE_RUN marker) is found and ended under every mode, under both Linux mechanisms
// (the run's cgroup where the harness can create one, else its keeper process), and by `clean`
// after the harness died; group-kill and tree-kill differ exactly by a setsid child; --kill-after,
// a trigger that never fires, and a signal the program ignores or blocks.
#include "afterlife/harness/run.hpp"
#include "catch.hpp"
#include "run_support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

using namespace afterlife_test;
using Catch::Matchers::ContainsSubstring;

namespace {

// This process's children that are zombies.
std::vector<int> zombie_children() {
  std::vector<int> zombies;
  std::string self = std::to_string(getpid());
  std::ifstream children("/proc/" + self + "/task/" + self + "/children");
  int pid = 0;
  while (children >> pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto paren = text.rfind(')');
    if (paren != std::string::npos && text.size() > paren + 2 && text[paren + 2] == 'Z')
      zombies.push_back(pid);
  }
  return zombies;
}

void kill_running(const std::string& word) {
  for (int pid : processes_running(word)) kill(pid, SIGKILL);
}

// A sleep of 300 s and a few µs: an argument no other process has.
std::string unique_sleep() {
  static int counter = 0;
  return "300." + std::to_string(getpid()) + std::to_string(++counter);
}

// The program: a shell that starts a double-forked, setsid, `env -i` sleep and then
// sleeps itself (`for_ms`).
std::vector<std::string> escapee_program(const std::string& sleep_arg, const std::string& for_s) {
  return {"sh", "-c", "(setsid env -i /bin/sleep " + sleep_arg + " &); sleep " + for_s};
}

// Both Linux mechanisms: the default (a cgroup here when the harness may create one) and the
// keeper, forced.
struct mechanism_case {
  const char* name;
  child_options options;
};

std::vector<mechanism_case> mechanisms() {
  child_options forced;
  forced.set_env["AFTERLIFE_CONTAINMENT"] = "subreaper";
  child_options plain;
  plain.unset_env.push_back("AFTERLIFE_CONTAINMENT");
  return {{"default", plain}, {"subreaper", forced}};
}

void check_mechanism(const nlohmann::json& report, const std::string& which) {
  REQUIRE(report.contains("containment"));
  auto mechanism = report["containment"]["mechanism"].get<std::string>();
  auto detail = report["containment"]["detail"].get<std::string>();
  if (which == "subreaper") {
    CHECK(mechanism == "subreaper");
    CHECK_THAT(detail, ContainsSubstring("keeper pid"));
  } else {
    CHECK((mechanism == "cgroup" || mechanism == "subreaper"));
  }
  if (mechanism == "cgroup") {
    // "cgroup /sys/fs/cgroup/.../afterlife-RUNID": removed when the run returned.
    REQUIRE(detail.starts_with("cgroup /"));
    auto path = std::filesystem::path(detail.substr(7));
    CHECK(path.filename().string() == "afterlife-" + report["run_id"].get<std::string>());
    CHECK_FALSE(std::filesystem::exists(path));
  }
}

std::vector<std::string> survivor_commands(const nlohmann::json& report) {
  std::vector<std::string> commands;
  for (const auto& s : report["survivors"]) commands.push_back(s["command"].get<std::string>());
  std::sort(commands.begin(), commands.end());
  return commands;
}

}  // namespace

TEST_CASE("a setsid + env -i escapee is a survivor of a natural exit, and is killed") {
  for (auto& [which, options] : mechanisms()) {
    INFO(which);
    auto sleep_arg = unique_sleep();
    auto r = afterlife_run({"--grace", "200ms", "--expect", "exit=0", "--expect", "survivors=1"},
                           escapee_program(sleep_arg, "0.3"), unique("m"), options);
    REQUIRE(r.report.is_object());
    CHECK(r.status() == 0);
    check_mechanism(r.report, which);
    CHECK(survivor_commands(r.report) == std::vector<std::string>{"/bin/sleep " + sleep_arg});
    CHECK(processes_running(sleep_arg).empty());
    kill_running(sleep_arg);
  }
}

TEST_CASE("the escapee under sigkill, group-kill and tree-kill") {
  for (auto& [which, options] : mechanisms()) {
    INFO(which);
    // sigkill: the main process only; its `sleep 3` child and the escapee survive it.
    auto sleep_arg = unique_sleep();
    auto kill = afterlife_run({"--mode", "sigkill", "--at", "delay:200ms", "--grace", "100ms",
                               "--expect", "signal=KILL", "--expect", "survivors=2"},
                              escapee_program(sleep_arg, "3"), unique("m"), options);
    REQUIRE(kill.report.is_object());
    CHECK(kill.status() == 0);
    check_mechanism(kill.report, which);
    CHECK(kill.report["action"] == "SIGKILL sent to pid " + std::to_string(kill.report["exit"]["pid"].get<int>()));
    CHECK(survivor_commands(kill.report) ==
          std::vector<std::string>{"/bin/sleep " + sleep_arg, "sleep 3"});
    CHECK(processes_running(sleep_arg).empty());
    kill_running(sleep_arg);

    // group-kill: the shell and its `sleep 3` (its group); the escapee left it with setsid.
    sleep_arg = unique_sleep();
    auto group = afterlife_run({"--mode", "group-kill", "--at", "delay:200ms", "--grace", "100ms",
                                "--expect", "signal=KILL", "--expect", "survivors=1"},
                               escapee_program(sleep_arg, "3"), unique("m"), options);
    REQUIRE(group.report.is_object());
    CHECK(group.status() == 0);
    CHECK_THAT(group.report["action"].get<std::string>(),
               ContainsSubstring("to process group") && ContainsSubstring("(2 processes)"));
    CHECK(survivor_commands(group.report) == std::vector<std::string>{"/bin/sleep " + sleep_arg});
    CHECK(processes_running(sleep_arg).empty());
    kill_running(sleep_arg);

    // tree-kill: every process of the run at once, the escapee too: no survivor.
    sleep_arg = unique_sleep();
    auto tree = afterlife_run({"--mode", "tree-kill", "--at", "delay:200ms", "--expect",
                               "signal=KILL", "--expect", "survivors=0"},
                              escapee_program(sleep_arg, "3"), unique("m"), options);
    REQUIRE(tree.report.is_object());
    CHECK(tree.status() == 0);
    check_mechanism(tree.report, which);
    CHECK_THAT(tree.report["action"].get<std::string>(),
               ContainsSubstring("to every process of the run (3 processes"));
    CHECK(tree.report["survivors"].empty());
    CHECK(processes_running(sleep_arg).empty());
    kill_running(sleep_arg);
  }
}

TEST_CASE("clean ends the escapee of a run whose harness was killed") {
  for (auto& [which, options] : mechanisms()) {
    INFO(which);
    auto sleep_arg = unique_sleep();
    auto runtime = std::filesystem::temp_directory_path() / unique("al-contain-");
    std::filesystem::create_directories(runtime);
    options.set_env["AFTERLIFE_RUNTIME_DIR"] = runtime.string();
    options.timeout = std::chrono::milliseconds(1000);  // then the harness is SIGKILLed
    std::vector<std::string> argv{AFTERLIFE_EXE, "run", "--"};
    for (const auto& word : escapee_program(sleep_arg, "60")) argv.push_back(word);
    auto killed = run_child(argv, options);
    CHECK(killed.timed_out);
    auto escaped = processes_running(sleep_arg);
    REQUIRE(escaped.size() == 1);  // the harness is gone, the escapee lives on
    // What the harness recorded about the run's containment, for clean.
    std::string record;
    for (const auto& run : std::filesystem::directory_iterator(runtime / ("afterlife-" + std::to_string(getuid())))) {
      std::ifstream in(run.path() / "containment");
      std::getline(in, record);
    }
    if (std::string(which) == "subreaper") CHECK(record.starts_with("subreaper "));
    CHECK((record.starts_with("cgroup /") || record.starts_with("subreaper ")));

    options.timeout = std::chrono::milliseconds(30000);
    auto clean = run_child({AFTERLIFE_EXE, "clean"}, options);
    CHECK(clean.exit_code() == 0);
    CHECK_THAT(clean.out, ContainsSubstring("killed pid " + std::to_string(escaped[0]) + "\n"));
    CHECK_THAT(clean.out, ContainsSubstring("1 unfinished run(s) cleaned"));
    CHECK(processes_running(sleep_arg).empty());
    if (record.starts_with("cgroup ")) CHECK_FALSE(std::filesystem::exists(record.substr(7)));
    kill_running(sleep_arg);
    std::filesystem::remove_all(runtime);
  }
}

TEST_CASE("clean believes no containment record that names something else than the run's") {
  // A run's processes can write its directory: a record naming another cgroup or another
  // process must not make clean kill there. The decoy is a process of this test.
  auto sleep_arg = unique_sleep();
  pid_t decoy = fork();
  REQUIRE(decoy >= 0);
  if (decoy == 0) {
    execl("/bin/sleep", "sleep", sleep_arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto runtime = std::filesystem::temp_directory_path() / unique("al-record-");
  auto top = runtime / ("afterlife-" + std::to_string(getuid()));
  std::filesystem::create_directories(top);
  std::filesystem::permissions(top, std::filesystem::perms::owner_all);
  auto plant = [&](const std::string& id, const std::string& text) {
    std::filesystem::create_directories(top / id / "tmp");
    // An abandoned run as clean sees it: a journal (the harness's: 0600) nobody holds locked.
    std::ofstream(top / id / "journal");
    std::filesystem::permissions(top / id / "journal",
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::ofstream(top / id / "containment") << text << "\n";
  };
  std::ifstream stat("/proc/" + std::to_string(decoy) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 0; i < 20; ++i) fields >> field;  // the 22nd field: start time
  plant("1-0-aaaaaa", "subreaper " + std::to_string(decoy) + " " + field);
  // A cgroup-shaped decoy of the test's own, outside the cgroup2 mount, that names the decoy
  // process: believed, it would make clean kill it (never a real cgroup of the machine).
  auto fake_cgroup = runtime / "decoy-cgroup" / "afterlife-1-1-bbbbbb";
  std::filesystem::create_directories(fake_cgroup);
  std::ofstream(fake_cgroup / "cgroup.procs") << decoy << "\n";
  std::ofstream(fake_cgroup / "cgroup.kill");
  plant("1-1-bbbbbb", "cgroup " + fake_cgroup.string());
  child_options options;
  options.set_env["AFTERLIFE_RUNTIME_DIR"] = runtime.string();
  auto clean = run_child({AFTERLIFE_EXE, "clean"}, options);
  CHECK(clean.exit_code() == 0);
  CHECK_THAT(clean.out, ContainsSubstring("2 unfinished run(s) cleaned"));
  CHECK_THAT(clean.out, ContainsSubstring("pid " + std::to_string(decoy) + " is not the run's keeper"));
  CHECK_THAT(clean.out, ContainsSubstring(fake_cgroup.string() + " is not its cgroup"));
  CHECK_THAT(clean.out, !ContainsSubstring("killed pid"));
  CHECK(kill(decoy, 0) == 0);  // still alive
  kill(decoy, SIGKILL);
  waitpid(decoy, nullptr, 0);
  std::filesystem::remove_all(runtime);
}

TEST_CASE("group-kill spares a setsid child, tree-kill does not") {
  auto marker = unique("m");
  auto group = afterlife_run({"--mode", "group-kill", "--at", "checkpoint:ready", "--grace",
                              "100ms", "--expect", "signal=KILL", "--expect", "survivors=1"},
                             {actor(), "daemonize=30000", "checkpoint=ready", "pause"}, marker);
  REQUIRE(group.report.is_object());
  CHECK(group.status() == 0);
  REQUIRE(group.report["survivors"].size() == 1);
  CHECK_THAT(group.report["survivors"][0]["command"].get<std::string>(),
             ContainsSubstring("daemonize=30000"));
  CHECK(processes_with(marker).empty());

  auto tree = afterlife_run({"--mode", "tree-kill", "--at", "checkpoint:ready", "--expect",
                             "signal=KILL", "--expect", "survivors=0"},
                            {actor(), "daemonize=30000", "checkpoint=ready", "pause"}, marker);
  REQUIRE(tree.report.is_object());
  CHECK(tree.status() == 0);
  CHECK(tree.report["survivors"].empty());
  CHECK_THAT(tree.report["action"].get<std::string>(), ContainsSubstring("(2 processes"));
  CHECK(processes_with(marker).empty());
}

TEST_CASE("sigterm with --kill-after SIGKILLs a program that ignores SIGTERM, and says so") {
  auto marker = unique("m");
  auto started = std::chrono::steady_clock::now();
  auto r = afterlife_run({"--mode", "sigterm", "--at", "checkpoint:ready", "--kill-after",
                          "300ms", "--timeout", "20s", "--expect", "signal=KILL"},
                         {actor(), "ignore-term", "fork-sleep=30000", "checkpoint=ready", "pause"},
                         marker);
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 0);
  CHECK(r.report["killed_after"] == true);
  CHECK(r.report["timed_out"] == false);
  CHECK_THAT(r.report["action"].get<std::string>(),
             ContainsSubstring("SIGTERM sent to pid") &&
                 ContainsSubstring("still running after --kill-after 300 ms: SIGKILL sent to every "
                                   "process of the run (2)"));
  CHECK(r.report["exit"]["signal_name"] == "KILL");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  CHECK(processes_with(marker).empty());

  // A program that obeys SIGTERM is never SIGKILLed.
  auto obeys = afterlife_run({"--mode", "sigterm", "--at", "checkpoint:ready", "--kill-after",
                              "300ms", "--expect", "signal=TERM"},
                             {actor(), "checkpoint=ready", "pause"}, marker);
  CHECK(obeys.status() == 0);
  CHECK(obeys.report["killed_after"] == false);

  // Only after sigterm or sigint.
  auto wrong = afterlife_run({"--mode", "sigkill", "--kill-after", "1s"}, {actor(), "exit=0"},
                             marker);
  CHECK(wrong.status() == 2);
  CHECK_THAT(wrong.raw.err, ContainsSubstring("--kill-after needs --mode sigterm or --mode sigint"));
}

TEST_CASE("a signal mode whose trigger never fired fails the run") {
  auto marker = unique("m");
  // The line never comes: the program ends first.
  auto line = afterlife_run({"--mode", "sigkill", "--at", "line:NEVER", "--expect", "exit=0"},
                            {actor(), "print=hello", "exit=0"}, marker);
  REQUIRE(line.report.is_object());
  CHECK(line.status() == 1);
  CHECK(line.report["trigger_fired"] == false);
  REQUIRE(line.report["expectations"].size() == 2);
  CHECK(line.report["expectations"][0]["met"] == true);  // exit=0 itself is met
  CHECK(line.report["expectations"][1] ==
        nlohmann::json{{"expr", "trigger fired"}, {"met", false}, {"actual", "trigger never fired"}});
  CHECK_THAT(line.raw.err, ContainsSubstring("at line:NEVER (trigger never fired)"));
  CHECK_THAT(line.raw.err, ContainsSubstring("FAIL trigger fired  (trigger never fired)"));
  // A checkpoint of another name, and a file that never appears.
  auto checkpoint = afterlife_run({"--mode", "tree-kill", "--at", "checkpoint:other", "--expect",
                                   "exit=0"},
                                  {actor(), "checkpoint=ready", "exit=0"}, marker);
  CHECK(checkpoint.status() == 1);
  CHECK(checkpoint.report["trigger_fired"] == false);
  auto file = afterlife_run({"--mode", "sigterm", "--at", "file:/nonexistent/" + unique("f"),
                             "--expect", "exit=0"},
                            {actor(), "sleep=100", "exit=0"}, marker);
  CHECK(file.status() == 1);
  CHECK(file.report["trigger_fired"] == false);
  // Natural mode has no trigger: nothing to miss.
  auto natural = afterlife_run({"--expect", "exit=0"}, {actor(), "exit=0"}, marker);
  CHECK(natural.status() == 0);
  CHECK(processes_with(marker).empty());
}

TEST_CASE("a run ended by --timeout names the signal the program ignored or blocked") {
  auto marker = unique("m");
  auto ignored = afterlife_run({"--mode", "sigint", "--at", "checkpoint:ready", "--timeout",
                                "700ms"},
                               {actor(), "ignore-int", "checkpoint=ready", "pause"}, marker);
  REQUIRE(ignored.report.is_object());
  CHECK(ignored.status() == 1);
  CHECK(ignored.report["timed_out"] == true);
  auto pid = ignored.report["exit"]["pid"].get<int>();
  CHECK(ignored.report["notes"].dump().find("pid " + std::to_string(pid) +
                                            " ignores SIGINT (SigIgn): the signal did nothing") !=
        std::string::npos);

  auto blocked = afterlife_run({"--mode", "sigint", "--at", "checkpoint:ready", "--timeout",
                                "700ms"},
                               {actor(), "block-int", "checkpoint=ready", "pause"}, marker);
  REQUIRE(blocked.report.is_object());
  CHECK(blocked.status() == 1);
  pid = blocked.report["exit"]["pid"].get<int>();
  CHECK(blocked.report["notes"].dump().find(
            "pid " + std::to_string(pid) +
            " blocks SIGINT in every thread (SigBlk): the signal is still pending") !=
        std::string::npos);
  CHECK(processes_with(marker).empty());
}

TEST_CASE("concurrent runs in threads never take each other's escapees") {
  for (const char* forced : {"", "subreaper"}) {
    INFO(forced);
    if (*forced) setenv("AFTERLIFE_CONTAINMENT", forced, 1);
    constexpr int threads = 4;
    std::vector<std::string> sleeps;
    for (int i = 0; i < threads; ++i) sleeps.push_back(unique_sleep());
    std::vector<afterlife::run_report> reports(threads);
    std::vector<std::thread> workers;
    for (int i = 0; i < threads; ++i) {
      workers.emplace_back([&, i] {
        afterlife::run_options options;
        options.command = escapee_program(sleeps[static_cast<std::size_t>(i)], "0.3");
        options.grace = std::chrono::milliseconds(200);
        options.copy_stdout_to = -1;
        options.copy_stderr_to = -1;
        options.inherit_stdin = false;
        options.runtime_dir = runtime_dir();
        reports[static_cast<std::size_t>(i)] = afterlife::run(options);
      });
    }
    for (auto& w : workers) w.join();
    unsetenv("AFTERLIFE_CONTAINMENT");
    for (int i = 0; i < threads; ++i) {
      INFO("run " << i);
      const auto& report = reports[static_cast<std::size_t>(i)];
      if (*forced) CHECK(report.containment == "subreaper");
      REQUIRE(report.survivors.size() == 1);
      CHECK(report.survivors[0].command == "/bin/sleep " + sleeps[static_cast<std::size_t>(i)]);
      CHECK(processes_running(sleeps[static_cast<std::size_t>(i)]).empty());
      kill_running(sleeps[static_cast<std::size_t>(i)]);
    }
    // The orphans this process adopted (in cgroup mode it is their subreaper) were reaped by
    // the run each belonged to: no zombie is left.
    CHECK(zombie_children().empty());
  }
}

TEST_CASE("a nested afterlife run killed by tree-kill leaves no cgroup behind") {
  // The inner harness makes its run's cgroup inside the outer run's; killed before it removes
  // it, the outer run removes both.
  auto sleep_arg = unique_sleep();
  std::vector<std::string> inner{AFTERLIFE_EXE, "run", "--"};
  for (const auto& word : escapee_program(sleep_arg, "3")) inner.push_back(word);
  auto r = afterlife_run({"--mode", "tree-kill", "--at", "delay:500ms", "--expect", "signal=KILL",
                          "--expect", "survivors=0"},
                         inner, unique("m"));
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 0);
  check_mechanism(r.report, "default");  // the cgroup (if one) is gone, with what was inside
  CHECK(processes_running(sleep_arg).empty());
  kill_running(sleep_arg);
}

// Process evidence (harness/README.md "Process evidence"): what the harness reads itself of the
// run's processes — descriptors, mappings, sockets — attributes what the interposer cannot see
// (a statically linked program), fills held[], and shows a survivor's listening port. Linux
// only: the holder's segments live in /dev/shm, the harness reads /proc.
#include "catch.hpp"
#include "run_support.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

using namespace afterlife_test;
using Catch::Matchers::ContainsSubstring;

namespace {

const nlohmann::json* held_entry(const nlohmann::json& report, int pid) {
  for (const auto& h : report["held"])
    if (h["pid"] == pid) return &h;
  return nullptr;
}

const nlohmann::json* map_of(const nlohmann::json& process, const std::string& path) {
  for (const auto& m : process["maps"])
    if (m["path"] == path) return &m;
  return nullptr;
}

const nlohmann::json* fd_of(const nlohmann::json& process, const std::string& target) {
  for (const auto& fd : process["fds"])
    if (fd["target"] == target) return &fd;
  return nullptr;
}

std::string number_after(const std::string& text, const std::string& word) {
  std::smatch found;
  std::regex pattern(word + " (\\d+)");
  REQUIRE(std::regex_search(text, found, pattern));
  return found[1];
}

// A directory of the test's own, removed at the end.
struct scratch_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / unique("al-evidence-");
  scratch_dir() { std::filesystem::create_directories(path); }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// A run whose text report (stdout) and JSON report (a file) are both checked.
struct text_and_json {
  child_result raw;
  nlohmann::json report;
};
// Process evidence alone: a root harness's kernel events would name these creators too.
child_options without_kernel_events() {
  child_options options;
  options.set_env["AFTERLIFE_KERNEL_EVENTS"] = "0";
  return options;
}

text_and_json run_with_text(const std::vector<std::string>& arguments, const std::string& marker,
                            const std::filesystem::path& dir) {
  auto json_path = (dir / "report.json").string();
  std::vector<std::string> argv{AFTERLIFE_EXE, "run", "--json", json_path};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  child_options options = without_kernel_events();
  options.set_env["AFTERLIFE_RUNTIME_DIR"] = runtime_dir();
  options.set_env["AFTERLIFE_TEST_MARKER"] = marker;
  text_and_json result{run_child(argv, options), nullptr};
  std::ifstream in(json_path);
  result.report = nlohmann::json::parse(in, nullptr, false);
  return result;
}

}  // namespace

#ifdef HOLDER_STATIC_EXE
TEST_CASE("a statically linked program's shm segment, killed, is the run's by its mapping") {
  auto marker = unique("m");
  auto name = unique("/al-static-");
  // No LD_PRELOAD reaches a static program: only the harness's own look at its mappings, just
  // before --mode sigkill, can tie the segment to the run.
  auto r = afterlife_run({"--mode", "sigkill", "--at", "line:^mapped$", "--expect", "posix_shm=1",
                          "--expect", "signal=KILL"},
                         {HOLDER_STATIC_EXE, "shm-map=" + name + ":8192", "print=mapped", "pause"},
                         marker, without_kernel_events());
  REQUIRE(r.report.is_object());
  INFO(r.report.dump(2));
  CHECK(r.status() == 0);
  CHECK(r.report["verdict"] == "pass");
  int pid = r.report["exit"]["pid"];
  const auto* segment = find_leftover(r.report, "posix_shm", name);
  REQUIRE(segment != nullptr);
  CHECK((*segment)["attributed"] == true);
  CHECK((*segment)["sources"] == nlohmann::json::array({"process"}));
  CHECK((*segment)["creator"]["pid"] == pid);
  CHECK((*segment)["creator"]["site"] ==
        "held it as a shared mapping before --mode sigkill (process evidence)");
  CHECK((*segment)["reaped"] == true);
  CHECK_FALSE(shm_exists(name));

  const auto* held = held_entry(r.report, pid);
  REQUIRE(held != nullptr);
  CHECK((*held)["read_at"] == "before --mode sigkill");
  CHECK((*held)["ended"] == "killed by SIGKILL");
  CHECK((*held)["exit"]["signal"] == 9);
  CHECK((*held)["killed_by_harness"] == true);
  const auto* mapping = map_of(*held, "/dev/shm/" + name.substr(1));
  REQUIRE(mapping != nullptr);
  CHECK((*mapping)["shared"] == true);
  CHECK((*mapping)["size"] == 8192);
}

TEST_CASE("a segment the run did not hold stays unattributed beside a static program's") {
  // The decoy exists before the run and the run never opens it: neither its name nor its
  // neighbourhood makes it the run's, and it is not touched.
  auto marker = unique("m");
  auto decoy = unique("/al-decoy-");
  auto name = unique("/al-static-");
  int fd = shm_open(decoy.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  REQUIRE(fd >= 0);
  close(fd);
  auto r = afterlife_run({"--mode", "sigkill", "--at", "line:^mapped$", "--expect", "posix_shm=1"},
                         {HOLDER_STATIC_EXE, "shm-map=" + name + ":4096", "print=mapped", "pause"},
                         marker);
  CHECK(shm_exists(decoy));
  shm_unlink(decoy.c_str());
  REQUIRE(r.report.is_object());
  INFO(r.report.dump(2));
  CHECK(find_leftover(r.report, "posix_shm", decoy) == nullptr);  // existed before: no leftover
  const auto* segment = find_leftover(r.report, "posix_shm", name);
  REQUIRE(segment != nullptr);
  CHECK((*segment)["reaped"] == true);
}
#endif

TEST_CASE("held lists a killed process's files and shared mappings, held_fds counts them") {
  scratch_dir dir;
  auto marker = unique("m");
  auto name = unique("/al-held-");
  auto file = (dir.path / "held.txt").string();
  auto run = run_with_text(
      {"--mode", "sigkill", "--at", "line:^ready$", "--expect", "held_fds=1", "--expect",
       "posix_shm=1", "--", HOLDER_EXE, "shm-map=" + name + ":4096", "open=" + file,
       "print=ready", "pause"},
      marker, dir.path);
  const auto& raw = run.raw;
  const auto& report = run.report;
  REQUIRE(report.is_object());
  INFO(report.dump(2));
  INFO(raw.out);
  CHECK(raw.exit_code() == 0);
  CHECK(report["verdict"] == "pass");
  int pid = report["exit"]["pid"];
  auto fd_number = std::stoi(number_after(raw.out, "fd"));
  const auto* held = held_entry(report, pid);
  REQUIRE(held != nullptr);
  CHECK((*held)["command"].get<std::string>().starts_with(std::string(HOLDER_EXE) + " shm-map="));
  const auto* open_file = fd_of(*held, file);
  REQUIRE(open_file != nullptr);
  CHECK((*open_file)["fd"] == fd_number);
  auto shm_path = "/dev/shm/" + name.substr(1);
  const auto* mapping = map_of(*held, shm_path);
  REQUIRE(mapping != nullptr);
  CHECK((*mapping)["shared"] == true);
  CHECK((*mapping)["size"] == 4096);
  // The interposer saw the shm_open, and the harness saw the mapping.
  const auto* segment = find_leftover(report, "posix_shm", name);
  REQUIRE(segment != nullptr);
  CHECK((*segment)["sources"] == nlohmann::json::array({"interposer", "process"}));
  CHECK((*segment)["reaped"] == true);
  // The text, as valgrind --track-fds=yes lists what is open at exit.
  CHECK_THAT(raw.out, ContainsSubstring("  held      "));
  CHECK_THAT(raw.out, ContainsSubstring("    pid " + std::to_string(pid) + "  " + HOLDER_EXE));
  CHECK_THAT(raw.out, ContainsSubstring("  killed by SIGKILL, read before --mode sigkill\n"));
  CHECK_THAT(raw.out, ContainsSubstring("      fd " + std::to_string(fd_number) + " -> " + file + "\n"));
  CHECK_THAT(raw.out, ContainsSubstring("      maps " + shm_path + " (4096 bytes, shared)\n"));
  CHECK_THAT(raw.out, ContainsSubstring("ok   held_fds=1  (1 held fds)"));
}

TEST_CASE("a survivor's listening TCP port is decoded and flagged") {
  auto marker = unique("m");
  scratch_dir dir;
  // The parent exits at once; its child keeps the inherited listener past --grace.
  auto run = run_with_text({"--grace", "300ms", "--expect", "survivors=1", "--", HOLDER_EXE,
                            "tcp-listen", "fork-sleep=30000"},
                           marker, dir.path);
  const auto& raw = run.raw;
  const auto& report = run.report;
  REQUIRE(report.is_object());
  INFO(report.dump(2));
  INFO(raw.out);
  CHECK(raw.exit_code() == 0);
  auto port = number_after(raw.out, "port");
  auto listener = "tcp 127.0.0.1:" + port + " LISTEN";
  REQUIRE(report["survivors"].size() == 1);
  const auto& survivor = report["survivors"][0];
  CHECK(survivor["ppid"].get<int>() != report["exit"]["pid"].get<int>());  // orphaned
  CHECK(survivor["uid"] == static_cast<long long>(geteuid()));
  CHECK(survivor["state"] == "sleeping");
  CHECK(survivor["exe"] == std::filesystem::canonical(HOLDER_EXE).string());
  CHECK(survivor["comm"] == "harness_holder");
  const auto* fd = fd_of(survivor, listener);
  REQUIRE(fd != nullptr);
  CHECK((*fd)["listening"] == true);
  // Killed after the grace period: held[] has it too, read then.
  const auto* held = held_entry(report, survivor["pid"]);
  REQUIRE(held != nullptr);
  CHECK((*held)["read_at"] == "as a survivor, before SIGKILL");
  CHECK((*held)["ended"] == "killed by SIGKILL from the harness");
  CHECK(fd_of(*held, listener) != nullptr);
  CHECK_THAT(raw.out, ContainsSubstring("-> " + listener + "   <- LISTENING: holds the port\n"));
  CHECK(processes_with(marker).empty());
}

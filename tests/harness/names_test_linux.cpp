// Names made past the interposer, renamed, re-created or made outside the listed places
// (issue 14, "Sight"): each test asserts the kind, the name, what attributed it (`sources`),
// and what was reaped and kept. Kernel events (fanotify) name a creator only to a harness with
// CAP_SYS_ADMIN: where the report says it did not use them, the tests assert what the report
// says instead (not attributed, and a `blind` entry that says why).
#include "catch.hpp"
#include "run_support.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

using namespace afterlife_test;
using Catch::Matchers::ContainsSubstring;

namespace {

bool used(const nlohmann::json& report, const std::string& source) {
  for (const auto& s : report["attribution"]["sources"])
    if (s == source) return true;
  return false;
}

bool blind_about(const nlohmann::json& report, const std::string& what) {
  for (const auto& b : report["attribution"]["blind"])
    if (b["what"] == what) return true;
  return false;
}

std::vector<std::string> sources_of(const nlohmann::json& leftover) {
  return leftover["sources"].get<std::vector<std::string>>();
}

// A name made past the interposer while the harness used fanotify: the run's by the kernel's
// word, and reaped — unless its creator was gone (reaped by its parent) before the event was
// read: then it is not attributed, and the report's `blind` names it (never a silent pass).
// Returns whether it was attributed (so the caller knows whether to remove it itself).
bool check_kernel_attribution(const harness_run& r, const nlohmann::json& left,
                              const std::string& path) {
  if (left["attributed"] == true) {
    CHECK(r.status() == 1);  // `clean` fails: the run leaked it
    CHECK(sources_of(left) == std::vector<std::string>{"fanotify"});
    CHECK(left["reaped"] == true);
    CHECK_FALSE(std::filesystem::exists(path));
    return true;
  }
  WARN("the creator of " << path << " was gone before its event was read");
  CHECK(blind_about(r.report, path));
  CHECK(left["kept"] == "not created by this run");
  return false;
}

// A directory of the test's own under /tmp (ext4 here: inode numbers are reused), removed with
// everything in it at the end.
struct scratch_dir {
  std::filesystem::path path;
  scratch_dir() : path(std::filesystem::path("/tmp") / unique("al-names-")) {
    std::filesystem::create_directory(path);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string at(const std::string& name) const { return (path / name).string(); }
};

// Kernel events are on by default only where the interposer cannot see (a static program,
// --no-interposer): these tests want them for every run, and say so as a user would. The test
// of the default itself unsets it.
const bool kernel_events_for_every_run = setenv("AFTERLIFE_KERNEL_EVENTS", "1", 1) == 0;

child_options default_kernel_events() {
  child_options options;
  options.unset_env.push_back("AFTERLIFE_KERNEL_EVENTS");
  return options;
}

}  // namespace

TEST_CASE("kernel events are on by default only where the interposer cannot see") {
  REQUIRE(kernel_events_for_every_run);
  auto marker = unique("m");
  SECTION("a dynamic program's raw syscall: off, and the report says so") {
    auto name = unique("/al-rawdefault-");
    auto r = afterlife_run({}, {actor(), "shm-raw=" + name, "exit=0"}, marker,
                           default_kernel_events());
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    CHECK_FALSE(used(r.report, "fanotify"));
    const auto* left = find_leftover(r.report, "posix_shm", name);
    REQUIRE(left != nullptr);
    CHECK((*left)["attributed"] == false);
    bool said = false;
    for (const auto& b : r.report["attribution"]["blind"])
      if (b["what"] == "kernel events")
        said = b["why"].get<std::string>().starts_with("off for a dynamically linked program");
    CHECK(said);
    shm_unlink(name.c_str());
  }
  SECTION("a statically linked program: on") {
    auto name = unique("al-staticdefault-");
    auto r = afterlife_run({}, {STATIC_LEAK_EXE, name}, marker, default_kernel_events());
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    bool off_by_policy = false;
    for (const auto& b : r.report["attribution"]["blind"])
      if (b["what"] == "kernel events")
        off_by_policy = b["why"].get<std::string>().starts_with("off for");
    CHECK_FALSE(off_by_policy);
    if (geteuid() == 0) CHECK(used(r.report, "fanotify"));  // creators need CAP_SYS_ADMIN
    std::filesystem::remove("/dev/shm/" + name);
  }
}

TEST_CASE("a raw-syscall leak in /dev/shm is the run's by the kernel's word") {
  auto marker = unique("m");
  auto name = unique("/al-raw-");
  auto r = afterlife_run({}, {actor(), "shm-raw=" + name, "exit=0"}, marker);
  REQUIRE(r.report.is_object());
  const auto* left = find_leftover(r.report, "posix_shm", name);
  REQUIRE(left != nullptr);
  INFO(r.report.dump(2));
  if (used(r.report, "fanotify")) {
    // The main process itself: the harness knows its pid whatever the timing.
    CHECK(check_kernel_attribution(r, *left, "/dev/shm" + name));
    CHECK((*left)["creator"]["pid"] == r.report["exit"]["pid"]);
  } else {
    CHECK(r.status() == 0);
    CHECK((*left)["attributed"] == false);
    CHECK((*left)["kept"] == "not created by this run");
    CHECK(blind_about(r.report, "kernel events"));
    shm_unlink(name.c_str());
  }
}

TEST_CASE("touch in /dev/shm through sh makes a posix_shm of the run") {
  auto marker = unique("m");
  auto name = unique("al-touch-");
  std::string path = "/dev/shm/" + name;
  SECTION("with the interposer") {
    auto r = afterlife_run({"--expect", "posix_shm=1"}, {"sh", "-c", "touch " + path}, marker);
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    CHECK(r.status() == 0);
    const auto* left = find_leftover(r.report, "posix_shm", "/" + name);
    REQUIRE(left != nullptr);
    CHECK((*left)["attributed"] == true);
    CHECK(sources_of(*left).front() == "interposer");
    // fanotify beside it, unless `touch` (a child of sh) was reaped before its event was read.
    if (!used(r.report, "fanotify") || sources_of(*left).size() == 1)
      CHECK(sources_of(*left) == std::vector<std::string>{"interposer"});
    else
      CHECK(sources_of(*left) == std::vector<std::string>{"interposer", "fanotify"});
    CHECK((*left)["cleanup"] == "rm -- " + path);
    CHECK((*left)["reaped"] == true);
    CHECK_FALSE(std::filesystem::exists(path));
  }
  SECTION("without it, by kernel events alone") {
    auto r = afterlife_run({"--no-interposer"}, {"sh", "-c", "touch " + path}, marker);
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    CHECK(blind_about(r.report, "interposer"));
    const auto* left = find_leftover(r.report, "posix_shm", "/" + name);
    REQUIRE(left != nullptr);
    if (!used(r.report, "fanotify") || !check_kernel_attribution(r, *left, path)) {
      CHECK((*left)["attributed"] == false);
      std::filesystem::remove(path);
    }
  }
}

TEST_CASE("a statically linked leaker: kernel events, and the report says the interposer was blind") {
  auto marker = unique("m");
  auto name = unique("al-static-");
  auto r = afterlife_run({}, {STATIC_LEAK_EXE, name}, marker);
  REQUIRE(r.report.is_object());
  INFO(r.report.dump(2));
  CHECK(blind_about(r.report, "interposer"));
  for (const auto& b : r.report["attribution"]["blind"])
    if (b["what"] == "interposer") CHECK_THAT(b["why"].get<std::string>(), ContainsSubstring("statically linked"));
  const auto* left = find_leftover(r.report, "posix_shm", "/" + name);
  REQUIRE(left != nullptr);
  if (used(r.report, "fanotify")) {
    CHECK(check_kernel_attribution(r, *left, "/dev/shm/" + name));  // the main process
  } else {
    CHECK((*left)["attributed"] == false);
    std::filesystem::remove("/dev/shm/" + name);
  }
}

TEST_CASE("write-then-rename in a watched directory keeps the creator") {
  auto marker = unique("m");
  scratch_dir dir;
  std::string data = dir.at("data");
  SECTION("kept by default") {
    auto r = afterlife_run({"--watch", dir.path.string(), "--expect", "file=1"},
                           {actor(), "replace=" + data, "exit=0"}, marker);
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    CHECK(r.status() == 0);
    REQUIRE(r.report["leftovers"].size() == 1);
    const auto* left = find_leftover(r.report, "file", data);
    REQUIRE(left != nullptr);
    CHECK((*left)["attributed"] == true);
    CHECK(sources_of(*left).front() == "interposer");
    CHECK((*left)["moved_from"] == data + ".new");
    CHECK((*left)["creator"]["pid"] == r.report["exit"]["pid"]);
    CHECK((*left)["kept"] == "in a watched directory (--reap files or all removes it)");
    CHECK(std::filesystem::exists(data));
  }
  SECTION("removed with --reap files") {
    auto r = afterlife_run({"--watch", dir.path.string(), "--reap", "files", "--expect", "file=1"},
                           {actor(), "replace=" + data, "exit=0"}, marker);
    REQUIRE(r.report.is_object());
    const auto* left = find_leftover(r.report, "file", data);
    REQUIRE(left != nullptr);
    CHECK((*left)["reaped"] == true);
    CHECK_FALSE(std::filesystem::exists(data));
  }
}

TEST_CASE("a name re-created during the run is new, and kept: it existed before") {
  auto marker = unique("m");
  scratch_dir dir;
  std::string pid_file = dir.at("postmaster.pid");
  std::ofstream(pid_file) << "stale\n";
  auto r = afterlife_run({"--watch", dir.path.string(), "--reap", "files", "--expect", "file=1"},
                         {actor(), "recreate=" + pid_file, "exit=0"}, marker);
  REQUIRE(r.report.is_object());
  INFO(r.report.dump(2));
  std::smatch inodes;
  std::string out = r.raw.err;  // with --json -, the program's stdout goes to stderr
  REQUIRE(std::regex_search(out, inodes, std::regex("inode (\\d+) (\\d+)")));
  // The case this test is for: the same inode number again (ext4 reuses a freed one at once).
  if (inodes[1] != inodes[2]) WARN("the file system gave a new inode number: the plain diff sees it too");
  CHECK(r.status() == 0);
  const auto* left = find_leftover(r.report, "file", pid_file);
  REQUIRE(left != nullptr);
  CHECK((*left)["attributed"] == true);
  CHECK(sources_of(*left).front() == "interposer");
  CHECK((*left)["reaped"] == false);
  CHECK((*left)["kept"] == "the name existed before the run");
  CHECK(std::filesystem::exists(pid_file));
}

TEST_CASE("a directory the run made is reported, and removed only with all it holds") {
  auto marker = unique("m");
  scratch_dir dir;
  std::string sub = dir.at("sub");
  SECTION("kept by default") {
    auto r = afterlife_run({"--watch", dir.path.string(), "--expect", "directory=1",
                            "--expect", "file=1"},
                           {actor(), "mkdir=" + sub, "file=" + sub + "/f", "exit=0"}, marker);
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    CHECK(r.status() == 0);
    const auto* left = find_leftover(r.report, "directory", sub);
    REQUIRE(left != nullptr);
    CHECK((*left)["attributed"] == true);
    CHECK(sources_of(*left).front() == "interposer");
    CHECK((*left)["cleanup"] == "rm -r -- " + sub);
    CHECK((*left)["kept"] == "in a watched directory (--reap files or all removes it)");
    CHECK(std::filesystem::is_directory(sub));
  }
  SECTION("removed with --reap files when everything in it was the run's") {
    auto r = afterlife_run({"--watch", dir.path.string(), "--reap", "files"},
                           {actor(), "mkdir=" + sub, "file=" + sub + "/f", "exit=0"}, marker);
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    const auto* left = find_leftover(r.report, "directory", sub);
    REQUIRE(left != nullptr);
    CHECK((*find_leftover(r.report, "file", sub + "/f"))["reaped"] == true);
    CHECK((*left)["reaped"] == true);
    CHECK_FALSE(std::filesystem::exists(sub));
  }
  SECTION("kept with --reap files when it holds what the harness cannot attribute") {
    // Past the interposer, in a subdirectory no kernel mark covers: the run's, unprovably.
    auto r = afterlife_run({"--watch", dir.path.string(), "--reap", "files"},
                           {actor(), "mkdir=" + sub, "raw-file=" + sub + "/raw", "exit=0"}, marker);
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    const auto* raw = find_leftover(r.report, "file", sub + "/raw");
    REQUIRE(raw != nullptr);
    CHECK((*raw)["attributed"] == false);
    const auto* left = find_leftover(r.report, "directory", sub);
    REQUIRE(left != nullptr);
    CHECK((*left)["attributed"] == true);
    CHECK((*left)["reaped"] == false);
    CHECK((*left)["kept"] == "it holds entries that are kept or not the run's");
    CHECK(std::filesystem::exists(sub + "/raw"));
  }
}

TEST_CASE("what the interposer saw made outside the listed places is reported and kept") {
  auto marker = unique("m");
  scratch_dir dir;  // not watched
  std::string sock = dir.at("s.sock");
  std::string lock = dir.at("s.sock.lock");
  auto r = afterlife_run({"--reap", "all", "--expect", "socket=1", "--expect", "file=1"},
                         {actor(), "socket=" + sock, "file=" + lock, "exit=0"}, marker);
  REQUIRE(r.report.is_object());
  INFO(r.report.dump(2));
  CHECK(r.status() == 0);
  for (const auto& [kind, path] : {std::pair{"socket", sock}, std::pair{"file", lock}}) {
    const auto* left = find_leftover(r.report, kind, path);
    REQUIRE(left != nullptr);
    CHECK((*left)["attributed"] == true);
    CHECK(sources_of(*left) == std::vector<std::string>{"interposer"});
    CHECK((*left)["cleanup"] == "rm -- " + path);
    CHECK((*left)["reaped"] == false);
    CHECK((*left)["kept"] == "outside the run's TMPDIR and the watched directories");
    CHECK((*left)["outside"] == true);
    CHECK(std::filesystem::exists(std::filesystem::symlink_status(path)));
  }
  std::filesystem::remove(sock);
  std::filesystem::remove(lock);
}

TEST_CASE("a file made outside the listed places fails clean only under --strict") {
  scratch_dir dir;  // not watched: a program's output file, a cache, a log
  std::string output = dir.at("output.txt");
  for (bool strict : {false, true}) {
    auto marker = unique("m");
    std::vector<std::string> options{"--reap", "all"};
    if (strict) options.push_back("--strict");
    auto r = afterlife_run(options, {actor(), "file=" + output, "exit=0"}, marker);
    REQUIRE(r.report.is_object());
    INFO(r.report.dump(2));
    const auto* left = find_leftover(r.report, "file", output);
    REQUIRE(left != nullptr);
    CHECK((*left)["attributed"] == true);
    CHECK((*left)["outside"] == true);
    CHECK((*left)["reaped"] == false);  // kept either way
    CHECK(r.report["verdict"] == (strict ? "fail" : "pass"));
    CHECK(r.status() == (strict ? 1 : 0));
    CHECK(std::filesystem::exists(output));
    std::filesystem::remove(output);
  }
}

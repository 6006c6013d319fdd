// What a run cannot make afterlife delete or write (harness/README.md, "What afterlife removes,
// and what it never touches"). Every attack aims at decoys this test creates in a temporary
// directory, /dev/shm names and SysV objects of its own, with a private AFTERLIFE_RUNTIME_DIR.
#include "catch.hpp"
#include "run_support.hpp"

#include <fcntl.h>
#include <mqueue.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

using namespace afterlife_test;
using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

namespace {

void make_shm(const std::string& name) { close(shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600)); }

bool mq_exists(const std::string& name) {
  mqd_t q = mq_open(name.c_str(), O_RDONLY);
  if (q == static_cast<mqd_t>(-1)) return false;
  mq_close(q);
  return true;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct decoys {
  fs::path dir = fs::temp_directory_path() / unique("al-decoy-");
  std::string shm = unique("/al-decoy-shm-");
  std::string mq = unique("/al-decoy-mq-");
  int sysv = -1;
  decoys() {
    fs::create_directories(dir / "sub");
    std::ofstream(dir / "keep.txt") << "precious";
    std::ofstream(dir / "sub" / "table") << "rows";
    make_shm(shm);
    mq_attr attr{};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 16;
    mq_close(mq_open(mq.c_str(), O_CREAT | O_EXCL | O_RDONLY, 0600, &attr));
    sysv = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  }
  ~decoys() {
    fs::remove_all(dir);
    shm_unlink(shm.c_str());
    mq_unlink(mq.c_str());
    if (sysv >= 0) shmctl(sysv, IPC_RMID, nullptr);
  }
  bool intact() const {
    shmid_ds ds{};
    return read_text(dir / "keep.txt") == "precious" && read_text(dir / "sub" / "table") == "rows" &&
           shm_exists(shm) && mq_exists(mq) && shmctl(sysv, IPC_STAT, &ds) == 0;
  }
};

}  // namespace

TEST_CASE("trust: forged claims make nothing removable, and a forged pid is refused") {
  decoys d;
  REQUIRE(d.intact());
  auto marker = unique("m");
  auto r = afterlife_run(
      {"--watch", d.dir.string(), "--reap", "all"},
      {actor(), "register=file:" + (d.dir / "keep.txt").string(), "register=posix_shm:" + d.shm,
       "register=posix_mq:" + d.mq, "register=sysv_shm:" + std::to_string(d.sysv),
       "send=record posix_shm\\t0\\tforged\\t" + d.shm,
       "send=record posix_mq\\t0\\tforged\\t" + d.mq,
       // A pid that is not the sender's (the harness's parent: this test): refused.
       "send=" + std::to_string(getpid()) + " register sysv_shm " + std::to_string(d.sysv),
       "exit=0"},
      marker);
  REQUIRE(r.report.is_object());
  CHECK_THAT(r.raw.out + r.raw.err,
             ContainsSubstring("answer: error pid " + std::to_string(getpid()) +
                               " is not the sender's"));
  CHECK(r.report["malformed_messages"] == 1);
  CHECK(d.intact());
  // The pre-existing queue is not even a leftover of this run: it existed before.
  const auto* mq = find_leftover(r.report, "posix_mq", d.mq);
  if (mq != nullptr) CHECK((*mq)["reaped"] == false);
}

TEST_CASE("trust: a watched file that existed before is never removed, even replaced") {
  decoys d;
  auto marker = unique("m");
  auto keep = fs::canonical(d.dir) / "keep.txt";
  auto r = afterlife_run({"--watch", d.dir.string(), "--reap", "all"},
                         {actor(), "replace=" + keep.string(), "register=file:" + keep.string(),
                          "file=" + (d.dir / "new.log").string(),
                          "exit=0"},
                         marker);
  REQUIRE(r.report.is_object());
  const auto* replaced = find_leftover(r.report, "file", keep.string());
  REQUIRE(replaced != nullptr);
  CHECK((*replaced)["attributed"] == true);
  CHECK((*replaced)["reaped"] == false);
  CHECK((*replaced)["kept"] == "the name existed before the run");
  CHECK(fs::exists(keep));
  // What the run created there is removed under --reap all.
  const auto* created = find_leftover(r.report, "file", (fs::canonical(d.dir) / "new.log").string());
  REQUIRE(created != nullptr);
  CHECK((*created)["reaped"] == true);
}

TEST_CASE("trust: a TMPDIR swapped for a symlink and a planted journal link touch nothing") {
  decoys d;
  auto marker = unique("m");
  auto victim = d.dir / "victim.txt";
  std::ofstream(victim) << "untouched";
  auto ours = unique("/al-trust-");
  auto r = afterlife_run({}, {actor(), "swap-tmp=" + d.dir.string(),
                              "swap-journal=" + victim.string(), "shm=" + ours,
                              "register=posix_shm:" + ours, "exit=0"},
                         marker);
  REQUIRE(r.report.is_object());
  CHECK(d.intact());
  CHECK(read_text(victim) == "untouched");
  // The run's own object is still recorded (through the socket) and reaped.
  const auto* leftover = find_leftover(r.report, "posix_shm", ours);
  REQUIRE(leftover != nullptr);
  CHECK((*leftover)["reaped"] == true);
  CHECK_FALSE(shm_exists(ours));
  // Nothing of the decoy directory was even listed as the run's (the swapped TMPDIR is not
  // followed).
  for (const auto& l : r.report["leftovers"]) {
    auto name = fs::path(l["name"].get<std::string>()).filename();
    CHECK(name != "keep.txt");
    CHECK(name != "victim.txt");
  }
}

TEST_CASE("trust: clean after a killed harness removes what the run made, never a decoy") {
  decoys d;
  auto marker = unique("m");
  auto ours = unique("/al-orphan-");
  auto our_mq = unique("/al-orphan-mq-");
  auto runtime = fs::temp_directory_path() / unique("al-clean-");
  fs::create_directories(runtime);
  child_options opts;
  opts.set_env["AFTERLIFE_RUNTIME_DIR"] = runtime.string();
  opts.set_env["AFTERLIFE_TEST_MARKER"] = marker;
  opts.timeout = std::chrono::milliseconds(1500);  // then the harness is SIGKILLed mid-run
  auto killed = run_child({AFTERLIFE_EXE, "run", "--watch", d.dir.string(), "--reap", "all", "--",
                           actor(), "shm=" + ours, "mq=" + our_mq,
                           "register=posix_shm:" + d.shm, "register=posix_mq:" + d.mq,
                           "register=file:" + (d.dir / "keep.txt").string(),
                           "register=sysv_shm:" + std::to_string(d.sysv), "pause"},
                          opts);
  CHECK(killed.timed_out);
  CHECK(shm_exists(ours));
  opts.timeout = std::chrono::milliseconds(30000);
  auto clean = run_child({AFTERLIFE_EXE, "clean"}, opts);
  CHECK(clean.exit_code() == 0);
  CHECK_THAT(clean.out, ContainsSubstring("removed posix_shm " + ours));
  CHECK_THAT(clean.out, ContainsSubstring("removed posix_mq " + our_mq));
  CHECK_THAT(clean.out, ContainsSubstring("1 unfinished run(s) cleaned"));
  kill_marked(marker);
  CHECK_FALSE(shm_exists(ours));
  CHECK_FALSE(mq_exists(our_mq));
  CHECK(d.intact());
  fs::remove_all(runtime);
}

TEST_CASE("trust: idle connections cannot lock the program's checkpoint out") {
  auto marker = unique("m");
  auto r = afterlife_run({"--mode", "sigkill", "--at", "checkpoint:go", "--expect", "signal=KILL"},
                         {actor(), "idle-connections=300", "checkpoint=go", "sleep=30000", "exit=0"},
                         marker);
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 0);
  CHECK(r.report["trigger_fired"] == true);
  CHECK(r.report["malformed_messages"] == 0);
}

TEST_CASE("trust: a flood of records keeps the run within its --timeout") {
  auto marker = unique("m");
  auto started = std::chrono::steady_clock::now();
  auto r = afterlife_run({"--timeout", "3s"}, {actor(), "record-flood=0"}, marker);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 1);
  CHECK(r.report["timed_out"] == true);
  CHECK(seconds < 8.0);  // 3 s, then the tree is killed (at most 5 s to die) and the run reported
  CHECK(processes_with(marker).empty());
}

TEST_CASE("trust: claims past their bound are dropped, and the run cannot pass") {
  auto marker = unique("m");
  // 7,000 records of ~10.5 KB: past the 64 MiB bound, whatever the machine's speed.
  auto r = afterlife_run({}, {actor(), "record-flood=7000", "exit=0"}, marker);
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 1);
  bool dropped = false;
  for (const auto& note : r.report["notes"])
    dropped = dropped || note.get<std::string>().starts_with("claims dropped");
  CHECK(dropped);
  bool judged = false;
  for (const auto& e : r.report["expectations"])
    judged = judged || (e["expr"] == "claims complete" && e["met"] == false);
  CHECK(judged);
}

TEST_CASE("trust: durations that overflow and a missing --watch are usage errors that leave no run directory") {
  auto runtime = fs::temp_directory_path() / unique("al-usage-");
  fs::create_directories(runtime);
  child_options opts;
  opts.set_env["AFTERLIFE_RUNTIME_DIR"] = runtime.string();
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--timeout", "99999999999h"}, {"--timeout", "1e300"}, {"--grace", "1e300s"},
           {"--mode", "sigterm", "--at", "delay:99999999999h"},
           {"--watch", (runtime / "nonexistent").string()}}) {
    std::vector<std::string> argv{AFTERLIFE_EXE, "run"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    argv.insert(argv.end(), {"--", "/bin/true"});
    auto r = run_child(argv, opts);
    INFO(bad[0] << " " << bad[1] << ": " << r.err);
    CHECK(r.exit_code() == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  std::size_t runs = 0;
  for (const auto& top : fs::directory_iterator(runtime))
    for ([[maybe_unused]] const auto& run : fs::directory_iterator(top.path())) ++runs;
  CHECK(runs == 0);
  fs::remove_all(runtime);
}

TEST_CASE("trust: a relocated afterlife finds its interposer beside its prefix, or says it is missing") {
  auto prefix = fs::temp_directory_path() / unique("al-prefix-");
  fs::create_directories(prefix / "bin");
  fs::copy_file(AFTERLIFE_EXE, prefix / "bin" / "afterlife");
  child_options opts;
  opts.set_env["AFTERLIFE_RUNTIME_DIR"] = runtime_dir();
  opts.unset_env.push_back("AFTERLIFE_INTERPOSER");
  auto name = unique("/al-reloc-");
  std::vector<std::string> argv{(prefix / "bin" / "afterlife").string(), "run", "--json", "-",
                                "--", actor(), "shm=" + name, "exit=0"};
  auto missing = run_child(argv, opts);
  CHECK(missing.exit_code() == 3);
  CHECK_THAT(missing.err, ContainsSubstring("interposer"));
  CHECK_THAT(missing.err, ContainsSubstring("--no-interposer"));
  CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);
  CHECK_FALSE(shm_exists(name));  // nothing ran

  auto lib = (prefix / "bin" / AFTERLIFE_INTERPOSER_RELATIVE).lexically_normal();
  fs::create_directories(lib);
  fs::copy_file(AFTERLIFE_INTERPOSER, lib / fs::path(AFTERLIFE_INTERPOSER).filename());
  auto found = run_child(argv, opts);
  auto report = nlohmann::json::parse(found.out, nullptr, false);
  REQUIRE(report.is_object());
  const auto* leftover = find_leftover(report, "posix_shm", name);
  REQUIRE(leftover != nullptr);
  CHECK((*leftover)["attributed"] == true);
  CHECK((*leftover)["reaped"] == true);
  fs::remove_all(prefix);
}

TEST_CASE("trust: a child that drops to another uid reports to the socket and uses TMPDIR") {
  if (geteuid() != 0 || !fs::exists("/usr/bin/setpriv")) {
    std::cout << "SKIPPED: needs root and setpriv\n";
    return;
  }
  auto marker = unique("m");
  auto name = unique("/al-dropped-");
  // The dropped child's loader opens the interposer as uid 65534: a build tree under a private
  // home (a fresh machine's /root is 0700) is out of its reach. A world-readable copy keeps
  // this test about the socket and TMPDIR, wherever the build lives.
  auto lib_dir = fs::temp_directory_path() / unique("al-interposer-");
  fs::create_directories(lib_dir);
  fs::permissions(lib_dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  auto lib = lib_dir / fs::path(AFTERLIFE_INTERPOSER).filename();
  fs::copy_file(AFTERLIFE_INTERPOSER, lib);
  fs::permissions(lib, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                           fs::perms::others_read);
  child_options world_readable;
  world_readable.set_env["AFTERLIFE_INTERPOSER"] = lib.string();
  auto r = afterlife_run({"--expect", "posix_shm=1", "--expect", "file=1"},
                         {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "--", actor(), "shm=" + name, "mkstemp=@tmp/dropXXXXXX", "exit=0"},
                         marker, world_readable);
  fs::remove_all(lib_dir);
  REQUIRE(r.report.is_object());
  INFO(r.raw.err);
  CHECK(r.status() == 0);
  const auto* leftover = find_leftover(r.report, "posix_shm", name);
  REQUIRE(leftover != nullptr);
  CHECK((*leftover)["attributed"] == true);
  CHECK((*leftover)["creator"]["pid"] == r.report["exit"]["pid"]);
  CHECK((*leftover)["reaped"] == true);
  CHECK_FALSE(shm_exists(name));
}

TEST_CASE("trust: a child that dropped privileges cannot claim a root object made meanwhile") {
  if (geteuid() != 0 || !fs::exists("/usr/bin/setpriv")) {
    std::cout << "SKIPPED: needs root and setpriv\n";
    return;
  }
  auto marker = unique("m");
  auto decoy = unique("/al-root-decoy-");
  // Created by this (root) test after the run's snapshot, while the child sleeps.
  std::thread neighbour([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    make_shm(decoy);
  });
  auto r = afterlife_run({}, {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              "--", actor(), "sleep=600", "register=posix_shm:" + decoy, "exit=0"},
                         marker);
  neighbour.join();
  REQUIRE(r.report.is_object());
  const auto* leftover = find_leftover(r.report, "posix_shm", decoy);
  REQUIRE(leftover != nullptr);
  CHECK((*leftover)["attributed"] == false);
  CHECK((*leftover)["reaped"] == false);
  CHECK(shm_exists(decoy));
  shm_unlink(decoy.c_str());
}

TEST_CASE("trust: the interposer's kept connection is never a forked child's nor a reused fd") {
  auto marker = unique("m");
  auto first = unique("/al-kept-");
  auto child = unique("/al-kept-child-");
  auto after = unique("/al-kept-after-");
  auto r = afterlife_run({"--expect", "posix_shm=3"},
                         {actor(), "shm=" + first, "fork-shm=" + child, "close-fds",
                          "file=@tmp/reused", "shm=" + after, "exit=0"},
                         marker);
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 0);
  int main_pid = r.report["exit"]["pid"];
  const auto* a = find_leftover(r.report, "posix_shm", first);
  const auto* c = find_leftover(r.report, "posix_shm", child);
  const auto* b = find_leftover(r.report, "posix_shm", after);
  REQUIRE(a != nullptr);
  REQUIRE(c != nullptr);
  REQUIRE(b != nullptr);
  CHECK((*a)["creator"]["pid"] == main_pid);
  // The child's creation is the child's (it connected anew), not its parent's.
  CHECK((*c)["creator"]["pid"] != main_pid);
  CHECK((*c)["attributed"] == true);
  CHECK((*b)["creator"]["pid"] == main_pid);
  // The file that took the closed connection's number got none of the interposer's bytes.
  for (const auto& l : r.report["leftovers"])
    if (l["kind"] == "file") CHECK(l["size"] == 0);
}

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
  // A line of the harness's journal that describes `file` as an object the run created.
  static std::string forged_seen_line(const fs::path& file) {
    struct statx st {};
    REQUIRE(statx(AT_FDCWD, file.c_str(), AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME | STATX_CTIME,
                  &st) == 0);
    constexpr long long second_ns = 1000000000;
    long long birth = (st.stx_mask & STATX_BTIME) != 0 ? st.stx_btime.tv_sec * second_ns + st.stx_btime.tv_nsec : 0;
    long long change = st.stx_ctime.tv_sec * second_ns + st.stx_ctime.tv_nsec;
    return "seen\\tfile\\t" + std::to_string(st.stx_ino) + "\\t" + std::to_string(birth) + "\\t" +
           std::to_string(change) + "\\t" + std::to_string(st.stx_uid) + "\\t0\\t" + file.string() +
           "\\t" + file.string() + "\\n";
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
  // The pre-existing queue: where /dev/mqueue lists it, it is in the snapshot before and so no
  // leftover at all; where it cannot be listed, the claim makes the harness look it up, and it
  // is kept because the harness never saw the name absent.
  const auto* mq = find_leftover(r.report, "posix_mq", d.mq);
  if (fs::is_directory("/dev/mqueue")) {
    CHECK(mq == nullptr);
  } else {
    REQUIRE(mq != nullptr);
    CHECK((*mq)["reaped"] == false);
    CHECK((*mq)["kept"] ==
          "the harness did not see the name absent after the run began (it cannot list this "
          "namespace)");
  }
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

// A harness SIGKILLed while its program pauses, with a private runtime directory.
struct killed_run {
  fs::path runtime = fs::temp_directory_path() / unique("al-clean-");
  std::string marker = unique("m");
  child_options opts;
  killed_run(const std::vector<std::string>& options, const std::vector<std::string>& command) {
    fs::create_directories(runtime);
    opts.set_env["AFTERLIFE_RUNTIME_DIR"] = runtime.string();
    opts.set_env["AFTERLIFE_TEST_MARKER"] = marker;
    opts.timeout = std::chrono::milliseconds(1500);
    std::vector<std::string> argv{AFTERLIFE_EXE, "run"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    auto killed = run_child(argv, opts);
    CHECK(killed.timed_out);
    INFO(killed.err);
    opts.timeout = std::chrono::milliseconds(30000);
  }
  ~killed_run() {
    kill_marked(marker);
    fs::remove_all(runtime);
  }
  child_result clean() { return run_child({AFTERLIFE_EXE, "clean"}, opts); }
};

TEST_CASE("trust: a planted `finished` file does not make clean skip a killed run") {
  auto ours = unique("/al-planted-");
  killed_run killed({}, {actor(), "shm=" + ours, "file=@tmp/../finished", "pause"});
  REQUIRE(shm_exists(ours));
  auto clean = killed.clean();
  CHECK(clean.exit_code() == 0);
  CHECK_THAT(clean.out, ContainsSubstring("removed posix_shm " + ours));
  CHECK_THAT(clean.out, ContainsSubstring("1 unfinished run(s) cleaned"));
  CHECK_FALSE(shm_exists(ours));
  // A run that did finish (kept by --reap none) is the journal's to say: clean leaves it.
  auto kept = unique("/al-kept-");
  auto finished = run_child({AFTERLIFE_EXE, "run", "--reap", "none", "--", actor(), "shm=" + kept,
                             "exit=0"},
                            killed.opts);
  CHECK(finished.exit_code() == 1);  // it left a segment
  auto again = killed.clean();
  CHECK_THAT(again.out, ContainsSubstring("0 unfinished run(s) cleaned"));
  CHECK(shm_exists(kept));
  shm_unlink(kept.c_str());
}

TEST_CASE("trust: journal lines a run appends widen nothing clean may remove") {
  decoys d;
  auto ours = unique("/al-forger-");
  auto keep = fs::canonical(d.dir) / "keep.txt";
  // The run watches nothing; the forger adds the decoy directory to the roots and the decoy file,
  // with its true identity, to what the harness saw.
  killed_run killed({"--reap", "all"},
                    {actor(), "shm=" + ours,
                     "append-journal=watch\\t" + fs::canonical(d.dir).string() + "\\n" +
                         decoys::forged_seen_line(keep),
                     "pause"});
  auto clean = killed.clean();
  CHECK(clean.exit_code() == 0);
  CHECK_THAT(clean.out, ContainsSubstring("1 unfinished run(s) cleaned"));
  CHECK_THAT(clean.out, ContainsSubstring("its journal was written to by someone else (line "));
  CHECK_THAT(clean.out, ContainsSubstring("nothing it lists is removed"));
  CHECK(d.intact());
  // Nothing it lists: not even the segment the harness itself journaled.
  CHECK(shm_exists(ours));
  shm_unlink(ours.c_str());
}

TEST_CASE("trust: a child that dropped to another uid cannot write the journal or the run directory") {
  if (geteuid() != 0 || !fs::exists("/usr/bin/setpriv")) {
    std::cout << "SKIPPED: needs root and setpriv\n";
    return;
  }
  auto marker = unique("m");
  for (const auto& attack : {std::string("append-journal=watch\\t/\\n"),
                             std::string("file=@tmp/../finished")}) {
    auto r = afterlife_run({"--no-interposer"}, {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                                 "--clear-groups", "--", actor(), attack, "exit=0"},
                           marker);
    REQUIRE(r.report.is_object());
    INFO(attack << ": " << r.raw.err);
    CHECK(r.report["exit"]["code"] == 100);  // the actor's failure
    CHECK_THAT(r.raw.err, ContainsSubstring("Permission denied"));
  }
}

TEST_CASE("trust: a claimed SysV segment is removed only when its kernel creator is of the run") {
  auto marker = unique("m");
  auto line = fs::temp_directory_path() / unique("al-claim-");
  int decoy = -1;
  // Made by this test (not a process of the run) after the run's snapshot; the run then claims
  // it with a forged interposer record.
  std::thread neighbour([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    decoy = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    std::ofstream(line.string() + ".part") << "record sysv_shm\t0\tforged\t" << decoy << "\n";
    fs::rename(line.string() + ".part", line);
  });
  auto r = afterlife_run({"--reap", "all"}, {actor(), "sysv-shm=4096", "send-from=" + line.string(),
                                             "exit=0"},
                         marker);
  neighbour.join();
  fs::remove(line);
  REQUIRE(decoy >= 0);
  REQUIRE(r.report.is_object());
  INFO(r.raw.out);
  shmid_ds ds{};
  const auto* claimed = find_leftover(r.report, "sysv_shm", std::to_string(decoy));
  REQUIRE(claimed != nullptr);
  CHECK((*claimed)["attributed"] == true);  // the claim describes it ...
  CHECK((*claimed)["reaped"] == false);     // ... and makes it no more the run's
  CHECK((*claimed)["kept"] == "its creator, pid " + std::to_string(getpid()) +
                                  " (from the kernel), is no process of the run");
  CHECK(shmctl(decoy, IPC_STAT, &ds) == 0);
  shmctl(decoy, IPC_RMID, nullptr);
  // The segment the run made is removed.
  int own = -1;
  for (const auto& l : r.report["leftovers"])
    if (l["kind"] == "sysv_shm" && l["name"] != std::to_string(decoy)) {
      CHECK(own == -1);
      own = std::stoi(l["name"].get<std::string>());
      CHECK(l["creator"]["pid"] == r.report["exit"]["pid"]);
      CHECK(l["reaped"] == true);
    }
  REQUIRE(own >= 0);
  CHECK(shmctl(own, IPC_STAT, &ds) != 0);
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

#include "lifecycle/resource_tracker.hpp"

#include <string>
#include <vector>

#include "catch.hpp"
#include "lifecycle/resources.hpp"
#include "resources/resource_test_support.hpp"

using namespace resource_test;
using afterlife_test::child_result;
using afterlife_test::run_child;

namespace {

const std::string tracker_exe = AFTERLIFE_RESOURCE_TRACKER_EXE;

// The tracker program fed `lines` on stdin: EOF comes right after them.
child_result run_tracker(const std::string& lines) {
  afterlife_test::child_options options;
  options.stdin_text = lines;
  options.unset_env = {"AFTERLIFE_SOCKET"};
  return run_child({tracker_exe}, options);
}

// Creates a segment outside lifecycle (shm_open), as any other program would.
void create_segment(const std::string& name) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  REQUIRE(fd >= 0);
  close(fd);
}

std::string leak_warning(std::size_t count, const std::string& kind, const std::string& names) {
  return "UserWarning: resource_tracker: There appear to be " + std::to_string(count) + " leaked " +
         kind + " objects to clean up at shutdown: " + names + "\n";
}

// Runs a scenario with its stderr -- and so its tracker's, which inherits it -- going to a
// file: the tracker writes after the scenario is gone, when run_child has stopped reading.
struct logged_run {
  child_result result;
  std::string log_path;
};

// With a harness, the child talks to it (AFTERLIFE_SOCKET); without, it runs on its own.
logged_run run_logged(const temp_dir& dir, std::vector<std::string> argv,
                      const fake_harness* harness = nullptr) {
  std::string log = dir.file("stderr.log");
  argv.insert(argv.begin(), {"/bin/sh", "-c", "exec \"$@\" 2>\"$AFL_TEST_LOG\"", "sh"});
  afterlife_test::child_options options;
  options.set_env["AFL_TEST_LOG"] = log;
  options.set_env["TMPDIR"] = dir.path();
  if (harness != nullptr) {
    options.set_env["AFTERLIFE_SOCKET"] = harness->socket_path();
  } else {
    options.unset_env = {"AFTERLIFE_SOCKET"};
  }
  return {run_child(argv, options), log};
}

}  // namespace

// ---- the protocol and the tracker program on its own
// ---------------------------------------------

TEST_CASE("format_line writes CPython's REGISTER:name:kind and refuses what would not be atomic") {
  CHECK(lifecycle::resource_tracker::format_line("REGISTER", "/x", "posix_shm") ==
        "REGISTER:/x:posix_shm\n");
  CHECK(lifecycle::resource_tracker::format_line("UNREGISTER", "/a:b", "file") ==
        "UNREGISTER:/a:b:file\n");
  CHECK_THROWS_AS(lifecycle::resource_tracker::format_line("REGISTER", "/x", "shared_memory"),
                  std::invalid_argument);
  CHECK_THROWS_AS(lifecycle::resource_tracker::format_line("REGISTER", "/x\n", "posix_shm"),
                  std::invalid_argument);
  CHECK_THROWS_AS(lifecycle::resource_tracker::format_line("DROP", "/x", "posix_shm"),
                  std::invalid_argument);
  std::string longest(512 - std::string("REGISTER::file\n").size(), 'n');
  CHECK(lifecycle::resource_tracker::format_line("REGISTER", longest, "file").size() == 512);
  CHECK_THROWS_AS(lifecycle::resource_tracker::format_line("REGISTER", longest + "n", "file"),
                  std::length_error);
}

TEST_CASE("tracker: EOF with nothing registered exits 0 and says nothing") {
  child_result r = run_tracker("");
  CHECK(r.exit_code() == lifecycle::resource_tracker::clean);
  CHECK(r.err.empty());
  r = run_tracker(
      "REGISTER:/aflt_never:posix_shm\nUNREGISTER:/aflt_never:posix_shm\nPROBE:0:posix_shm\n");
  CHECK(r.exit_code() == lifecycle::resource_tracker::clean);
  CHECK(r.err.empty());
}

TEST_CASE("tracker: leaks at EOF are unlinked with CPython's warning, exit 1") {
  leftover_guard guard;
  std::string a = unique_ipc_name("a");
  std::string b = unique_ipc_name("b");
  guard.posix_shm(a);
  guard.posix_shm(b);
  create_segment(a);
  create_segment(b);
  child_result r = run_tracker("REGISTER:" + b + ":posix_shm\nREGISTER:" + a + ":posix_shm\n");
  CHECK(r.exit_code() == lifecycle::resource_tracker::leaks_found);
  CHECK(r.err == leak_warning(2, "posix_shm", "{'" + a + "', '" + b + "'}"));
  CHECK_FALSE(posix_shm_exists(a));
  CHECK_FALSE(posix_shm_exists(b));
}

TEST_CASE("tracker: every kind is removed the way its kind needs") {
  leftover_guard guard;
  temp_dir dir;
  std::string shm = unique_ipc_name("k");
  guard.posix_shm(shm);
  create_segment(shm);
  std::string sem = unique_ipc_name("s");
  guard.posix_sem(sem);
  lifecycle::named_semaphore semaphore(lifecycle::create, sem, 0);
  semaphore.close();
  lifecycle::sysv_shared_memory sysv(lifecycle::create, 64);
  guard.sysv_shm(sysv.key());
  sysv.close();
  lifecycle::unix_listener listener(dir.file("t.sock"));
  listener.close();
  lifecycle::file plain(dir.file("t:colon.txt"));
  plain.close();
  child_result r = run_tracker(
      "REGISTER:" + shm + ":posix_shm\nREGISTER:" + sem + ":posix_sem\nREGISTER:" + sysv.name() +
      ":sysv_shm\nREGISTER:" + listener.name() + ":socket\nREGISTER:" + plain.name() + ":file\n");
  CHECK(r.exit_code() == lifecycle::resource_tracker::leaks_found);
  CHECK(r.err == leak_warning(1, "file", "{'" + plain.name() + "'}") +
                     leak_warning(1, "posix_sem", "{'" + sem + "'}") +
                     leak_warning(1, "posix_shm", "{'" + shm + "'}") +
                     leak_warning(1, "socket", "{'" + listener.name() + "'}") +
                     leak_warning(1, "sysv_shm", "{'" + sysv.name() + "'}"));
  CHECK_FALSE(posix_shm_exists(shm));
  CHECK_FALSE(posix_sem_exists(sem));
  CHECK_FALSE(sysv_shm_exists(sysv.key()));
  CHECK_FALSE(path_exists(listener.name()));
  CHECK_FALSE(path_exists(plain.name()));
}

TEST_CASE("tracker: a cleanup that fails is reported and exits 2") {
  temp_dir dir;
  std::string not_a_file = dir.file("a-directory");
  REQUIRE(mkdir(not_a_file.c_str(), 0700) == 0);
  child_result r = run_tracker("REGISTER:" + not_a_file + ":file\n");
  CHECK(r.exit_code() == lifecycle::resource_tracker::cleanup_failed);
  CHECK(r.err.rfind(leak_warning(1, "file", "{'" + not_a_file + "'}") +
                        "UserWarning: resource_tracker: '" + not_a_file + "': ",
                    0) == 0);
  CHECK(path_exists(not_a_file));
}

TEST_CASE("tracker: malformed lines are a protocol error (exit 3), the rest is still cleaned") {
  leftover_guard guard;
  std::string name = unique_ipc_name("p");
  guard.posix_shm(name);
  create_segment(name);
  child_result r = run_tracker("HELLO\nREGISTER:" + name + ":posix_shm\nREGISTER:/x:floppy\n" +
                               std::string(600, 'z') + "\nREGISTER:/unterminated:posix_shm");
  CHECK(r.exit_code() == lifecycle::resource_tracker::protocol_error);
  CHECK_THAT(r.err,
             Catch::Matchers::ContainsSubstring(
                 "RuntimeWarning: resource_tracker: expected COMMAND:name:kind in line 'HELLO'\n"));
  CHECK_THAT(r.err,
             Catch::Matchers::ContainsSubstring(
                 "RuntimeWarning: resource_tracker: unknown kind in line 'REGISTER:/x:floppy'\n"));
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring(
                        "RuntimeWarning: resource_tracker: line too long in line 'zzz"));
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring(
                        "RuntimeWarning: resource_tracker: unterminated last line in line "
                        "'REGISTER:/unterminated:posix_shm'\n"));
  CHECK_THAT(r.err,
             Catch::Matchers::ContainsSubstring(leak_warning(1, "posix_shm", "{'" + name + "'}")));
  CHECK_FALSE(posix_shm_exists(name));
}

TEST_CASE("tracker: SIGINT, SIGTERM and a stop/continue do not stop it") {
  // The tracker of a waiting shm_tracked gets the signals (its read is interrupted by the stop);
  // it must still be alive, and still clean up once its owner is killed.
  leftover_guard guard;
  std::string name = unique_ipc_name("sig");
  guard.posix_shm(name);
  temp_dir dir;
  child_result r =
      run_child({"/bin/sh", "-c",
                 "\"$0\" --exit wait --name \"$1\" >\"$2\" 2>&1 & scenario=$!; "
                 "for i in $(seq 100); do grep -q tracker= \"$2\" && break; sleep 0.05; done; "
                 "tracker=$(sed -n 's/^tracker=//p' \"$2\"); "
                 "kill -INT $tracker; kill -TERM $tracker; kill -STOP $tracker; kill -CONT "
                 "$tracker; sleep 0.2; "
                 "kill -0 $tracker && echo alive=1; kill -KILL $scenario; wait $scenario; "
                 "for i in $(seq 100); do grep -q leaked \"$2\" && break; sleep 0.05; done; "
                 "cat \"$2\"",
                 scenario_path("shm_tracked"), name, dir.file("out.txt")});
  CHECK(output_value(r.out, "alive") == "1");
  CHECK_THAT(r.out,
             Catch::Matchers::ContainsSubstring(leak_warning(1, "posix_shm", "{'" + name + "'}")));
  CHECK_FALSE(posix_shm_exists(name));
}

// ---- the tracker behind real programs ---------------------------------------------------------

TEST_CASE("shm_tracked: after a normal or error exit the tracker unlinks at EOF and warns") {
  for (std::string way : {"normal", "error"}) {
    INFO("--exit " << way);
    leftover_guard guard;
    temp_dir dir;
    std::string name = unique_ipc_name("n");
    guard.posix_shm(name);
    logged_run run = run_logged(dir, {scenario_path("shm_tracked"), "--exit", way, "--name", name});
    CHECK(run.result.exit_code() == (way == "normal" ? 0 : 1));
    std::string expected = "ResourceWarning: unclosed shared_memory " + name + "\n" +
                           leak_warning(1, "posix_shm", "{'" + name + "'}");
    CHECK(wait_until([&] { return read_file(run.log_path) == expected; }));
    CHECK(read_file(run.log_path) == expected);
    CHECK_FALSE(posix_shm_exists(name));
  }
}

TEST_CASE("shm_tracked: after _exit the tracker still unlinks") {
  leftover_guard guard;
  temp_dir dir;
  std::string name = unique_ipc_name("i");
  guard.posix_shm(name);
  logged_run run =
      run_logged(dir, {scenario_path("shm_tracked"), "--exit", "immediate", "--name", name});
  CHECK(run.result.exit_code() == 0);
  CHECK(wait_until([&] { return !posix_shm_exists(name); }));
  CHECK(read_file(run.log_path) == leak_warning(1, "posix_shm", "{'" + name + "'}"));
}

TEST_CASE("shm_tracked: the tracker cleans up after a SIGKILL of its owner") {
  leftover_guard guard;
  temp_dir dir;
  std::string name = unique_ipc_name("k");
  guard.posix_shm(name);
  fake_harness harness(dir, fake_harness::at_checkpoint::kill_sender);
  logged_run run =
      run_logged(dir, {scenario_path("shm_tracked"), "--exit", "wait", "--name", name}, &harness);
  CHECK(run.result.term_signal() == SIGKILL);
  CHECK(wait_until([&] { return !posix_shm_exists(name); }));
  // The program announced it, and the tracker tells the harness it removed it.
  CHECK(wait_until([&] { return harness.messages().size() == 3; }));
  CHECK(harness.messages() == std::vector<std::string>{"register posix_shm " + name,
                                                       "checkpoint ready",
                                                       "unregister posix_shm " + name});
  CHECK(wait_until(
      [&] { return read_file(run.log_path) == leak_warning(1, "posix_shm", "{'" + name + "'}"); }));
}

TEST_CASE("shm_tracked: a SIGKILL of the whole group kills the tracker too and the segment stays") {
  // CPython's hole, reproduced on purpose: the tracker is in its owner's process group.
  leftover_guard guard;
  temp_dir dir;
  std::string name = unique_ipc_name("g");
  guard.posix_shm(name);
  fake_harness harness(dir, fake_harness::at_checkpoint::kill_sender_group);
  logged_run run = run_logged(
      dir, in_own_group({scenario_path("shm_tracked"), "--exit", "wait", "--name", name}),
      &harness);
  CHECK(run.result.term_signal() == SIGKILL);
  std::string tracker = output_value(run.result.out, "tracker");
  REQUIRE_FALSE(tracker.empty());
  // The tracker died with the group (observed, not inferred from silence), so nobody unlinked
  // the segment and nobody warned.
  CHECK(wait_until([&] { return process_ended(std::stoi(tracker)); }));
  CHECK(posix_shm_exists(name));
  CHECK(read_file(run.log_path).empty());
}

TEST_CASE("shm_tracked_detached: the tracker survives a SIGKILL of the whole group and cleans up") {
  leftover_guard guard;
  temp_dir dir;
  std::string name = unique_ipc_name("d");
  guard.posix_shm(name);
  fake_harness harness(dir, fake_harness::at_checkpoint::kill_sender_group);
  logged_run run = run_logged(
      dir, in_own_group({scenario_path("shm_tracked_detached"), "--exit", "wait", "--name", name}),
      &harness);
  CHECK(run.result.term_signal() == SIGKILL);
  pid_t tracker = static_cast<pid_t>(std::stol(output_value(run.result.out, "tracker")));
  CHECK(tracker > 0);
  CHECK(wait_until([&] { return !posix_shm_exists(name); }));
  CHECK(wait_until(
      [&] { return read_file(run.log_path) == leak_warning(1, "posix_shm", "{'" + name + "'}"); }));
}

TEST_CASE("an attacher's tracker never unlinks the creator's segment") {
  for (std::string way : {"normal", "immediate"}) {
    INFO("attacher exits " << way);
    leftover_guard guard;
    temp_dir dir;
    std::string others = unique_ipc_name("c");
    std::string own = unique_ipc_name("o");
    guard.posix_shm(others);
    guard.posix_shm(own);
    lifecycle::scoped<lifecycle::shared_memory> creator(lifecycle::create, others, 4096);
    logged_run run = run_logged(dir, {program_path("shm_attacher"), others, own, way});
    CHECK(run.result.exit_code() == 0);
    // The attacher's tracker ran and did its job on what the attacher created...
    CHECK(wait_until([&] { return !posix_shm_exists(own); }));
    CHECK(wait_until(
        [&] { return read_file(run.log_path).find("leaked posix_shm") != std::string::npos; }));
    // ...and left alone what it only attached to.
    CHECK(read_file(run.log_path).find(others) == std::string::npos);
    CHECK(posix_shm_exists(others));
    CHECK(creator->data()[0] == std::byte{'A'});
    creator->unlink();
  }
}

TEST_CASE("fork()ed children share the tracker, it cleans up when the last holder is gone") {
  leftover_guard guard;
  temp_dir dir;
  std::string a = unique_ipc_name("fa");
  std::string b = unique_ipc_name("fb");
  guard.posix_shm(a);
  guard.posix_shm(b);
  logged_run run = run_logged(dir, {program_path("tracker_fork"), a, b});
  CHECK(run.result.exit_code() == 0);
  CHECK_FALSE(output_value(run.result.out, "parent_tracker").empty());
  CHECK(output_value(run.result.out, "parent_tracker") ==
        output_value(run.result.out, "child_tracker"));
  CHECK(output_value(run.result.out, "b_after_child") == "1");
  CHECK(wait_until([&] { return !posix_shm_exists(a) && !posix_shm_exists(b); }));
  CHECK(wait_until([&] {
    return read_file(run.log_path) == leak_warning(2, "posix_shm", "{'" + a + "', '" + b + "'}");
  }));
}

TEST_CASE(
    "a killed tracker is restarted with a warning and this process's registrations replayed") {
  leftover_guard guard;
  temp_dir dir;
  std::string a = unique_ipc_name("ra");
  std::string b = unique_ipc_name("rb");
  guard.posix_shm(a);
  guard.posix_shm(b);
  logged_run run = run_logged(dir, {program_path("tracker_restart"), a, b});
  CHECK(run.result.exit_code() == 0);
  std::string killed = output_value(run.result.out, "killed");
  std::string restarted = output_value(run.result.out, "restarted");
  CHECK_FALSE(restarted.empty());
  CHECK(restarted != killed);
  CHECK(wait_until([&] { return !posix_shm_exists(a) && !posix_shm_exists(b); }));
  std::string expected =
      "UserWarning: resource_tracker: process " + killed +
      " was killed by signal 9, relaunching.  Re-registering 1 resources of this process; those of "
      "other processes sharing it might leak.\n" +
      leak_warning(2, "posix_shm", "{'" + a + "', '" + b + "'}");
  CHECK(wait_until([&] { return read_file(run.log_path) == expected; }));
  CHECK(read_file(run.log_path) == expected);
}

TEST_CASE(
    "a tracker killed under a fork()ed child is restarted on EPIPE there and by waitpid in the "
    "parent") {
  leftover_guard guard;
  temp_dir dir;
  std::string a = unique_ipc_name("ea");
  std::string b = unique_ipc_name("eb");
  guard.posix_shm(a);
  guard.posix_shm(b);
  logged_run run = run_logged(dir, {program_path("tracker_restart"), a, b, "--in-child"});
  CHECK(run.result.exit_code() == 0);
  std::string killed = output_value(run.result.out, "killed");
  std::string child_tracker = output_value(run.result.out, "restarted");
  std::string parent_tracker = output_value(run.result.out, "parent_restarted");
  CHECK(child_tracker != killed);
  CHECK(parent_tracker != killed);
  CHECK(parent_tracker != child_tracker);
  CHECK(wait_until([&] { return !posix_shm_exists(a) && !posix_shm_exists(b); }));
  auto log_has_both = [&] {
    std::string log = read_file(run.log_path);
    return log.find(leak_warning(1, "posix_shm", "{'" + a + "'}")) != std::string::npos &&
           log.find(leak_warning(1, "posix_shm", "{'" + b + "'}")) != std::string::npos;
  };
  CHECK(wait_until(log_has_both));
  std::string log = read_file(run.log_path);
  // The child saw EPIPE (the tracker is not its child); the parent reaped the dead tracker.
  CHECK_THAT(
      log, Catch::Matchers::ContainsSubstring(
               "process " + killed + " closed its pipe, relaunching.  Re-registering 0 resources"));
  CHECK_THAT(log, Catch::Matchers::ContainsSubstring(
                      "process " + killed +
                      " was killed by signal 9, relaunching.  Re-registering 1 resources"));
}

#include "lifecycle/resources.hpp"

#include <sys/stat.h>

#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "lifecycle/warnings.hpp"
#include "resources/resource_test_support.hpp"

using namespace resource_test;
using afterlife_test::child_result;
using afterlife_test::run_child;

namespace {

// ---- capturing warnings in-process ----------------------------------------------------------

// The sink is a plain function pointer, so the captured lines live in a test-global vector.
std::vector<std::string>* captured_warnings = nullptr;

void capture_warning(lifecycle::warning_category category, std::string_view text) noexcept {
  captured_warnings->push_back(std::string(lifecycle::to_string(category)) + ": " +
                               std::string(text));
}

class warning_capture {
 public:
  warning_capture() {
    captured_warnings = &lines_;
    previous_ = lifecycle::set_warning_sink(&capture_warning);
  }
  warning_capture(const warning_capture&) = delete;
  warning_capture& operator=(const warning_capture&) = delete;
  ~warning_capture() {
    lifecycle::set_warning_sink(previous_);
    captured_warnings = nullptr;
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
  lifecycle::warning_sink previous_ = nullptr;
};

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// ---- the exit-mode matrix: one scenario per resource type, run for real --------------------

enum class exit_way { normal, error, immediate, sigkill };

const char* to_string(exit_way way) {
  switch (way) {
    case exit_way::normal:
      return "normal";
    case exit_way::error:
      return "error";
    case exit_way::immediate:
      return "immediate";
    case exit_way::sigkill:
      return "sigkill";
  }
  return "?";
}

// Runs `scenario args...` ending it `way`: by --exit for the program-chosen ways, and for
// SIGKILL with --exit wait under a fake harness that kills it at checkpoint `ready`.
struct scenario_run {
  child_result result;
  std::vector<std::string> harness_messages;
};

scenario_run run_scenario(const temp_dir& dir, const std::string& scenario,
                          const std::vector<std::string>& args, exit_way way) {
  std::vector<std::string> argv = {scenario_path(scenario), "--exit",
                                   way == exit_way::sigkill ? "wait" : to_string(way)};
  argv.insert(argv.end(), args.begin(), args.end());
  afterlife_test::child_options options;
  options.set_env["TMPDIR"] = dir.path();
  options.unset_env = {"AFTERLIFE_SOCKET"};
  if (way != exit_way::sigkill) return {run_child(argv, options), {}};
  fake_harness harness(dir, fake_harness::at_checkpoint::kill_sender);
  options.set_env["AFTERLIFE_SOCKET"] = harness.socket_path();
  options.unset_env.clear();
  scenario_run run{run_child(argv, options), {}};
  run.harness_messages = harness.messages();
  return run;
}

void check_exit(const child_result& result, exit_way way) {
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  switch (way) {
    case exit_way::normal:
    case exit_way::immediate:
      CHECK(result.exit_code() == 0);
      break;
    case exit_way::error:
      CHECK(result.exit_code() == 1);
      break;
    case exit_way::sigkill:
      CHECK(result.term_signal() == SIGKILL);
      break;
  }
}

// Finalization (the "unclosed" warning, and with it close/flush) runs on normal and error
// exits only: exactly once there, never after _exit or SIGKILL.
void check_finalizer_warning(const child_result& result, exit_way way, const std::string& warning) {
  INFO("stderr: " << result.err);
  bool finalized = way == exit_way::normal || way == exit_way::error;
  CHECK(count_of(result.err, warning + "\n") == (finalized ? 1u : 0u));
}

// What every untracked resource type shares: whatever the exit, the named object stays.
struct leftover_case {
  std::string scenario;
  std::vector<std::string> args;
  std::string kind;      // in the warning: "unclosed <kind> <name>"
  std::string leftover;  // in the harness registration: "register <leftover> <name>"
  std::function<bool(const std::string& name)> exists;
};

void check_leftover_in_every_exit(
    const std::function<leftover_case(const temp_dir&, leftover_guard&)>& make) {
  for (exit_way way : {exit_way::normal, exit_way::error, exit_way::immediate, exit_way::sigkill}) {
    temp_dir dir;
    leftover_guard guard;
    leftover_case c = make(dir, guard);
    INFO(c.scenario << " --exit " << to_string(way));
    scenario_run run = run_scenario(dir, c.scenario, c.args, way);
    check_exit(run.result, way);
    std::string name = output_value(run.result.out, "name");
    if (name.empty()) name = output_value(run.result.out, "path");
    REQUIRE_FALSE(name.empty());
    CHECK(c.exists(name));
    check_finalizer_warning(run.result, way, "ResourceWarning: unclosed " + c.kind + " " + name);
    if (way == exit_way::sigkill) {
      CHECK(run.harness_messages.front() == "register " + c.leftover + " " + name);
      CHECK(run.harness_messages.back() == "checkpoint ready");
    }
  }
}

key_t unique_sysv_key() {
  static int counter = 0;
  return static_cast<key_t>(((getpid() & 0xffffff) << 6 | (counter++ & 0x3f)) | 0x40000000);
}

}  // namespace

// ---- names -----------------------------------------------------------------------------------

TEST_CASE("IPC names are validated with a clear error") {
  CHECK_NOTHROW(lifecycle::validate_ipc_name("/a"));
  CHECK_NOTHROW(lifecycle::validate_ipc_name("/" + std::string(30, 'x')));
  CHECK_THROWS_WITH(lifecycle::validate_ipc_name("/" + std::string(31, 'x')),
                    "invalid IPC name '/" + std::string(31, 'x') +
                        "': 32 characters, but macOS allows at most 31");
  CHECK_THROWS_WITH(lifecycle::validate_ipc_name("noslash"),
                    "invalid IPC name 'noslash': it must start with '/'");
  CHECK_THROWS_WITH(lifecycle::validate_ipc_name("/a/b"),
                    "invalid IPC name '/a/b': character 2 is not one of [A-Za-z0-9._-]");
  CHECK_THROWS_WITH(lifecycle::validate_ipc_name("/"),
                    "invalid IPC name '/': nothing follows the '/'");
  CHECK_THROWS_WITH(lifecycle::validate_ipc_name(""), "invalid IPC name '': it is empty");
  CHECK_THROWS_AS(lifecycle::shared_memory(lifecycle::create, "bad name", 16),
                  std::invalid_argument);
}

TEST_CASE("make_ipc_name gives distinct valid names like CPython's psm_ names") {
  std::string a = lifecycle::make_ipc_name("psm");
  std::string b = lifecycle::make_ipc_name("psm");
  CHECK(a.size() == 13);  // "/psm_" + 8 hex digits
  CHECK(a.rfind("/psm_", 0) == 0);
  CHECK(a != b);
  CHECK_NOTHROW(lifecycle::validate_ipc_name(a));
  CHECK_THROWS_AS(lifecycle::make_ipc_name(std::string(30, 'p')), std::invalid_argument);
}

// ---- close, finalize, unlink, scoped (in-process, judged on the system) -----------------------

TEST_CASE("the finalizer warns once, closes, and never unlinks, close and unlink are idempotent") {
  leftover_guard guard;
  std::string name = unique_ipc_name("fin");
  guard.posix_shm(name);
  warning_capture warnings;
  lifecycle::shared_memory segment(lifecycle::create, name, 4096);
  std::size_t open_before = lifecycle::open_resource_count();
  segment.finalize();
  REQUIRE(warnings.lines() ==
          std::vector<std::string>{"ResourceWarning: unclosed shared_memory " + name});
  CHECK(segment.closed());
  CHECK(lifecycle::open_resource_count() == open_before - 1);
  CHECK(posix_shm_exists(name));
  CHECK_THROWS_AS(segment.data(), std::logic_error);
  segment.finalize();
  segment.close();
  CHECK(warnings.lines().size() == 1);
  segment.unlink();
  CHECK_FALSE(posix_shm_exists(name));
  CHECK(segment.unlinked());
  CHECK_NOTHROW(segment.unlink());
}

TEST_CASE("close without a warning, a second object cannot create a taken name") {
  leftover_guard guard;
  std::string name = unique_ipc_name("dup");
  guard.posix_shm(name);
  warning_capture warnings;
  lifecycle::shared_memory segment(lifecycle::create, name, 64);
  try {
    lifecycle::shared_memory again(lifecycle::create, name, 64);
    FAIL("creating a taken name succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EEXIST);
  }
  segment.close();
  segment.unlink();
  CHECK(warnings.lines().empty());
  CHECK_FALSE(posix_shm_exists(name));
}

TEST_CASE("the scoped form closes at the end of the scope without a warning") {
  leftover_guard guard;
  std::string name = unique_ipc_name("scp");
  guard.posix_shm(name);
  temp_dir dir;
  warning_capture warnings;
  std::string temp_path;
  std::size_t open_before = lifecycle::open_resource_count();
  {
    lifecycle::scoped<lifecycle::shared_memory> segment(lifecycle::create, name, 128);
    lifecycle::scoped<lifecycle::file> out(dir.file("scoped.txt"));
    out->write("kept in the buffer until the scope ends");
    CHECK(lifecycle::open_resource_count() == open_before + 2);
  }
  CHECK(lifecycle::open_resource_count() == open_before);
  CHECK(posix_shm_exists(name));  // close, not unlink
  CHECK(read_file(dir.file("scoped.txt")) == "kept in the buffer until the scope ends");
  {
    setenv("TMPDIR", dir.path().c_str(), 1);
    lifecycle::scoped<lifecycle::temp_file, lifecycle::on_scope_exit::close_and_unlink> temp(
        "scoped");
    unsetenv("TMPDIR");
    temp_path = temp->name();
    CHECK(temp_path.rfind(dir.path() + "/scoped-", 0) == 0);
    CHECK(path_exists(temp_path));
  }
  CHECK_FALSE(path_exists(temp_path));
  CHECK(warnings.lines().empty());
}

TEST_CASE("the scoped form closes when the scope is left by an exception") {
  temp_dir dir;
  warning_capture warnings;
  try {
    lifecycle::scoped<lifecycle::file> out(dir.file("thrown.txt"));
    out->write("flushed on the way out");
    throw std::runtime_error("leaving");
  } catch (const std::runtime_error&) {
  }
  CHECK(read_file(dir.file("thrown.txt")) == "flushed on the way out");
  CHECK(warnings.lines().empty());
}

TEST_CASE("finalize_open_resources finalizes newest first") {
  temp_dir dir;
  warning_capture warnings;
  lifecycle::file first(dir.file("first.txt"));
  lifecycle::file second(dir.file("second.txt"));
  second.write("second's buffer");
  lifecycle::finalize_open_resources();
  CHECK(first.closed());
  CHECK(second.closed());
  REQUIRE(warnings.lines() ==
          std::vector<std::string>{"ResourceWarning: unclosed file " + dir.file("second.txt"),
                                   "ResourceWarning: unclosed file " + dir.file("first.txt")});
  CHECK(read_file(dir.file("second.txt")) == "second's buffer");
}

// ---- each type's behaviour ---------------------------------------------------------------------

TEST_CASE("file buffers writes until the buffer fills, flush or close") {
  temp_dir dir;
  std::string path = dir.file("buffered.txt");
  lifecycle::file out(path, 8);
  out.write("abc");
  CHECK(read_file(path).empty());
  CHECK(out.buffered() == 3);
  out.flush();
  CHECK(read_file(path) == "abc");
  out.write("defgh");  // 5 of 8: still fits
  CHECK(read_file(path) == "abc");
  out.write("ijkl");  // 5 + 4 would overflow: the buffer goes out first
  CHECK(read_file(path) == "abcdefgh");
  CHECK(out.buffered() == 4);
  out.write("0123456789");  // larger than the buffer: written through, after what was buffered
  CHECK(read_file(path) == "abcdefghijkl0123456789");
  CHECK(out.buffered() == 0);
  out.write("tail");
  out.close();
  CHECK(read_file(path) == "abcdefghijkl0123456789tail");
  CHECK_THROWS_AS(out.write("x"), std::logic_error);
  out.unlink();
  CHECK_FALSE(path_exists(path));
}

TEST_CASE("an attacher sees the creator's bytes and size, only an explicit unlink removes it") {
  leftover_guard guard;
  std::string name = unique_ipc_name("att");
  guard.posix_shm(name);
  lifecycle::scoped<lifecycle::shared_memory> creator(lifecycle::create, name, 4096);
  std::memcpy(creator->data().data(), "from the creator", 17);
  lifecycle::scoped<lifecycle::shared_memory> attacher(lifecycle::attach, name);
  CHECK(attacher->created() == false);
  CHECK(attacher->size() == 4096);
  CHECK(std::string(reinterpret_cast<const char*>(attacher->data().data())) == "from the creator");
  attacher->close();
  CHECK(posix_shm_exists(name));
  attacher->unlink();
  CHECK_FALSE(posix_shm_exists(name));
  CHECK_THROWS_AS(lifecycle::shared_memory(lifecycle::attach, name), std::system_error);
}

TEST_CASE("System V segment: create with a fresh key, attach by key, IPC_RMID") {
  leftover_guard guard;
  lifecycle::scoped<lifecycle::sysv_shared_memory> segment(lifecycle::create, 4096);
  guard.sysv_shm(segment->key());
  char expected_name[16];
  std::snprintf(expected_name, sizeof expected_name, "0x%08x",
                static_cast<unsigned>(segment->key()));
  CHECK(segment->name() == expected_name);
  CHECK(sysv_shm_exists(segment->key()));
  std::memcpy(segment->data().data(), "sysv", 5);
  {
    lifecycle::scoped<lifecycle::sysv_shared_memory> other(lifecycle::attach, segment->key());
    CHECK(other->id() == segment->id());
    CHECK(std::string(reinterpret_cast<const char*>(other->data().data())) == "sysv");
    shmid_ds info{};
    REQUIRE(shmctl(segment->id(), IPC_STAT, &info) == 0);
    CHECK(info.shm_nattch == 2);
    CHECK(info.shm_cpid == getpid());
  }
  segment->unlink();
  CHECK_FALSE(sysv_shm_exists(segment->key()));
}

TEST_CASE("mapping: stores through a shared mapping reach the file, private ones do not") {
  temp_dir dir;
  std::string path = dir.file("mapped.bin");
  {
    lifecycle::scoped<lifecycle::file> backing(path);
    backing->write(std::string(4096, '.'));
  }
  {
    lifecycle::scoped<lifecycle::mapping> shared(path, lifecycle::mapping::sharing::shared);
    CHECK(shared->size() == 4096);
    std::memcpy(shared->data().data(), "shared", 6);
  }
  {
    lifecycle::scoped<lifecycle::mapping> copy(path, lifecycle::mapping::sharing::private_copy);
    CHECK(std::memcmp(copy->data().data(), "shared", 6) == 0);
    std::memcpy(copy->data().data(), "privat", 6);
  }
  CHECK(read_file(path).substr(0, 8) == "shared..");
}

TEST_CASE("named semaphore: counts across handles, lives until unlinked") {
  leftover_guard guard;
  std::string name = unique_ipc_name("sem");
  guard.posix_sem(name);
  lifecycle::scoped<lifecycle::named_semaphore> creator(lifecycle::create, name, 1);
  lifecycle::scoped<lifecycle::named_semaphore> other(lifecycle::attach, name);
  CHECK(other->try_wait());
  CHECK_FALSE(creator->try_wait());
  creator->post();
  CHECK(other->try_wait());
  creator->close();
  other->close();
  CHECK(posix_sem_exists(name));
  creator->unlink();
  CHECK_FALSE(posix_sem_exists(name));
}

TEST_CASE("message queue: Boost's queue is a POSIX shared memory segment") {
  leftover_guard guard;
  std::string name = unique_ipc_name("mq");
  guard.posix_shm(name);
  lifecycle::scoped<lifecycle::message_queue> queue(lifecycle::create, name, 4, 32);
  CHECK(queue->leftover() == lifecycle::leftover_kind::posix_shm);
  CHECK(posix_shm_exists(name));
  queue->send("first");
  queue->send("second");
  lifecycle::scoped<lifecycle::message_queue> reader(lifecycle::attach, name);
  CHECK(reader->messages() == 2);
  CHECK(reader->receive() == "first");
  CHECK(reader->try_receive() == std::optional<std::string>("second"));
  CHECK(reader->try_receive() == std::nullopt);
  queue->close();
  queue->unlink();
  CHECK_FALSE(posix_shm_exists(name));
}

TEST_CASE("unix listener: accepts, and its path stays after close until unlinked") {
  temp_dir dir;
  std::string path = dir.file("listener.sock");
  lifecycle::unix_listener listener(path);
  CHECK(is_socket(path));
  int client = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  int accepted = listener.accept();
  CHECK(write(client, "x", 1) == 1);
  char c = 0;
  CHECK(read(accepted, &c, 1) == 1);
  CHECK(c == 'x');
  close(accepted);
  close(client);
  listener.close();
  CHECK(is_socket(path));
  listener.unlink();
  CHECK_FALSE(path_exists(path));
  CHECK_THROWS_AS(lifecycle::unix_listener(dir.path() + "/" + std::string(120, 's')),
                  std::invalid_argument);
}

TEST_CASE(
    "with AFTERLIFE_SOCKET set, creators tell the harness register and unregister, attachers "
    "nothing") {
  leftover_guard guard;
  temp_dir dir;
  std::string name = unique_ipc_name("hs");
  guard.posix_shm(name);
  fake_harness harness(dir, fake_harness::at_checkpoint::answer_continue);
  setenv("AFTERLIFE_SOCKET", harness.socket_path().c_str(), 1);
  setenv("TMPDIR", dir.path().c_str(), 1);
  std::string temp_name;
  {
    lifecycle::scoped<lifecycle::shared_memory> creator(lifecycle::create, name, 64);
    lifecycle::scoped<lifecycle::shared_memory> attacher(lifecycle::attach, name);
    lifecycle::scoped<lifecycle::temp_file> temp("harness");
    temp_name = temp->name();
    temp->unlink();
    creator->unlink();
    lifecycle::scoped<lifecycle::file> existing(temp->name());  // recreated: announced again
  }
  unsetenv("AFTERLIFE_SOCKET");
  unsetenv("TMPDIR");
  REQUIRE(temp_name.rfind(dir.path() + "/", 0) == 0);
  CHECK(harness.messages() ==
        std::vector<std::string>{"register posix_shm " + name, "register file " + temp_name,
                                 "unregister file " + temp_name, "unregister posix_shm " + name,
                                 "register file " + temp_name});
}

// ---- every type x {normal, error, immediate, SIGKILL}, in a real child process ----------------

TEST_CASE("shm_forgot_unlink leaves /dev/shm/NAME in every exit") {
  check_leftover_in_every_exit([](const temp_dir&, leftover_guard& guard) {
    std::string name = unique_ipc_name("shm");
    guard.posix_shm(name);
    return leftover_case{"shm_forgot_unlink",
                         {"--name", name},
                         "shared_memory",
                         "posix_shm",
                         [](const std::string& n) { return posix_shm_exists(n); }};
  });
}

TEST_CASE("sysv_shm_forgot_rmid leaves its SysV segment, detached, in every exit") {
  check_leftover_in_every_exit([](const temp_dir&, leftover_guard& guard) {
    key_t key = unique_sysv_key();
    guard.sysv_shm(key);
    char hex[16];
    std::snprintf(hex, sizeof hex, "%x", static_cast<unsigned>(key));
    return leftover_case{"sysv_shm_forgot_rmid",
                         {"--key", hex},
                         "sysv_shared_memory",
                         "sysv_shm",
                         [key](const std::string& name) {
                           char expected[16];
                           std::snprintf(expected, sizeof expected, "0x%08x",
                                         static_cast<unsigned>(key));
                           int id = shmget(key, 0, 0);
                           shmid_ds info{};
                           // Still there, nobody attached, created by a process that is gone.
                           return name == expected && id >= 0 && shmctl(id, IPC_STAT, &info) == 0 &&
                                  info.shm_nattch == 0 && kill(info.shm_cpid, 0) != 0;
                         }};
  });
}

TEST_CASE("sem_forgot_unlink leaves its semaphore in every exit") {
  check_leftover_in_every_exit([](const temp_dir&, leftover_guard& guard) {
    std::string name = unique_ipc_name("sem");
    guard.posix_sem(name);
    return leftover_case{
        "sem_forgot_unlink", {"--name", name}, "semaphore", "posix_sem", [](const std::string& n) {
          return posix_sem_exists(n);
        }};
  });
}

TEST_CASE("mq_forgot_remove leaves its queue segment, message included, in every exit") {
  check_leftover_in_every_exit([](const temp_dir&, leftover_guard& guard) {
    std::string name = unique_ipc_name("mq");
    guard.posix_shm(name);
    return leftover_case{"mq_forgot_remove",
                         {"--name", name},
                         "message_queue",
                         "posix_shm",
                         [](const std::string& n) {
                           lifecycle::scoped<lifecycle::message_queue> queue(lifecycle::attach, n);
                           return queue->try_receive() ==
                                  std::optional<std::string>("left in the queue");
                         }};
  });
}

TEST_CASE("unix_socket_left leaves its socket path in every exit") {
  check_leftover_in_every_exit([](const temp_dir& dir, leftover_guard&) {
    return leftover_case{"unix_socket_left",
                         {"--path", dir.file("left.sock")},
                         "socket",
                         "socket",
                         [](const std::string& path) { return is_socket(path); }};
  });
}

TEST_CASE("temp_file_left leaves its temporary file in every exit") {
  check_leftover_in_every_exit([](const temp_dir& dir, leftover_guard&) {
    std::string prefix = dir.path() + "/afl-temp";
    return leftover_case{"temp_file_left",
                         {"--prefix", "afl-temp"},
                         "temp_file",
                         "file",
                         [prefix](const std::string& path) {
                           return path.rfind(prefix + "-", 0) == 0 &&
                                  read_file(path) == "temporary data\n";
                         }};
  });
}

TEST_CASE("file_unflushed: the buffered tail is on disk after normal and error exits only") {
  for (exit_way way : {exit_way::normal, exit_way::error, exit_way::immediate, exit_way::sigkill}) {
    temp_dir dir;
    std::string path = dir.file("unflushed.txt");
    INFO("file_unflushed --exit " << to_string(way));
    scenario_run run = run_scenario(dir, "file_unflushed", {"--path", path}, way);
    check_exit(run.result, way);
    CHECK(output_value(run.result.out, "path") == path);
    check_finalizer_warning(run.result, way, "ResourceWarning: unclosed file " + path);
    bool finalized = way == exit_way::normal || way == exit_way::error;
    CHECK(read_file(path) == (finalized ? "flushed line\nbuffered tail\n" : "flushed line\n"));
    if (way == exit_way::sigkill) CHECK(run.harness_messages.front() == "register file " + path);
  }
}

TEST_CASE("mapping_shared: shared stores reach the file in every exit, private ones in none") {
  for (bool private_copy : {false, true}) {
    for (exit_way way :
         {exit_way::normal, exit_way::error, exit_way::immediate, exit_way::sigkill}) {
      temp_dir dir;
      std::string path = dir.file("mapped.bin");
      INFO("mapping_shared --exit " << to_string(way) << (private_copy ? " --private" : ""));
      std::vector<std::string> args = {"--path", path};
      if (private_copy) args.push_back("--private");
      scenario_run run = run_scenario(dir, "mapping_shared", args, way);
      check_exit(run.result, way);
      check_finalizer_warning(run.result, way, "ResourceWarning: unclosed mapping " + path);
      std::string contents = read_file(path);
      REQUIRE(contents.size() == 4096);
      std::string expected_head =
          private_copy ? std::string(27, '.') : "written through the mapping";
      CHECK(contents.substr(0, 27) == expected_head);
    }
  }
}

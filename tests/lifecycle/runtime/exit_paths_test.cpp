// Every way a lifecycle process ends, each in a real child process (programs/lifecycle_child):
// exit status or signal, what reached stdout, and which phases ran in which order.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "child_process.hpp"
#include "peer_pid.hpp"

namespace {

using afterlife_test::child_result;

// ThreadSanitizer's _exit and abort interceptors flush stdio before the real call, so buffered
// output is not lost under it (tsan preset only).
#ifndef AFTERLIFE_TSAN
#define AFTERLIFE_TSAN 0
#endif
constexpr bool stdio_flushed_by_sanitizer = AFTERLIFE_TSAN != 0;

child_result run_case(const std::string& name, const std::map<std::string, std::string>& env = {}) {
  afterlife_test::child_options options;
  options.set_env["LIFECYCLE_TRACE"] = "1";
  for (const auto& [key, value] : env) options.set_env[key] = value;
  options.unset_env = {"AFTERLIFE_SOCKET", "LIFECYCLE_SHOWREFCOUNT", "LIFECYCLE_TRACEMALLOC"};
  for (const auto& [key, value] : env) std::erase(options.unset_env, key);
  return afterlife_test::run_child({LIFECYCLE_CHILD_PATH, name}, options);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The stderr lines that are phase trace or program events, in order.
std::vector<std::string> events(const child_result& r) {
  std::vector<std::string> out;
  for (auto& line : lines(r.err)) {
    if (line.rfind("lifecycle: phase ", 0) == 0) out.push_back(line.substr(11));
    if (line.rfind("event ", 0) == 0) out.push_back(line);
  }
  return out;
}

const std::vector<std::string> phase_names = {
    "wait_for_threads", "atexit",        "mark_finalizing", "flush_streams",     "collect",
    "finalize_modules", "clear_objects", "stop_tracer",     "release_allocator", "low_level_exit",
};

// The full sequence with `inside` events placed in the phase that emits them.
std::vector<std::string> all_phases(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& inside = {}) {
  std::vector<std::string> out;
  for (const auto& name : phase_names) {
    out.push_back("phase " + name + " begin");
    for (const auto& [phase, items] : inside) {
      if (phase == name) out.insert(out.end(), items.begin(), items.end());
    }
    out.push_back("phase " + name + " end");
  }
  return out;
}

std::vector<std::string> with_prefix(std::vector<std::string> first,
                                     const std::vector<std::string>& rest) {
  first.insert(first.end(), rest.begin(), rest.end());
  return first;
}

bool contains_phase_line(const child_result& r) {
  return r.err.find("lifecycle: phase") != std::string::npos;
}

// A stand-in for the harness's control socket: one line per connection, answered `continue` for
// a checkpoint and `ok` otherwise; records the lines without their pid. With a signal, a
// checkpoint is not answered: the sender gets the signal instead (`afterlife run --mode sigint
// --at checkpoint:ready`).
class control_socket {
 public:
  explicit control_socket(int signal_at_checkpoint = 0) : signal_(signal_at_checkpoint) {
    char dir_template[] = "/tmp/lifecycle-test-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/control.sock";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    server_ = std::thread([this] { serve(); });
  }
  ~control_socket() {
    stop_ = true;
    server_.join();
    for (int held : held_) ::close(held);
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd watch{fd_, POLLIN, 0};
      if (::poll(&watch, 1, 20) <= 0) continue;
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      std::string line;
      char c;
      while (::read(client, &c, 1) == 1 && c != '\n') line += c;
      // Lines carry no pid (the harness has it from the kernel): so does this fake.
      std::string message = line;
      bool checkpoint = message.rfind("checkpoint ", 0) == 0;
      const int sender = afterlife_test::peer_pid(client);
      {
        std::lock_guard lock(mutex_);
        lines_.push_back(message);
      }
      if (checkpoint && signal_ != 0) {
        held_.push_back(client);
        if (sender > 0) ::kill(sender, signal_);
        continue;
      }
      const char* answer = checkpoint ? "continue\n" : "ok\n";
      (void)!::write(client, answer, std::strlen(answer));
      ::close(client);
    }
  }

  std::string dir_, path_;
  int signal_ = 0;
  std::vector<int> held_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread server_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

}  // namespace

TEST_CASE("with AFTERLIFE_SOCKET set, every phase begin and end reaches the harness") {
  control_socket harness;
  auto r = run_case("exit_normal", {{"AFTERLIFE_SOCKET", harness.path()}});
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(harness.lines() == all_phases());
}

TEST_CASE("module_teardown_order --exit wait, SIGINT at checkpoint ready: all phases, SIGINT") {
  control_socket harness(SIGINT);
  afterlife_test::child_options options;
  options.set_env["AFTERLIFE_SOCKET"] = harness.path();
  options.unset_env = {"LIFECYCLE_TRACE", "LIFECYCLE_SHOWREFCOUNT", "LIFECYCLE_TRACEMALLOC"};
  auto r = afterlife_test::run_child({SCENARIO_PATH, "--exit", "wait"}, options);
  REQUIRE(r.signaled());
  CHECK(r.term_signal() == SIGINT);
  CHECK(harness.lines() == with_prefix({"checkpoint ready"}, all_phases()));
  CHECK(r.err ==
        "Traceback (most recent call last):\nKeyboardInterrupt\n"
        "teardown del y b=set\nteardown del _x b=set\nteardown del cycle\n"
        "teardown del _a b=set\nteardown del b b=None\nteardown del __c b=None\n"
        "teardown del d b=None\n");
}

TEST_CASE("module_teardown_order --exit wait, SIGTERM at checkpoint ready: no phase") {
  control_socket harness(SIGTERM);
  afterlife_test::child_options options;
  options.set_env["AFTERLIFE_SOCKET"] = harness.path();
  auto r = afterlife_test::run_child({SCENARIO_PATH, "--exit", "wait"}, options);
  REQUIRE(r.signaled());
  CHECK(r.term_signal() == SIGTERM);
  CHECK(harness.lines() == std::vector<std::string>{"checkpoint ready"});
  CHECK(r.err.empty());
}

TEST_CASE("exit(0) runs all ten phases in order, atexit inside its phase, stdout flushed") {
  auto r = run_case("exit_normal");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(r.out == "buffered output\n");
  CHECK(events(r) == all_phases({{"atexit", {"event atexit 1"}}}));
}

TEST_CASE("exit(1) runs the same phases and keeps status 1") {
  auto r = run_case("exit_error");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 1);
  CHECK(r.out == "buffered output\n");
  CHECK(events(r) == all_phases({{"atexit", {"event atexit 1"}}}));
}

TEST_CASE("a stdout that cannot be flushed turns exit 0 into 120 after all phases") {
  auto r = run_case("flush_failure");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 120);
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring(
                        "Exception ignored in: <stdout>\nOSError: [Errno 9] "));
  CHECK(events(r) == all_phases({{"atexit", {"event atexit 1"}}}));
}

TEST_CASE("an uncaught exception prints a traceback, runs all phases, exits 1") {
  auto r = run_case("uncaught");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 1);
  CHECK(r.out == "buffered output\n");
  CHECK_THAT(r.err,
             Catch::Matchers::ContainsSubstring(
                 "Traceback (most recent call last):\nstd::runtime_error: boom from main\n"));
  // The traceback comes before the first phase.
  CHECK(r.err.find("Traceback") < r.err.find("lifecycle: phase wait_for_threads begin"));
  CHECK(events(r) == all_phases({{"atexit", {"event atexit 1"}}}));
}

TEST_CASE("the traceback of an uncaught exception lists the runtime frames it went through") {
  auto r = run_case("uncaught_in_frames");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 1);
  CHECK(std::regex_search(
      r.err, std::regex("^Traceback \\(most recent call last\\):\n"
                        "  File \"[^\"]*lifecycle_child\\.cpp\", line \\d+, in main\n"
                        "  File \"[^\"]*lifecycle_child\\.cpp\", line \\d+, in load\n"
                        "  File \"[^\"]*lifecycle_child\\.cpp\", line \\d+, in parse_config\n"
                        "ValueError: bad config\n")));
  CHECK(events(r) == all_phases());
}

TEST_CASE("SIGINT while main waits in join: KeyboardInterrupt there, worker joined, SIGINT") {
  auto r = run_case("sigint_in_join");
  REQUIRE(r.signaled());
  CHECK(r.term_signal() == SIGINT);
  CHECK_THAT(r.err, Catch::Matchers::StartsWith(
                        "Traceback (most recent call last):\nKeyboardInterrupt\n"));
  CHECK(events(r) == all_phases({{"wait_for_threads", {"event worker done"}}}));
}

TEST_CASE("an uncaught system_exit exits with its code after all phases, no traceback") {
  auto r = run_case("uncaught_system_exit");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 3);
  CHECK(r.err.find("Traceback") == std::string::npos);
  CHECK(events(r) == all_phases({{"atexit", {"event atexit 1"}}}));
}

TEST_CASE("immediate_exit runs no phase and loses buffered output") {
  auto r = run_case("immediate");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 4);
  if (!stdio_flushed_by_sanitizer) CHECK(r.out.empty());
  CHECK(events(r).empty());
}

TEST_CASE("fatal_error prints its message and aborts without any phase") {
  auto r = run_case("fatal");
  REQUIRE(r.signaled());
  CHECK(r.term_signal() == SIGABRT);
  if (!stdio_flushed_by_sanitizer) CHECK(r.out.empty());
  CHECK(r.err == "Fatal runtime error: boom\n");
}

TEST_CASE("SIGINT: KeyboardInterrupt traceback, all phases, then killed by SIGINT") {
  auto r = run_case("sigint");
  REQUIRE(r.signaled());
  CHECK(r.term_signal() == SIGINT);
  CHECK(r.out == "buffered output\n");
  CHECK_THAT(r.err, Catch::Matchers::StartsWith(
                        "Traceback (most recent call last):\nKeyboardInterrupt\n"));
  CHECK(events(r) == all_phases({{"atexit", {"event atexit 1"}}}));
}

TEST_CASE("SIGTERM keeps its default action: no phase, output lost") {
  auto r = run_case("sigterm_default");
  REQUIRE(r.signaled());
  CHECK(r.term_signal() == SIGTERM);
  CHECK(r.out.empty());
  CHECK_FALSE(contains_phase_line(r));
}

TEST_CASE("an orderly SIGTERM handler runs all phases and exits 143") {
  auto r = run_case("sigterm_orderly");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 143);
  CHECK(r.out == "buffered output\n");
  CHECK(r.err.find("Traceback") == std::string::npos);
  CHECK(events(r) == all_phases({{"atexit", {"event atexit 1"}}}));
}

TEST_CASE("atexit: LIFO with arguments, a failing callback is reported and the rest run") {
  auto r = run_case("atexit_order");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(events(r) ==
        with_prefix(
            {"event main done"},
            all_phases({{"atexit",
                         {"event atexit 3", "event atexit is_finalizing=false",
                          "event atexit 2 two", "event atexit failing", "event atexit 1"}}})));
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring(
                        "event atexit failing\nException ignored in atexit callback: fail\n"
                        "std::runtime_error: boom in atexit\n"
                        "event atexit 1\n"));
}

TEST_CASE("low-level exit functions: 32 accepted, the 33rd refused, run LIFO in the last phase") {
  auto r = run_case("low_level_exit");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  std::vector<std::string> low_level;
  for (int n = 31; n >= 0; --n) low_level.push_back("event low-level " + std::to_string(n));
  CHECK(events(r) ==
        with_prefix({"event low-level accepted 32"},
                    all_phases({{"atexit", {"event atexit 1"}}, {"low_level_exit", low_level}})));
}

TEST_CASE("threads: non-daemon joined first, daemon stops at the lock, late start refused") {
  auto r = run_case("threads_at_exit");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(
      events(r) ==
      with_prefix(
          {"event daemon started", "event main done"},
          all_phases({{"wait_for_threads", {"event worker done"}},
                      {"atexit",
                       {"event atexit releases daemon", "event daemon asks for the runtime lock"}},
                      {"collect",
                       {"event late thread refused: can't create new thread at "
                        "interpreter shutdown"}}})));
}

TEST_CASE("an exception in a runtime thread is reported with the thread's name") {
  auto r = run_case("thread_exception");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK_THAT(r.err, Catch::Matchers::ContainsSubstring(
                        "Exception in thread failing worker:\nTraceback (most recent call last):\n"
                        "std::logic_error: boom\n"));
  CHECK(events(r) == with_prefix({"event joined alive=false"}, all_phases()));
}

TEST_CASE("uncollectable garbage at shutdown: CPython's ResourceWarning, in clear_objects") {
  auto r = run_case("garbage_default");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  const std::string warning =
      "ResourceWarning: gc: 1 uncollectable objects at shutdown; use "
      "gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them\n";
  CHECK_THAT(r.err,
             Catch::Matchers::ContainsSubstring("lifecycle: phase clear_objects begin\n" + warning +
                                                "lifecycle: phase clear_objects end\n"));
}

TEST_CASE("uncollectable garbage with DEBUG_UNCOLLECTABLE: the short warning and the list") {
  auto r = run_case("garbage_uncollectable");
  REQUIRE(r.exited());
  std::smatch match;
  CHECK(std::regex_search(
      r.err, match,
      std::regex("\nResourceWarning: gc: 1 uncollectable objects at shutdown\n      "
                 "\\[<Legacy object at 0x[0-9a-f]+>\\]\nlifecycle: phase clear_objects end\n")));
}

TEST_CASE("uncollectable garbage with DEBUG_SAVEALL: no warning") {
  auto r = run_case("garbage_saveall");
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(r.err.find("uncollectable objects at shutdown") == std::string::npos);
  CHECK(events(r) == all_phases());
}

TEST_CASE("LIFECYCLE_SHOWREFCOUNT prints [N refs, M blocks] in release_allocator") {
  auto clean = run_case("clean", {{"LIFECYCLE_SHOWREFCOUNT", "1"}});
  REQUIRE(clean.exited());
  CHECK_THAT(clean.err, Catch::Matchers::ContainsSubstring(
                            "lifecycle: phase release_allocator begin\n[0 refs, 0 blocks]\n"
                            "lifecycle: phase release_allocator end\n"));
  auto leaky = run_case("garbage_default", {{"LIFECYCLE_SHOWREFCOUNT", "1"}});
  std::smatch match;
  REQUIRE(std::regex_search(leaky.err, match, std::regex(R"(\n\[(\d+) refs, (\d+) blocks\]\n)")));
  // Refs: the instance's own "self" attribute and gc.garbage's entry, plus its dict's one
  // reference from the instance. Blocks: everything the uncollectable cycle keeps (the class,
  // the instance, its dict and their buffers, gc.garbage): exact, so any change in what these
  // objects allocate shows here.
  CHECK(std::stoi(match[1]) == 3);
  CHECK(std::stoi(match[2]) == 6);
  auto quiet = run_case("clean");
  CHECK(quiet.err.find(" refs, ") == std::string::npos);
}

TEST_CASE("with the tracer on, blocks still in use at exit are listed by allocation site") {
  auto r = run_case("leak", {{"LIFECYCLE_TRACEMALLOC", "5"}});
  REQUIRE(r.exited());
  CHECK(r.exit_code() == 0);
  std::smatch match;
  REQUIRE(std::regex_search(
      r.err, match,
      std::regex(R"(lifecycle: (\d+) blocks still in use at exit, by allocation site:\n)")));
  // The leaked instance keeps its class, its dict (and its table), the "payload" key and value:
  // exact, as in the refcount case above.
  CHECK(std::stoi(match[1]) == 7);
  CHECK(std::regex_search(
      r.err, std::regex(R"(  \S+:\d+ <- \S*lifecycle_child\.cpp:\d+: size=\d+ B, count=\d+\n)")));
  auto untraced = run_case("leak");
  CHECK(untraced.err.find("blocks still in use at exit") == std::string::npos);
}

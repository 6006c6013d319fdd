#include "afterlife/control_client.h"
#include "catch.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace {

// A one-connection-at-a-time stand-in for the harness's control socket.
class fake_harness {
 public:
  fake_harness() {
    dir_ = std::filesystem::temp_directory_path() / ("afterlife-client-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "control.sock").string();
    listener_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(listener_, 4) == 0);
    setenv("AFTERLIFE_SOCKET", path_.c_str(), 1);
  }
  ~fake_harness() {
    unsetenv("AFTERLIFE_SOCKET");
    close(listener_);
    std::filesystem::remove_all(dir_);
  }
  fake_harness(const fake_harness&) = delete;
  fake_harness& operator=(const fake_harness&) = delete;

  // Accepts one connection, reads one line, waits `delay`, answers `answer` (nullptr: hangs up).
  std::string serve_one(const char* answer, std::chrono::milliseconds delay = {}) {
    int fd = accept(listener_, nullptr, nullptr);
    std::string line;
    char c;
    while (read(fd, &c, 1) == 1 && c != '\n') line += c;
    std::this_thread::sleep_for(delay);
    answered_ = true;
    if (answer != nullptr) {
      std::string reply = std::string(answer) + "\n";
      (void)write(fd, reply.data(), reply.size());
    }
    close(fd);
    return line;
  }
  bool answered() const { return answered_; }
  // Whether a client connected and nobody accepted it yet.
  bool has_pending_connection() const {
    pollfd pending{listener_, POLLIN, 0};
    return poll(&pending, 1, 0) == 1;
  }

 private:
  std::filesystem::path dir_;
  std::string path_;
  int listener_ = -1;
  std::atomic<bool> answered_{false};
};

}  // namespace

TEST_CASE("without AFTERLIFE_SOCKET every call is a no-op that returns 0") {
  unsetenv("AFTERLIFE_SOCKET");
  CHECK(afterlife_checkpoint("ready") == 0);
  CHECK(afterlife_phase("atexit", 1) == 0);
  CHECK(afterlife_register("posix_shm", "/x") == 0);
}

TEST_CASE("a checkpoint blocks until the harness answers (the pid is the kernel's to give)") {
  fake_harness harness;
  std::string received;
  std::thread server([&] { received = harness.serve_one("continue", std::chrono::milliseconds(100)); });
  int rc = afterlife_checkpoint("ready");
  bool was_answered = harness.answered();
  server.join();
  CHECK(rc == 1);
  CHECK(was_answered);
  CHECK(received == "checkpoint ready");
}

TEST_CASE("register, unregister and phase lines keep names with spaces whole") {
  fake_harness harness;
  std::string lines[3];
  std::thread server([&] {
    for (auto& line : lines) line = harness.serve_one("ok");
  });
  CHECK(afterlife_register("file", "/tmp/a b") == 1);
  CHECK(afterlife_unregister("posix_shm", "/seg") == 1);
  CHECK(afterlife_phase("collect", 0) == 1);
  server.join();
  CHECK(lines[0] == "register file /tmp/a b");
  CHECK(lines[1] == "unregister posix_shm /seg");
  CHECK(lines[2] == "phase collect end");
}

TEST_CASE("an oversized message is refused before anything is sent") {
  fake_harness harness;
  std::string name(600, 'x');
  errno = 0;
  CHECK(afterlife_checkpoint(name.c_str()) == -1);
  CHECK(errno == EMSGSIZE);
  CHECK_FALSE(harness.has_pending_connection());
}

TEST_CASE("a harness that hangs up without answering is an error, not a hang") {
  fake_harness harness;
  std::thread server([&] { harness.serve_one(nullptr); });
  errno = 0;
  CHECK(afterlife_phase("x", 1) == -1);
  CHECK(errno == ECONNRESET);
  server.join();
}

// Shared by resources_test.cpp and resource_tracker_test.cpp: unique names, probes that look at
// the real system (shm_open, sem_open, shmget, the file system), a guard that removes whatever
// a test may have left behind even when it fails, and a stand-in for the harness's control
// socket that ends a child at its `ready` checkpoint (the harness is built in parallel).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "peer_pid.hpp"

namespace resource_test {

inline std::string scenario_path(const std::string& name) {
  return std::string(AFTERLIFE_SCENARIO_DIR) + "/" + name;
}

inline std::string program_path(const std::string& name) {
  return std::string(AFTERLIFE_TEST_PROGRAM_DIR) + "/" + name;
}

// "/aflt<pid>_<tag><n>": unique per test process and call, short enough for macOS.
inline std::string unique_ipc_name(const std::string& tag) {
  static std::atomic<int> counter{0};  // trivially destructible
  return "/aflt" + std::to_string(getpid()) + "_" + tag + std::to_string(counter++);
}

// ---- probes on the real system ---------------------------------------------------------------

inline bool posix_shm_exists(const std::string& name) {
  int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  close(fd);
  return true;
}

inline bool posix_sem_exists(const std::string& name) {
  sem_t* sem = sem_open(name.c_str(), 0);
  if (sem == SEM_FAILED) return false;
  sem_close(sem);
  return true;
}

inline bool sysv_shm_exists(key_t key) { return shmget(key, 0, 0) >= 0; }

inline bool path_exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

inline bool is_socket(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls `ready` every 10 ms until it holds or `timeout` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& ready,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= deadline) return ready();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Whether a process has ended: gone, or a zombie (an orphan nobody reaps here still has an entry,
// and kill(pid, 0) succeeds on it). Reads /proc/PID/stat (Linux).
inline bool process_ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) return true;
  auto name_end = line.rfind(')');
  return name_end != std::string::npos && name_end + 2 < line.size() && line[name_end + 2] == 'Z';
}

// The value of `key=` in a child's stdout ("name=/x\ntracker=123\n").
inline std::string output_value(const std::string& out, const std::string& key) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  }
  return {};
}

// ---- cleaning up whatever a test created ---------------------------------------------------

class leftover_guard {
 public:
  leftover_guard() = default;
  leftover_guard(const leftover_guard&) = delete;
  leftover_guard& operator=(const leftover_guard&) = delete;
  ~leftover_guard() {
    for (auto it = removers_.rbegin(); it != removers_.rend(); ++it) (*it)();
  }
  void posix_shm(const std::string& name) {
    removers_.emplace_back([name] { shm_unlink(name.c_str()); });
  }
  void posix_sem(const std::string& name) {
    removers_.emplace_back([name] { sem_unlink(name.c_str()); });
  }
  void sysv_shm(key_t key) {
    removers_.emplace_back([key] {
      int id = shmget(key, 0, 0);
      if (id >= 0) shmctl(id, IPC_RMID, nullptr);
    });
  }

 private:
  std::vector<std::function<void()>> removers_;
};

// A private directory for one test (TMPDIR of its children), removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "afl-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// ---- a stand-in for the harness's control socket ---------------------------------------------

// Serves AFTERLIFE_SOCKET for the children of one test: records every message, answers `ok`,
// and at a checkpoint either answers `continue` or ends the sender with a signal (to its pid,
// or to its whole process group as the harness's tree kill does).
class fake_harness {
 public:
  enum class at_checkpoint { answer_continue, kill_sender, kill_sender_group };

  fake_harness(const temp_dir& dir, at_checkpoint action, int signal_number = SIGKILL)
      : path_(dir.file("control.sock")), action_(action), signal_(signal_number) {
    listener_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path_.copy(address.sun_path, sizeof address.sun_path - 1);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(listener_, 16) != 0) {
      close(listener_);
      throw std::runtime_error("fake_harness: cannot listen on " + path_);
    }
    server_ = std::thread([this] { serve(); });
  }
  fake_harness(const fake_harness&) = delete;
  fake_harness& operator=(const fake_harness&) = delete;
  ~fake_harness() {
    stop_ = true;
    server_.join();
    close(listener_);
    unlink(path_.c_str());
  }

  const std::string& socket_path() const { return path_; }

  // Every message received, without the sender's pid: "register posix_shm /x".
  std::vector<std::string> messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }

  bool received(const std::string& message) const {
    auto all = messages();
    for (const auto& m : all) {
      if (m == message) return true;
    }
    return false;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd waiting{listener_, POLLIN, 0};
      if (poll(&waiting, 1, 20) <= 0) continue;
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      handle(fd);
      close(fd);
    }
  }

  void handle(int fd) {
    std::string line;
    char c;
    while (read(fd, &c, 1) == 1 && c != '\n') line += c;
    if (line.empty()) return;
    // Lines carry no pid (the harness has it from the kernel): so does this fake.
    pid_t sender = afterlife_test::peer_pid(fd);
    if (sender <= 0) return;
    std::string message = line;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      messages_.push_back(message);
    }
    if (message.rfind("checkpoint ", 0) == 0 && action_ != at_checkpoint::answer_continue) {
      end_sender(sender);
      return;  // no answer: the sender is dead
    }
    std::string answer = message.rfind("checkpoint ", 0) == 0 ? "continue\n" : "ok\n";
    (void)write(fd, answer.data(), answer.size());
  }

  void end_sender(pid_t sender) {
    if (action_ == at_checkpoint::kill_sender) {
      kill(sender, signal_);
      return;
    }
    // Never our own group: the child must have been started in a group of its own.
    pid_t group = getpgid(sender);
    if (group > 0 && group != getpgrp()) kill(-group, signal_);
  }

  std::string path_;
  at_checkpoint action_;
  int signal_;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::thread server_;
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

// argv that runs `argv` in a process group of its own (tests/lifecycle/programs/own_group).
inline std::vector<std::string> in_own_group(std::vector<std::string> argv) {
  argv.insert(argv.begin(), program_path("own_group"));
  return argv;
}

}  // namespace resource_test

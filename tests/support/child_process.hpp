// Runs a real child process for tests: captures stdout and stderr, keeps the raw wait status,
// and never waits for EOF from descendants that outlive the child (a grandchild holding the
// pipe must not hang the test).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace afterlife_test {

struct child_result {
  int wait_status = 0;  // raw status from waitpid
  bool timed_out = false;
  std::string out;
  std::string err;

  bool exited() const;
  int exit_code() const;    // -1 unless exited()
  bool signaled() const;
  int term_signal() const;  // 0 unless signaled()
};

struct child_options {
  std::map<std::string, std::string> set_env;  // added to (or replacing in) this environment
  std::vector<std::string> unset_env;
  std::string stdin_text;
  std::chrono::milliseconds timeout{30000};  // then SIGKILL, timed_out = true
};

// argv[0] is looked up in PATH when it has no slash. Throws std::system_error if fork fails.
child_result run_child(const std::vector<std::string>& argv, const child_options& options = {});

}  // namespace afterlife_test

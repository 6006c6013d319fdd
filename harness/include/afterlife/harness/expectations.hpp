// The expectation language of `afterlife run --expect` and the scenario catalog:
//   clean  exit=N  signal=NAME  KIND=N  leftovers=N  survivors=N  held_fds=N  phase=NAME
//   phases=N  output~REGEX
// KIND is a leftover kind (posix_shm posix_sem posix_mq sysv_shm sysv_sem sysv_msg file socket
// fifo). Counts are of leftovers attributed to the run. `clean` = no attributed leftovers and
// no survivors (with --strict, no unattributed leftovers either); it says nothing about how the
// program ended.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace afterlife {

struct run_report;

struct expectation {
  enum class kind { clean, exit_code, signal, leftover_kind, leftovers, survivors, held_fds, phase,
                    phases, output };
  std::string text;    // as written
  kind what = kind::clean;
  std::string subject;  // leftover kind, signal name (without SIG), phase name, regex
  long number = 0;
};

struct expectation_result {
  std::string expr;
  bool met = false;
  std::string actual;  // what was observed, e.g. "2 posix_shm" or "exit 1"
};

// Throws std::invalid_argument with a message naming the bad expression.
expectation parse_expectation(std::string_view text);

// Judges one expectation against a finished run. `strict`: unattributed leftovers fail `clean`.
expectation_result judge(const expectation& expected, const run_report& report, bool strict);

// Signal number <-> name without "SIG" ("KILL"); 0 / "" when unknown.
int signal_number(std::string_view name);
std::string signal_name(int number);

}  // namespace afterlife

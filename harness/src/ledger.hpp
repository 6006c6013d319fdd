// The run's ledger: one line per named object a process of the run created (written by the
// interposer, see interposer/interposer.h for the format) or registered over the control socket
// (written by the harness). It is on disk before any report, so `afterlife clean` can act on
// runs whose harness died.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace afterlife::detail {

// The site of a record that came from a control-socket `register` rather than the interposer.
inline constexpr const char* registration_site = "registered";

struct ledger_record {
  std::string kind;
  int pid = 0;
  std::uint64_t inode = 0;
  std::string site;
  std::string name;
  // The frames that called site, innermost first (the interposer writes a few when the stack
  // can be unwound); empty for registrations.
  std::vector<std::string> callers = {};
};

// Malformed lines (a record cut short by a crash) are skipped.
std::vector<ledger_record> read_ledger(const std::filesystem::path& path);

// Appends one record with one write(2) on an O_APPEND descriptor. Throws std::system_error.
void append_ledger(const std::filesystem::path& path, const ledger_record& record);

}  // namespace afterlife::detail

// Claims: what a process of the run says it created — an interposer `record` or a `register`
// message, both arriving on the control socket with the sender's pid from the kernel. A claim
// describes an object (creator, call site) the harness saw appear; it never makes anything
// removable by itself (harness/README.md, "What afterlife removes, and what it never touches").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace afterlife::detail {

// The site of a claim that came from a control-socket `register` rather than the interposer.
inline constexpr const char* registration_site = "registered";

struct claim {
  std::string kind;
  int pid = 0;  // the sender, as the kernel says (never a number the sender wrote)
  std::uint64_t inode = 0;
  // As the interposer recorded it (symbolize/symbolize.hpp reads it after the run).
  std::string site;
  std::string name;
  // The frames that called site, innermost first (the interposer sends a few when the stack
  // can be unwound); empty for registrations.
  std::vector<std::string> callers = {};
  // The sender's uid (the kernel's): a claim confirms only an object this uid owns.
  long long uid = -1;
};

// The body of an interposer `record` message: KIND \t INODE \t SITE[ <- CALLER...] \t NAME,
// NAME with '%' and '\n' written as %25 and %0A (interposer/interposer.h). nullopt when
// malformed. The pid is not in it: the kernel gives it.
std::optional<claim> parse_record(std::string_view body);
// The same body, for tests and tools that speak for the interposer.
std::string format_record(const claim& record);

// '%' and '\n' as %25 and %0A, and back (names in records and in the journal).
std::string escape_name(std::string_view text);
std::string unescape_name(std::string_view text);

}  // namespace afterlife::detail

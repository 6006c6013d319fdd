// debug_info in a build without libdw (macOS, or Linux without elfutils' libdw-dev): nothing is
// looked up, so call sites stay module(symbol+0xOFF) or module+0xADDRESS.
#include "symbolize.hpp"

namespace afterlife::detail {

struct debug_info::impl {};

debug_info::debug_info() = default;
debug_info::~debug_info() = default;
bool debug_info::available() noexcept { return false; }

std::optional<source_location> debug_info::lookup(const std::string&, std::uint64_t) {
  return std::nullopt;
}

}  // namespace afterlife::detail

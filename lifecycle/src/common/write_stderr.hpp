// Writes to fd 2 through write(2), whole (retried on EINTR and short writes): ordered with the
// phase trace and with everything else the process writes to stderr, independent of stdio's
// state during teardown. A closed or broken stderr drops the rest: nothing better to do on an
// exit path.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace lifecycle::detail {

inline void write_stderr(std::string_view text) noexcept {
  while (!text.empty()) {
    ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace lifecycle::detail

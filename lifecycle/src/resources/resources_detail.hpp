// Internals shared by the resource implementations (not installed).
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "lifecycle/warnings.hpp"

namespace lifecycle::detail {

// A formatted warning that cannot throw: for finalizers and other exit paths.
template <class... Args>
void warn_format(warning_category category, fmt::format_string<Args...> format,
                 Args&&... args) noexcept {
  try {
    warn(category, fmt::format(format, std::forward<Args>(args)...));
  } catch (...) {
    warn(category, "(a warning could not be formatted: out of memory)");
  }
}

// Throws std::system_error for the current errno: "WHAT: strerror".
[[noreturn]] inline void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Absolute form of a path, so that the tracker (which may outlive our working directory's
// meaning) and the harness see the same name we do.
std::string absolute_path(std::string_view path);

// Writes all of data to fd, retrying on EINTR and short writes. Throws std::system_error.
void write_all(int fd, std::string_view data, const char* what);

}  // namespace lifecycle::detail

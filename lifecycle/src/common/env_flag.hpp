// A boolean environment switch (LIFECYCLE_TRACE, LIFECYCLE_SHOWREFCOUNT): on when set to
// anything but "" or "0", as CPython's PYTHON* flags.
#pragma once

#include <cstdlib>
#include <string_view>

namespace lifecycle::detail {

inline bool env_flag(const char* name) noexcept {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' && std::string_view(value) != "0";
}

}  // namespace lifecycle::detail

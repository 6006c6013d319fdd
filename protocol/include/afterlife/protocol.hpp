// The control protocol's declarations (afterlife/protocol.h) as C++ tables: the message limit
// and the leftover kinds with their families, for the harness, lifecycle and tests.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "afterlife/protocol.h"

namespace afterlife::protocol {

inline constexpr std::size_t message_max = AFTERLIFE_MESSAGE_MAX;
// A `record` line as the harness accepts it (protocol.h: why it exceeds the interposer's).
inline constexpr std::size_t record_message_max = AFTERLIFE_RECORD_ACCEPTED_MAX;

enum class kind_family { posix_name, sysv, file };

struct kind_info {
  std::string_view name;
  kind_family family;
  std::string_view what;
};

inline constexpr std::array<kind_info, AFTERLIFE_KIND_COUNT> kinds{{
#define AFTERLIFE_KIND_INFO(kind, family_name, what) {#kind, kind_family::family_name, what},
    AFTERLIFE_KINDS(AFTERLIFE_KIND_INFO)
#undef AFTERLIFE_KIND_INFO
}};

// nullptr for a name that is not a kind.
constexpr const kind_info* find_kind(std::string_view name) noexcept {
  for (const kind_info& k : kinds) {
    if (k.name == name) return &k;
  }
  return nullptr;
}
constexpr bool is_kind(std::string_view name) noexcept { return find_kind(name) != nullptr; }
constexpr bool in_family(std::string_view name, kind_family family) noexcept {
  const kind_info* k = find_kind(name);
  return k != nullptr && k->family == family;
}
// Files, sockets and fifos: paths, compared and removed as paths.
constexpr bool is_file_kind(std::string_view name) noexcept {
  return in_family(name, kind_family::file);
}

// "posix_shm, posix_sem, ..." for help texts and error messages.
inline std::string kind_list(std::string_view separator = ", ") {
  std::string out;
  for (const kind_info& k : kinds) {
    if (!out.empty()) out += separator;
    out += k.name;
  }
  return out;
}

}  // namespace afterlife::protocol

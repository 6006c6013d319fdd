#include "lifecycle/warnings.hpp"

#include <atomic>
#include <cstring>
#include <string>

#include "common/write_stderr.hpp"

namespace lifecycle {

namespace {

// The current sink. A plain atomic function pointer: constant-initialized, nothing to destroy,
// so warnings still work while (and after) static destructors run.
constinit std::atomic<warning_sink> current_sink{nullptr};

}  // namespace

std::string_view to_string(warning_category category) noexcept {
  switch (category) {
    case warning_category::user_warning:
      return "UserWarning";
    case warning_category::resource_warning:
      return "ResourceWarning";
    case warning_category::runtime_warning:
      return "RuntimeWarning";
  }
  return "Warning";
}

void write_warning_to_stderr(warning_category category, std::string_view text) noexcept {
  // One write per line so that warnings from several processes sharing stderr do not interleave
  // mid-line. Short lines are assembled on the stack: no allocation on the common path.
  std::string_view name = to_string(category);
  char line[1024];
  std::size_t needed = name.size() + 2 + text.size() + 1;
  if (needed <= sizeof line) {
    std::memcpy(line, name.data(), name.size());
    std::memcpy(line + name.size(), ": ", 2);
    std::memcpy(line + name.size() + 2, text.data(), text.size());
    line[needed - 1] = '\n';
    detail::write_stderr(std::string_view(line, needed));
    return;
  }
  try {
    std::string long_line;
    long_line.reserve(needed);
    long_line.append(name).append(": ").append(text).push_back('\n');
    detail::write_stderr(long_line);
  } catch (...) {
    // Out of memory: the warning is written in pieces rather than not at all.
    detail::write_stderr(name);
    detail::write_stderr(": ");
    detail::write_stderr(text);
    detail::write_stderr("\n");
  }
}

void warn(warning_category category, std::string_view text) noexcept {
  warning_sink sink = current_sink.load(std::memory_order_acquire);
  if (sink == nullptr) sink = &write_warning_to_stderr;
  sink(category, text);
}

warning_sink set_warning_sink(warning_sink sink) noexcept {
  return current_sink.exchange(sink, std::memory_order_acq_rel);
}

}  // namespace lifecycle

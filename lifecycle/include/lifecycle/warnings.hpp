// Warnings, the way CPython's `warnings` module prints them at the end of the day: one line
// `Category: text` on stderr. Everything in lifecycle that has something to say about a
// resource it cleaned up for the program (an unclosed file, a killed resource tracker, leaked
// segments) says it through lifecycle::warn, so a program or a test can redirect it.
//
// warn() is noexcept and safe on exit paths: the default sink is one write(2) of one line to
// fd 2 (no stdio buffer, no allocation when the line fits in 1 KiB), so a warning issued from a
// finalizer that runs during exit is never lost in a buffer nobody flushes.
#pragma once

#include <string_view>

namespace lifecycle {

enum class warning_category {
  user_warning,      // UserWarning: what CPython's resource_tracker uses
  resource_warning,  // ResourceWarning: an object finalized while still open
  runtime_warning,   // RuntimeWarning: something went wrong while cleaning up
};

// "UserWarning", "ResourceWarning", "RuntimeWarning".
std::string_view to_string(warning_category category) noexcept;

// A sink receives every warning. It must not throw; it may be called from any thread and from
// exit paths (atexit handlers, finalizers).
using warning_sink = void (*)(warning_category category, std::string_view text) noexcept;

// Emits one warning through the current sink.
void warn(warning_category category, std::string_view text) noexcept;

// Replaces the sink and returns the previous one; nullptr restores the default (stderr).
warning_sink set_warning_sink(warning_sink sink) noexcept;

// The default sink: writes `Category: text\n` to fd 2 with a single write.
void write_warning_to_stderr(warning_category category, std::string_view text) noexcept;

}  // namespace lifecycle

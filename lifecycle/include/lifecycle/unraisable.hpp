// Unraisable errors (CPython's sys.unraisablehook): an exception that cannot propagate — from a
// finalizer, a weakref callback, a gc callback, an atexit callback — is reported here and
// swallowed; whatever was running goes on.
//
// The caller holds the runtime lock (see object.hpp).
#pragma once

#include "lifecycle/object.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace lifecycle {

struct unraisable_event {
  std::string message;         // "Exception ignored in"
  std::string object_repr;     // repr of the object involved; empty if none
  std::string exception_type;  // python_error::type_name(), else the demangled C++ type
  std::string exception_value; // what()
};

// "Exception ignored in: <Node object at 0x...>\nValueError: boom\n" (no traceback: there is
// no Python stack to show). Without an object: "Exception ignored in\n...".
// Differs from CPython: a failing __del__ or weakref callback is reported with the instance or
// the weakref as the object (CPython names the function, which we do not have as an object).
std::string format_unraisable(const unraisable_event& event);

// Where reports go; nullptr restores the default (format_unraisable to stderr). Returns the
// previous hook. A hook must not throw (an exception from it is dropped).
using unraisable_hook = void (*)(const unraisable_event& event, void* context);
struct unraisable_hook_binding {
  unraisable_hook hook;
  void* context;
};
unraisable_hook_binding set_unraisable_hook(unraisable_hook hook, void* context) noexcept;

// Reports `error` (a caught exception) with `message` about `obj` (may be nullptr).
void report_unraisable(std::exception_ptr error, std::string_view message,
                       const object* obj) noexcept;
// PyErr_WriteUnraisable(obj): message "Exception ignored in".
inline void write_unraisable(std::exception_ptr error, const object* obj) noexcept {
  report_unraisable(std::move(error), "Exception ignored in", obj);
}

}  // namespace lifecycle

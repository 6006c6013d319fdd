// Unraisable reports (sys.unraisablehook): formatted once, handed to one hook.
#include "lifecycle/unraisable.hpp"

#include <boost/core/demangle.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <typeinfo>

#include "lifecycle/exit.hpp"

namespace lifecycle {

namespace {

void write_to_stderr(const unraisable_event& event, void*) {
  const std::string text = format_unraisable(event);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

constinit unraisable_hook_binding current_hook{&write_to_stderr, nullptr};

void describe_exception(const std::exception_ptr& error, unraisable_event& event) {
  try {
    std::rethrow_exception(error);
  } catch (const python_error& e) {
    event.exception_type = e.type_name();
    event.exception_value = e.what();
  } catch (const system_exit& e) {
    // sys.exit() where it cannot end the process (an atexit callback, a finalizer): CPython
    // reports a SystemExit like any other exception (test_atexit's test_exit).
    event.exception_type = "SystemExit";
    event.exception_value = std::to_string(e.code);
  } catch (const keyboard_interrupt&) {
    event.exception_type = "KeyboardInterrupt";
  } catch (const std::exception& e) {
    event.exception_type = boost::core::demangle(typeid(e).name());
    event.exception_value = e.what();
  } catch (...) {
    event.exception_type = "unknown exception";
  }
}

}  // namespace

std::string format_unraisable(const unraisable_event& event) {
  std::string text = event.object_repr.empty()
                         ? fmt::format("{}\n", event.message)
                         : fmt::format("{}: {}\n", event.message, event.object_repr);
  if (event.exception_value.empty())
    text += fmt::format("{}\n", event.exception_type);
  else
    text += fmt::format("{}: {}\n", event.exception_type, event.exception_value);
  return text;
}

unraisable_hook_binding set_unraisable_hook(unraisable_hook hook, void* context) noexcept {
  const unraisable_hook_binding previous = current_hook;
  current_hook = hook != nullptr ? unraisable_hook_binding{hook, context}
                                 : unraisable_hook_binding{&write_to_stderr, nullptr};
  return previous;
}

void report_unraisable(std::exception_ptr error, std::string_view message,
                       const object* obj) noexcept {
  // Everything here may allocate and so throw; a report that cannot be built is dropped, as
  // CPython drops an unraisable error raised while reporting one.
  try {
    unraisable_event event;
    event.message = std::string(message);
    if (obj != nullptr) {
      try {
        event.object_repr = repr(obj);
      } catch (...) {
        event.object_repr = "<object repr() failed>";
      }
    }
    if (error) describe_exception(error, event);
    const unraisable_hook_binding hook = current_hook;
    hook.hook(event, hook.context);
  } catch (...) {
  }
}

}  // namespace lifecycle

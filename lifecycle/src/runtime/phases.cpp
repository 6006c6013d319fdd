#include "lifecycle/phases.hpp"

#include <afterlife/control_client.h>
#include <fmt/format.h>

#include <cstdlib>
#include <iterator>
#include <stdexcept>
#include <string_view>

#include "common/env_flag.hpp"
#include "runtime/runtime_internal.hpp"

namespace lifecycle {

namespace {

struct phase_entry {
  std::string_view name;
  std::string_view summary;
};
constexpr phase_entry phase_table[] = {
#define LIFECYCLE_PHASE_ENTRY(name, what) {#name, what},
    LIFECYCLE_PHASES(LIFECYCLE_PHASE_ENTRY)
#undef LIFECYCLE_PHASE_ENTRY
};
static_assert(std::size(phase_table) == phase_count);

struct observer_slot {
  phase_observer observer;
  void* context;
};

// Plain data: no constructor or destructor runs at static init or exit.
constinit observer_slot observers[max_phase_observers] = {};
constinit std::size_t observer_count = 0;

// One write(2) per line, straight to fd 2: the trace must interleave exactly with everything
// else the process writes to stderr, and must not depend on stdio during teardown.
void trace_observer(void*, phase p, phase_event e) noexcept {
  auto line = fmt::format("lifecycle: phase {} {}\n", phase_name(p), phase_event_name(e));
  detail::write_stderr(line);
}

// The harness answers every phase message before we go on, so its record of the phases is
// complete even when the process dies right after the last one.
void socket_observer(void*, phase p, phase_event e) noexcept {
  std::string name(phase_name(p));
  (void)afterlife_phase(name.c_str(), e == phase_event::begin ? 1 : 0);
}

}  // namespace

std::string_view phase_name(phase p) noexcept {
  return phase_table[static_cast<std::size_t>(p)].name;
}

std::string_view phase_summary(phase p) noexcept {
  return phase_table[static_cast<std::size_t>(p)].summary;
}

std::string_view phase_event_name(phase_event e) noexcept {
  return e == phase_event::begin ? "begin" : "end";
}

void add_phase_observer(phase_observer observer, void* context) {
  if (!detail::runtime_active()) {
    throw std::logic_error("lifecycle::add_phase_observer: the runtime is not initialized");
  }
  if (observer_count == max_phase_observers) {
    throw std::length_error(
        fmt::format("lifecycle::add_phase_observer: at most {} observers", max_phase_observers));
  }
  observers[observer_count++] = {observer, context};
}

bool remove_phase_observer(phase_observer observer, void* context) noexcept {
  for (std::size_t i = 0; i < observer_count; ++i) {
    if (observers[i].observer == observer && observers[i].context == context) {
      for (std::size_t j = i + 1; j < observer_count; ++j) observers[j - 1] = observers[j];
      --observer_count;
      return true;
    }
  }
  return false;
}

namespace detail {

void install_environment_observers() {
  if (detail::env_flag("LIFECYCLE_TRACE")) add_phase_observer(trace_observer, nullptr);
  if (const char* socket = std::getenv("AFTERLIFE_SOCKET"); socket != nullptr && socket[0] != 0) {
    add_phase_observer(socket_observer, nullptr);
  }
}

void forget_phase_observers() noexcept { observer_count = 0; }

void emit_phase(phase p, phase_event e) noexcept {
  for (std::size_t i = 0; i < observer_count; ++i)
    observers[i].observer(observers[i].context, p, e);
}

}  // namespace detail

}  // namespace lifecycle

// The collector's entry points for the runtime's finalization (runtime/runtime.cpp) and for
// tests: internal to lifecycle, not installed (embedders finalize through runtime.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace lifecycle::gc {

namespace detail {
// _PyGC_CollectNoFail: a full collection without gc callbacks, for shutdown. Returns 0 when a
// collection is already running.
std::size_t collect_no_fail() noexcept;

// Forget every piece of gc state so the runtime can be initialised again in this process:
// objects still tracked are untracked (left alive: they are leaks the caller may report),
// weakrefs to survivors are detached without callbacks, gc.garbage and the callbacks are
// released, thresholds/debug/counts/stats/enabled return to their defaults. Returns the number
// of objects that were still tracked. Must not run during a collection.
std::size_t reset_state() noexcept;

// _PyGC_DumpShutdownStats: what CPython says about a non-empty gc.garbage at shutdown (unless
// DEBUG_SAVEALL is set). `warning` is the ResourceWarning's text ("gc: 2 uncollectable objects at
// shutdown; use gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them", without the advice when
// DEBUG_UNCOLLECTABLE is set); `listing` is then "      " + repr(gc.garbage), else empty.
// Whether the warning is shown is the warnings filters' business (ResourceWarning is ignored by
// default). Empty optional: nothing to say.
struct shutdown_garbage_report {
  std::string warning;
  std::string listing;
};
std::optional<shutdown_garbage_report> shutdown_garbage_report_text();
}  // namespace detail

}  // namespace lifecycle::gc

// module_teardown_order: what finalize_modules does to module globals, observable per exit
// mode. Three modules are built before checkpoint `ready`:
//   kept     — held by sys as well as sys.modules: survives until its globals are cleared,
//              `_a` first, then b, __c, d (insertion order b, __c, _a, d); each value's
//              finalizer prints whether the global `b` is already None
//   dropped  — only in sys.modules: dies when its entry is set to None (y, then _x)
//   __main__ — holds a self-cycle with a finalizer: collected right after the modules go
// Expected stderr on every exit that runs the phases (normal, error, exception, SIGINT):
//   teardown del y b=set / del _x b=set / del cycle / del _a b=set / del b b=None /
//   del __c b=None / del d b=None
// and nothing of it when no phase runs (immediate, abort, SIGTERM, SIGKILL).
#include <unistd.h>

#include <string>

#include "module_teardown.hpp"
#include "scenario.hpp"

namespace {

void report(const std::string& text) {
  std::string line = "teardown " + text + "\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  module_teardown::build(&report);
  scenario::ready(opts);
  scenario::finish(opts);
}

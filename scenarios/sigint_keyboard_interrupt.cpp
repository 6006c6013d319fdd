// SIGINT as Python has it: the runtime's handler only notes the signal; the main thread,
// waiting at checkpoint `ready`, raises KeyboardInterrupt there; nothing catches it, so the
// traceback (with the frame the program opened) is printed, every phase runs (the atexit
// callback too) and the process then kills itself with SIGINT, so its parent sees the real
// cause (status "killed by SIGINT", 130 in a shell). For the other modes the same program
// shows the natural contrasts: normal/error/exception run the callback too; _exit, abort,
// SIGTERM's default action and SIGKILL run nothing.
//   Traceback (most recent call last):
//     File ".../sigint_keyboard_interrupt.cpp", line N, in wait_for_ctrl_c
//   KeyboardInterrupt
//   atexit: goodbye (is_finalizing=false)
#include <fmt/format.h>

#include "lifecycle/atexit.hpp"
#include "lifecycle/frames.hpp"
#include "lifecycle/runtime.hpp"
#include "runtime_scenario.hpp"

namespace {

void goodbye() {
  runtime_scenario::say(
      fmt::format("atexit: goodbye (is_finalizing={})", lifecycle::is_finalizing()));
}

// The program's "while True: time.sleep(1)": where Ctrl-C finds it.
[[noreturn]] void wait_for_ctrl_c(const scenario::options& opts) {
  lifecycle::scoped_frame frame("wait_for_ctrl_c");  // its line: catalog
  scenario::ready(opts);
  scenario::finish(opts);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  lifecycle::atexit::register_callback("goodbye", &goodbye);
  wait_for_ctrl_c(opts);
}

// A user's program on the lifecycle runtime: an atexit callback prints when the runtime
// finalizes. Returning from main finalizes (every phase, the callback runs); killed at its
// checkpoint, nothing runs.
#include <afterlife/control_client.h>

#include <cstdio>

#include "lifecycle/atexit.hpp"
#include "lifecycle/runtime.hpp"

namespace {
void say_goodbye() { std::puts("lifecycle_user: atexit callback ran"); }
}  // namespace

int main() {
  lifecycle::initialize();
  lifecycle::atexit::register_callback("say_goodbye", say_goodbye);
  afterlife_checkpoint("ready");
  return 0;
}

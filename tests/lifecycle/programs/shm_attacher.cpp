// shm_attacher OTHERS_NAME OWN_NAME normal|immediate: attaches to a segment somebody else
// created and writes 'A' into its first byte; creates a tracked segment of its own so that a
// resource tracker runs for this process too; then exits as asked. The tracker must unlink
// OWN_NAME and never OTHERS_NAME (CPython before 3.13 unlinked both: gh-82300).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "lifecycle/resource_tracker.hpp"
#include "lifecycle/resources.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: shm_attacher OTHERS_NAME OWN_NAME normal|immediate\n");
    return 2;
  }
  lifecycle::shared_memory others(lifecycle::attach, argv[1]);
  others.data()[0] = std::byte{'A'};
  lifecycle::shared_memory own(lifecycle::create, argv[2], 4096, /*track=*/true);
  std::printf("tracker=%d\n", static_cast<int>(lifecycle::resource_tracker::pid()));
  std::fflush(stdout);
  if (std::string(argv[3]) == "immediate") _exit(0);
  others.close();
  own.close();
  return 0;
}

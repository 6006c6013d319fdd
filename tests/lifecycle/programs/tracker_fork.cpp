// tracker_fork NAME_A NAME_B: the parent registers A, a fork()ed child registers B through the
// same inherited tracker and exits at once (_exit). B must survive the child (the parent still
// holds the pipe) and both must be unlinked once the parent is gone too.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <system_error>

#include "lifecycle/resource_tracker.hpp"
#include "lifecycle/resources.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tracker_fork NAME_A NAME_B\n");
    return 2;
  }
  lifecycle::shared_memory a(lifecycle::create, argv[1], 4096, /*track=*/true);
  std::printf("parent_tracker=%d\n", static_cast<int>(lifecycle::resource_tracker::pid()));
  std::fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    auto* b = new lifecycle::shared_memory(lifecycle::create, argv[2], 4096, /*track=*/true);
    (void)b;
    std::printf("child_tracker=%d\n", static_cast<int>(lifecycle::resource_tracker::pid()));
    std::fflush(stdout);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  // The child is gone but this process still holds the tracker's pipe: B must still be there.
  bool b_exists = true;
  try {
    lifecycle::shared_memory b(lifecycle::attach, argv[2]);
    b.close();
  } catch (const std::system_error&) {
    b_exists = false;
  }
  std::printf("b_after_child=%d\n", b_exists ? 1 : 0);
  std::fflush(stdout);
  _exit(0);
}

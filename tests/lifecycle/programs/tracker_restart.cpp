// tracker_restart NAME_A NAME_B [--in-child]: registers segment A, kills the resource tracker
// with SIGKILL, then registers segment B and leaves with _exit (no cleanup of its own). The
// tracker must be restarted with a warning, A must be replayed into it, and both must be
// unlinked by it once this process is gone.
//
// Without --in-child the death is noticed by waitpid (this process started the tracker). With
// --in-child a fork()ed child kills the inherited tracker and registers B, noticing the death
// as EPIPE; the parent then notices it too (waitpid) and replays A into a tracker of its own.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "lifecycle/resource_tracker.hpp"
#include "lifecycle/resources.hpp"

namespace {

void kill_tracker_and_wait() {
  pid_t tracker = lifecycle::resource_tracker::pid();
  std::printf("killed=%d\n", static_cast<int>(tracker));
  std::fflush(stdout);
  kill(tracker, SIGKILL);
  // Dead means its pipe's read end is closed; a zombie closes its fds. Give the kernel a moment.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

void register_b(const char* name) {
  // Created and deliberately left open: only the tracker may remove it.
  auto* segment = new lifecycle::shared_memory(lifecycle::create, name, 4096, /*track=*/true);
  (void)segment;
  std::printf("restarted=%d\n", static_cast<int>(lifecycle::resource_tracker::pid()));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tracker_restart NAME_A NAME_B [--in-child]\n");
    return 2;
  }
  bool in_child = argc > 3 && std::string(argv[3]) == "--in-child";
  lifecycle::shared_memory a(lifecycle::create, argv[1], 4096, /*track=*/true);
  if (!in_child) {
    kill_tracker_and_wait();
    register_b(argv[2]);
    _exit(0);
  }
  pid_t child = fork();
  if (child == 0) {
    kill_tracker_and_wait();
    register_b(argv[2]);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  lifecycle::resource_tracker::ensure_running();
  std::printf("parent_restarted=%d\n", static_cast<int>(lifecycle::resource_tracker::pid()));
  std::fflush(stdout);
  _exit(0);
}

// Child death: a worker creates a POSIX shared memory segment and unlinks it when its job is
// done. If the worker is killed first, the segment stays; the parent goes on and exits
// normally, and nothing in the parent knows the name to unlink. The worker, not the parent,
// reaches checkpoint `ready`, so afterlife's child-death mode kills exactly the worker.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "scenario.hpp"

namespace {

[[noreturn]] void work(const scenario::options& opts) {
  std::string name = "/worker_killed." + std::to_string(getpid());
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 || ftruncate(fd, 65536) != 0) _exit(3);
  close(fd);
  // Only the checkpoint: the worker's own way out is always a normal one.
  scenario::options worker_opts = opts;
  worker_opts.exit = scenario::exit_mode::normal;
  scenario::ready(worker_opts);
  shm_unlink(name.c_str());
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  pid_t worker = fork();
  if (worker < 0) return 3;
  if (worker == 0) work(opts);
  int status = 0;
  waitpid(worker, &status, 0);
  if (WIFSIGNALED(status))
    std::printf("worker_killed: worker %d was killed by signal %d\n", static_cast<int>(worker), WTERMSIG(status));
  else
    std::printf("worker_killed: worker %d exited %d\n", static_cast<int>(worker), WEXITSTATUS(status));
  std::fflush(stdout);
  scenario::finish(opts);
}

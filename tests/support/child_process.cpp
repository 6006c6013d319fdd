#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "cloexec_pipe.hpp"

extern char** environ;

namespace afterlife_test {

bool child_result::exited() const { return !timed_out && WIFEXITED(wait_status); }
int child_result::exit_code() const { return exited() ? WEXITSTATUS(wait_status) : -1; }
bool child_result::signaled() const { return WIFSIGNALED(wait_status); }
int child_result::term_signal() const { return signaled() ? WTERMSIG(wait_status) : 0; }

namespace {

using afterlife::detail::make_cloexec_pipe;

std::vector<std::string> child_environment(const child_options& options) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& name : options.unset_env) env.erase(name);
  for (const auto& [name, value] : options.set_env) env[name] = value;
  std::vector<std::string> out;
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

// Reads what is available now; returns false at EOF or error.
bool drain(int fd, std::string& into) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

}  // namespace

child_result run_child(const std::vector<std::string>& argv, const child_options& options) {
  auto in = make_cloexec_pipe();
  auto out = make_cloexec_pipe();
  auto err = make_cloexec_pipe();
  auto env_strings = child_environment(options);
  std::vector<char*> env_ptrs;
  for (auto& s : env_strings) env_ptrs.push_back(s.data());
  env_ptrs.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> arg_ptrs;
  for (auto& s : args) arg_ptrs.push_back(s.data());
  arg_ptrs.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    dup2(in.read_end, 0);
    dup2(out.write_end, 1);
    dup2(err.write_end, 2);
    environ = env_ptrs.data();
    execvp(arg_ptrs[0], arg_ptrs.data());
    _exit(127);
  }
  close(in.read_end);
  close(out.write_end);
  close(err.write_end);
  fcntl(out.read_end, F_SETFL, O_NONBLOCK);
  fcntl(err.read_end, F_SETFL, O_NONBLOCK);

  // Feed stdin, then close it so the child sees EOF. Ignore EPIPE from a child that exits first.
  auto old_pipe = signal(SIGPIPE, SIG_IGN);
  for (size_t done = 0; done < options.stdin_text.size();) {
    ssize_t n = write(in.write_end, options.stdin_text.data() + done, options.stdin_text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(in.write_end);
  signal(SIGPIPE, old_pipe);

  child_result result;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool out_open = true, err_open = true;
  for (;;) {
    int status = 0;
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      result.wait_status = status;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.wait_status = status;
      result.timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_open ? out.read_end : -1, POLLIN, 0}, {err_open ? err.read_end : -1, POLLIN, 0}};
    poll(fds, 2, 10);
    if (out_open) out_open = drain(out.read_end, result.out);
    if (err_open) err_open = drain(err.read_end, result.err);
  }
  // The child is gone: take what is already in the pipes, never wait for descendants' EOF.
  if (out_open) drain(out.read_end, result.out);
  if (err_open) drain(err.read_end, result.err);
  close(out.read_end);
  close(err.read_end);
  return result;
}

}  // namespace afterlife_test

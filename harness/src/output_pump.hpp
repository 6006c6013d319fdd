// The program's stdout and stderr: read as they arrive (so a flood never blocks the program),
// copied through to the user, kept (first MiB) for `output~REGEX`, and cut into lines for the
// `line:REGEX` trigger.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace afterlife::detail {

class output_stream {
 public:
  // read_fd: our end of the pipe (made non-blocking); copy_to: where to copy, -1 for nowhere.
  output_stream(int read_fd, int copy_to);
  ~output_stream();
  output_stream(const output_stream&) = delete;
  output_stream& operator=(const output_stream&) = delete;

  int fd() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  // Reads what is available; calls on_line for each complete line (and for the unfinished
  // tail at EOF). Closes at EOF.
  void pump(const std::function<void(std::string_view)>& on_line);
  void close_now() noexcept;
  const std::string& captured() const { return captured_; }

 private:
  int fd_ = -1;
  int copy_to_ = -1;
  std::string captured_;
  std::string partial_;
};

}  // namespace afterlife::detail

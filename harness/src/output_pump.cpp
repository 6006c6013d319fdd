#include "output_pump.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace afterlife::detail {

namespace {

constexpr std::size_t capture_max = 1 << 20;
// A line longer than this is matched in pieces: a flood without newlines must not grow memory.
constexpr std::size_t partial_max = 1 << 16;

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the user's terminal or pipe is gone: keep reading, stop copying
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

output_stream::output_stream(int read_fd, int copy_to) : fd_(read_fd), copy_to_(copy_to) {
  int flags = fcntl(fd_, F_GETFL);
  if (flags >= 0) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

output_stream::~output_stream() { close_now(); }

void output_stream::close_now() noexcept {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void output_stream::pump(const std::function<void(std::string_view)>& on_line) {
  char buf[65536];
  // Bounded per call so that a flooding program cannot starve the control socket.
  for (int round = 0; round < 16 && fd_ >= 0; ++round) {
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      if (!partial_.empty()) on_line(partial_);
      partial_.clear();
      close_now();
      break;
    }
    std::string_view chunk(buf, static_cast<std::size_t>(n));
    if (copy_to_ >= 0) write_all(copy_to_, chunk.data(), chunk.size());
    if (captured_.size() < capture_max)
      captured_.append(chunk.substr(0, capture_max - captured_.size()));
    partial_.append(chunk);
    std::size_t start = 0;
    for (auto newline = partial_.find('\n'); newline != std::string::npos;
         newline = partial_.find('\n', start)) {
      on_line(std::string_view(partial_).substr(start, newline - start));
      start = newline + 1;
    }
    partial_.erase(0, start);
    if (partial_.size() > partial_max) {
      on_line(partial_);
      partial_.clear();
    }
  }
}

}  // namespace afterlife::detail

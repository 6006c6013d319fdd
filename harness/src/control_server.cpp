#include "control_server.hpp"

#include "spawn/spawn.hpp"

#include <afterlife/protocol.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace afterlife::detail {

namespace {

constexpr std::size_t message_max = protocol::message_max;  // with its newline
// Connections beyond this are refused at once: a fork bomb of senders must not exhaust fds.
constexpr std::size_t connection_max = 256;

std::string_view next_word(std::string_view& rest) {
  auto space = rest.find(' ');
  std::string_view word = rest.substr(0, space);
  rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  return word;
}

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

control_message parse_control_line(std::string_view line) {
  control_message message;
  std::string_view rest = line;
  std::string_view pid_text = next_word(rest);
  auto [end, ec] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(),
                                   message.pid);
  if (pid_text.empty() || ec != std::errc{} || end != pid_text.data() + pid_text.size() ||
      message.pid <= 0)
    throw std::invalid_argument("no sender pid");
  message.verb = std::string(next_word(rest));
  if (message.verb == "checkpoint") {
    if (rest.empty()) throw std::invalid_argument("checkpoint without a name");
    message.name = std::string(rest);
  } else if (message.verb == "phase") {
    auto space = rest.rfind(' ');
    if (space == std::string_view::npos || space == 0)
      throw std::invalid_argument("phase needs NAME begin|end");
    std::string_view edge = rest.substr(space + 1);
    if (edge != "begin" && edge != "end") throw std::invalid_argument("phase needs begin|end");
    message.begin = edge == "begin";
    message.name = std::string(rest.substr(0, space));
  } else if (message.verb == "register" || message.verb == "unregister") {
    message.kind = std::string(next_word(rest));
    if (!protocol::is_kind(message.kind))
      throw std::invalid_argument("unknown kind '" + message.kind + "'");
    if (rest.empty()) throw std::invalid_argument(message.verb + " without a name");
    message.name = std::string(rest);
  } else {
    throw std::invalid_argument("unknown verb '" + message.verb + "'");
  }
  return message;
}

control_server::control_server(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof addr.sun_path)
    throw std::system_error(ENAMETOOLONG, std::generic_category(), "socket path " + path.string());
  std::memcpy(addr.sun_path, path.c_str(), path.native().size() + 1);
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  fcntl(listen_fd_, F_SETFD, FD_CLOEXEC);
  set_nonblocking(listen_fd_);
  if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 128) != 0) {
    int saved = errno;
    close(listen_fd_);
    throw std::system_error(saved, std::generic_category(), "listen on " + path.string());
  }
}

control_server::~control_server() {
  close_all();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void control_server::add_poll_fds(std::vector<pollfd>& fds) const {
  fds.push_back({listen_fd_, POLLIN, 0});
  for (const auto& [fd, text] : pending_) fds.push_back({fd, POLLIN, 0});
}

std::vector<control_message> control_server::handle(const std::vector<pollfd>& fds) {
  std::vector<control_message> messages;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == listen_fd_) {
      accept_new();
    } else if (pending_.count(p.fd) != 0) {
      if (read_from(p.fd, messages)) pending_.erase(p.fd);
    }
  }
  return messages;
}

void control_server::accept_new() {
  for (;;) {
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: no more; anything else: the next poll tries again
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    set_nonblocking(fd);
    no_sigpipe(fd);
    if (pending_.size() + waiting_.size() >= connection_max) {
      reject(fd, "too many connections");
      continue;
    }
    pending_.emplace(fd, std::string{});
  }
}

bool control_server::read_from(int connection, std::vector<control_message>& out) {
  std::string& text = pending_[connection];
  char buf[message_max + 1];
  for (;;) {
    ssize_t n = recv(connection, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {  // EOF or error before a whole line
      if (!text.empty()) ++malformed_;
      close(connection);
      return true;
    }
    text.append(buf, static_cast<std::size_t>(n));
    if (text.find('\n') != std::string::npos || text.size() > message_max) break;
  }
  static const std::string too_long = fmt::format("message longer than {} bytes", message_max);
  auto newline = text.find('\n');
  if (newline == std::string::npos) {
    if (text.size() < message_max) return false;  // wait for the rest
    reject(connection, too_long);
    return true;
  }
  if (newline + 1 > message_max) {
    reject(connection, too_long);
    return true;
  }
  try {
    control_message message = parse_control_line(std::string_view(text).substr(0, newline));
    message.connection = connection;
    waiting_.push_back(connection);
    out.push_back(std::move(message));
  } catch (const std::invalid_argument& e) {
    reject(connection, e.what());
  }
  return true;
}

void control_server::reject(int connection, std::string_view why) noexcept {
  ++malformed_;
  std::string line = "error " + std::string(why) + "\n";
  (void)send(connection, line.data(), line.size(), no_sigpipe_flags());
  close(connection);
}

void control_server::answer(int connection, std::string_view line) noexcept {
  auto it = std::find(waiting_.begin(), waiting_.end(), connection);
  if (it == waiting_.end()) return;
  waiting_.erase(it);
  std::string text = std::string(line) + "\n";
  (void)send(connection, text.data(), text.size(), no_sigpipe_flags());
  close(connection);
}

void control_server::close_all() noexcept {
  for (const auto& [fd, text] : pending_) close(fd);
  pending_.clear();
  for (int fd : waiting_) close(fd);
  waiting_.clear();
}

}  // namespace afterlife::detail

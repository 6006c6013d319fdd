#include "control_server.hpp"

#include "claims.hpp"
#include "probes/probes.hpp"
#include "spawn/spawn.hpp"

#include <afterlife/protocol.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/core.h>

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
constexpr std::size_t record_message_max = protocol::record_message_max;
// Connections beyond this are refused at once: a fork bomb of senders must not exhaust fds.
// When the table is full, the longest-idle connection that has sent nothing whole is closed
// to make room, so idle connections cannot lock a checkpoint out.
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

// The verb of a line (after an optional pid prefix), to apply the right length limit.
std::string_view verb_of(std::string_view line) {
  std::string_view first = next_word(line);
  if (!first.empty() && std::all_of(first.begin(), first.end(),
                                    [](char c) { return c >= '0' && c <= '9'; }))
    return next_word(line);
  return first;
}

}  // namespace

control_message parse_control_line(std::string_view line, int& claimed_pid) {
  control_message message;
  std::string_view rest = line;
  claimed_pid = 0;
  // An optional pid prefix (the protocol's first form; older clients still send it).
  std::string_view first = rest.substr(0, rest.find(' '));
  if (!first.empty() && first.front() >= '0' && first.front() <= '9') {
    next_word(rest);
    auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), claimed_pid);
    if (ec != std::errc{} || end != first.data() + first.size() || claimed_pid <= 0)
      throw std::invalid_argument("bad sender pid");
  }
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
  } else if (message.verb == "register" || message.verb == "unregister" ||
             message.verb == "intent") {
    message.kind = std::string(next_word(rest));
    if (!protocol::is_kind(message.kind))
      throw std::invalid_argument("unknown kind '" + message.kind + "'");
    if (rest.empty()) throw std::invalid_argument(message.verb + " without a name");
    message.name = std::string(rest);
  } else if (message.verb == "record") {
    auto record = parse_record(rest);
    if (!record) throw std::invalid_argument("record needs KIND\\tINODE\\tSITE\\tNAME");
    if (!protocol::is_kind(record->kind)) throw std::invalid_argument("unknown kind '" + record->kind + "'");
    message.kind = std::move(record->kind);
    message.name = std::move(record->name);
    message.inode = record->inode;
    message.site = std::move(record->site);
    message.callers = std::move(record->callers);
  } else {
    throw std::invalid_argument("unknown verb '" + message.verb + "'");
  }
  return message;
}

control_server::control_server(const std::filesystem::path& path, unsigned mode) {
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
      chmod(path.c_str(), mode) != 0 || listen(listen_fd_, 128) != 0) {
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
  for (const auto& [fd, state] : pending_) fds.push_back({fd, POLLIN, 0});
}

std::vector<control_message> control_server::handle(const std::vector<pollfd>& fds) {
  std::vector<control_message> messages;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == listen_fd_) {
      accept_new(messages);
    } else if (auto it = pending_.find(p.fd); it != pending_.end()) {
      if (read_from(p.fd, it->second, messages)) pending_.erase(it);
    }
  }
  return messages;
}

bool control_server::make_room() noexcept {
  if (pending_.empty()) return false;  // every slot holds a message being answered
  auto idlest = std::min_element(pending_.begin(), pending_.end(), [](const auto& a, const auto& b) {
    return a.second.accepted < b.second.accepted;
  });
  std::string line = "error closed: idle while the harness had no room\n";
  (void)send(idlest->first, line.data(), line.size(), no_sigpipe_flags());
  close(idlest->first);
  pending_.erase(idlest);
  ++evicted_;
  return true;
}

void control_server::accept_new(std::vector<control_message>& out) {
  for (;;) {
    int fd = accept_connection(listen_fd_);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: no more; anything else: the next poll tries again
    }
    no_sigpipe(fd);
    if (pending_.size() + waiting_.size() >= connection_max && !make_room()) {
      reject(fd, "too many connections");
      continue;
    }
    connection_state state;
    auto peer = probes::peer_of(fd);
    if (!peer) {
      reject(fd, "the kernel does not name the sender");
      continue;
    }
    state.pid = peer->pid;
    state.uid = peer->uid;
    state.accepted = std::chrono::steady_clock::now();
    auto [it, inserted] = pending_.emplace(fd, std::move(state));
    // A sender writes its line right after connecting: read it now rather than after one more
    // poll (an interposer's creating call waits for the answer).
    if (read_from(fd, it->second, out)) pending_.erase(it);
  }
}

bool control_server::read_from(int connection, connection_state& state,
                               std::vector<control_message>& out) {
  std::string& text = state.text;
  char buf[4096];
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
    if (text.find('\n') != std::string::npos || text.size() > record_message_max) break;
  }
  auto newline = text.find('\n');
  std::size_t limit = verb_of(text) == "record" ? record_message_max : message_max;
  if (newline == std::string::npos) {
    if (text.size() < limit) return false;  // wait for the rest
    reject(connection, fmt::format("message longer than {} bytes", limit));
    return true;
  }
  if (newline + 1 > limit) {
    reject(connection, fmt::format("message longer than {} bytes", limit));
    return true;
  }
  try {
    int claimed_pid = 0;
    control_message message =
        parse_control_line(std::string_view(text).substr(0, newline), claimed_pid);
    if (claimed_pid != 0 && claimed_pid != state.pid) {
      reject(connection,
             fmt::format("pid {} is not the sender's (the kernel says {})", claimed_pid, state.pid));
      return true;
    }
    message.connection = connection;
    message.pid = state.pid;
    message.uid = state.uid;
    waiting_.push_back(connection);
    out.push_back(std::move(message));
    connection_state kept{std::string(text.substr(newline + 1)), state.pid, state.uid, {}};
    held_[connection] = std::move(kept);
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

void control_server::refuse(int connection, std::string_view why) noexcept {
  auto it = std::find(waiting_.begin(), waiting_.end(), connection);
  if (it == waiting_.end()) return;
  waiting_.erase(it);
  held_.erase(connection);
  reject(connection, why);
}

void control_server::answer(int connection, std::string_view line) noexcept {
  auto it = std::find(waiting_.begin(), waiting_.end(), connection);
  if (it == waiting_.end()) return;
  waiting_.erase(it);
  std::string text = std::string(line) + "\n";
  (void)send(connection, text.data(), text.size(), no_sigpipe_flags());
  // The sender may send its next message on the same connection (the interposer keeps one per
  // process); it is closed when the sender closes it, or to make room.
  auto held = held_.find(connection);
  if (held == held_.end()) {
    close(connection);
    return;
  }
  try {
    held->second.accepted = std::chrono::steady_clock::now();
    pending_.emplace(connection, std::move(held->second));
  } catch (...) {
    close(connection);
  }
  held_.erase(held);
}

void control_server::close_all() noexcept {
  for (const auto& [fd, state] : pending_) close(fd);
  pending_.clear();
  for (int fd : waiting_) close(fd);
  waiting_.clear();
  held_.clear();
}

}  // namespace afterlife::detail

// The harness side of the control socket (protocol/README.md): a listening Unix
// stream socket, one connection per message, `PID VERB ARGS...\n` of at most AFTERLIFE_MESSAGE_MAX bytes (afterlife/protocol.h).
// Non-blocking and driven by the run's poll loop; malformed or oversized messages are
// answered `error WHY`, counted, and never stop the run.
#pragma once

#include <poll.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace afterlife::detail {

struct control_message {
  int connection = -1;  // answer() on it, once
  int pid = 0;
  std::string verb;     // checkpoint | phase | register | unregister
  std::string name;     // checkpoint / phase name, or the object's name for (un)register
  std::string kind;     // object kind for (un)register
  bool begin = false;   // phase begin (else end)
};

class control_server {
 public:
  // Binds and listens at path. Throws std::system_error.
  explicit control_server(const std::filesystem::path& path);
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  // Appends the descriptors to watch; handle() takes the same vector back after poll().
  void add_poll_fds(std::vector<pollfd>& fds) const;
  // Accepts, reads, parses. Returns complete well-formed messages; answers malformed ones.
  std::vector<control_message> handle(const std::vector<pollfd>& fds);
  // Sends the answer line (without newline) and closes the connection.
  void answer(int connection, std::string_view line) noexcept;
  // Closes every connection still open (held checkpoints included). noexcept: exit path.
  void close_all() noexcept;

  int malformed() const { return malformed_; }

 private:
  void accept_new();
  // Returns true when the connection is finished with (answered or closed).
  bool read_from(int connection, std::vector<control_message>& out);
  void reject(int connection, std::string_view why) noexcept;

  int listen_fd_ = -1;
  std::map<int, std::string> pending_;  // open connections and what they sent so far
  std::vector<int> waiting_;            // connections whose message was handed out
  int malformed_ = 0;
};

// Parses one line (without newline); throws std::invalid_argument with the reason.
control_message parse_control_line(std::string_view line);

}  // namespace afterlife::detail

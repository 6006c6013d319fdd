// The harness side of the control socket (protocol/README.md): a listening Unix stream socket,
// one message at a time per connection (the control client connects per message; the
// interposer keeps one connection per process), `[PID] VERB ARGS...\n` of at most
// AFTERLIFE_MESSAGE_MAX bytes (afterlife/protocol.h; the interposer's `record` lines: at most
// protocol::record_message_max). The sender's pid and uid are the kernel's (probes::peer_of: SO_PEERCRED,
// LOCAL_PEERPID + getpeereid); a pid prefix is optional and refused when it is not the
// sender's. Non-blocking and driven by the run's poll loop; malformed or oversized messages are
// answered `error WHY`, counted, and never stop the run.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace afterlife::detail {

struct control_message {
  int connection = -1;  // answer() on it, once
  int pid = 0;          // the sender, as the kernel says
  unsigned uid = 0;     // the sender's effective uid, as the kernel says
  std::string verb;     // checkpoint | phase | register | unregister | record | intent
  std::string name;     // checkpoint / phase name, or the object's name
  std::string kind;     // object kind for register, unregister, record, intent
  bool begin = false;   // phase begin (else end)
  std::uint64_t inode = 0;         // record: the inode the creator saw (0: none)
  std::string site;                // record: the call site
  std::vector<std::string> callers;  // record: the frames that called it, innermost first
};

class control_server {
 public:
  // Binds and listens at path; `mode` is the socket file's (0666 when processes of another uid
  // must reach it). Throws std::system_error.
  control_server(const std::filesystem::path& path, unsigned mode);
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  // Appends the descriptors to watch; handle() takes the same vector back after poll().
  void add_poll_fds(std::vector<pollfd>& fds) const;
  // Accepts, reads, parses. Returns complete well-formed messages; answers malformed ones.
  std::vector<control_message> handle(const std::vector<pollfd>& fds);
  // Sends the answer line (without newline) and closes the connection.
  void answer(int connection, std::string_view line) noexcept;
  // Answers `error WHY` and counts the message as malformed (e.g. a sender not of the run).
  void refuse(int connection, std::string_view why) noexcept;
  // Closes every connection still open (held checkpoints included). noexcept: exit path.
  void close_all() noexcept;

  int malformed() const { return malformed_; }
  // Connections closed because they had sent nothing whole while the table was full.
  int evicted() const { return evicted_; }

 private:
  struct connection_state {
    std::string text;
    int pid = 0;
    unsigned uid = 0;
    std::chrono::steady_clock::time_point accepted;
  };
  void accept_new(std::vector<control_message>& out);
  // Room for one more connection: closes the longest-idle one that sent nothing whole yet.
  bool make_room() noexcept;
  // Returns true when the connection is finished with (answered or closed).
  bool read_from(int connection, connection_state& state, std::vector<control_message>& out);
  void reject(int connection, std::string_view why) noexcept;

  int listen_fd_ = -1;
  std::map<int, connection_state> pending_;  // open connections and what they sent so far
  std::vector<int> waiting_;                 // connections whose message was handed out
  // Their state meanwhile: a connection answered goes back to pending_ for its next message.
  std::map<int, connection_state> held_;
  int malformed_ = 0;
  int evicted_ = 0;
};


// Parses one line (without newline); throws std::invalid_argument with the reason. The pid
// prefix, when there is one, is returned in `claimed_pid` (0 without one).
control_message parse_control_line(std::string_view line, int& claimed_pid);

}  // namespace afterlife::detail

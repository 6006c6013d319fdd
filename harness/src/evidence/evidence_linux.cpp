// Linux process evidence: /proc/PID/stat, comm, cmdline, exe, fd (stat() through each link for
// the device and inode), maps; sockets decoded by inode from the tables of the process's own
// network namespace (/proc/PID/net/{tcp,tcp6,udp,udp6,unix}).
#include "evidence/evidence.hpp"

#include "probes/probes.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <sstream>
#include <unordered_map>

namespace afterlife::evidence {

namespace {

using probes::detail::read_file;

std::string read_link(const std::string& path) {
  char target[4096];
  ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
  return n < 0 ? std::string{} : std::string(target, static_cast<std::size_t>(n));
}

std::uint64_t hex_u64(std::string_view text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return value;
}

std::uint64_t dec_u64(std::string_view text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::string state_word(char state) {
  switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "disk sleep";
    case 'Z': return "zombie";
    case 'T': return "stopped";
    case 't': return "tracing stop";
    case 'X': return "dead";
    case 'I': return "idle";
    case 'P': return "parked";
    default: return std::string(1, state);
  }
}

// tcp(7) states as /proc/net/tcp numbers them (include/net/tcp_states.h).
const char* tcp_state(std::uint64_t number) {
  static constexpr const char* names[] = {"?",          "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
                                          "FIN_WAIT1",  "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
                                          "CLOSE_WAIT", "LAST_ACK",    "LISTEN",    "CLOSING",
                                          "NEW_SYN_RECV"};
  return number < std::size(names) ? names[number] : "?";
}
constexpr std::uint64_t tcp_listen = 10;

// "0100007F:15C9" (IPv4) or 32 hex digits ":PORT" (IPv6): each 32-bit word as the kernel holds
// it in memory, printed as a host-order number.
std::string endpoint(std::string_view text, bool v6) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::string(text);
  std::string_view address = text.substr(0, colon);
  auto port = hex_u64(text.substr(colon + 1));
  char printed[INET6_ADDRSTRLEN] = "?";
  if (!v6 && address.size() == 8) {
    in_addr a{};
    a.s_addr = static_cast<std::uint32_t>(hex_u64(address));
    inet_ntop(AF_INET, &a, printed, sizeof printed);
    return fmt::format("{}:{}", printed, port);
  }
  if (v6 && address.size() == 32) {
    in6_addr a{};
    for (std::size_t word = 0; word < 4; ++word) {
      auto value = static_cast<std::uint32_t>(hex_u64(address.substr(word * 8, 8)));
      std::memcpy(a.s6_addr + word * 4, &value, 4);
    }
    inet_ntop(AF_INET6, &a, printed, sizeof printed);
    return fmt::format("[{}]:{}", printed, port);
  }
  return std::string(text);
}

bool zero_endpoint(std::string_view text) {
  return text.find_first_not_of("0:") == std::string_view::npos;
}

struct decoded_socket {
  std::string text;
  bool listening_port = false;
};

using socket_table = std::unordered_map<std::uint64_t, decoded_socket>;

// /proc/net/tcp, udp (and the v6 files): sl local_address rem_address st tx:rx tr:when retrnsmt
// uid timeout inode ...
void read_inet(const std::string& file, bool udp, bool v6, socket_table& into) {
  std::istringstream lines(read_file(file));
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    if (!(in >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode))
      continue;
    decoded_socket s;
    auto state_number = hex_u64(state);
    std::string protocol = udp ? "udp" : "tcp";
    if (udp) {
      bool connected = !zero_endpoint(remote);
      s.text = connected ? fmt::format("{} {} -> {}", protocol, endpoint(local, v6), endpoint(remote, v6))
                         : fmt::format("{} {}", protocol, endpoint(local, v6));
      s.listening_port = !connected;
    } else if (state_number == tcp_listen) {
      s.text = fmt::format("{} {} LISTEN", protocol, endpoint(local, v6));
      s.listening_port = true;
    } else {
      s.text = fmt::format("{} {} -> {} {}", protocol, endpoint(local, v6), endpoint(remote, v6),
                           tcp_state(state_number));
    }
    into[dec_u64(inode)] = std::move(s);
  }
}

// /proc/net/unix: Num RefCount Protocol Flags Type St Inode [Path]; Flags 00010000 is
// __SO_ACCEPTCON (listening); an abstract name starts with '@'.
void read_unix(const std::string& file, socket_table& into) {
  constexpr std::uint64_t accepting = 0x10000;
  std::istringstream lines(read_file(file));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string num, refs, protocol, flags, type, st, inode;
    if (!(in >> num >> refs >> protocol >> flags >> type >> st >> inode)) continue;
    std::string path;
    std::getline(in >> std::ws, path);
    decoded_socket s;
    s.text = path.empty() ? "unix" : "unix " + path;
    if ((hex_u64(flags) & accepting) != 0) s.text += " (listening)";
    into[dec_u64(inode)] = std::move(s);
  }
}

file_id stat_id(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

}  // namespace

struct reader::socket_tables {
  // By network namespace (the inode of /proc/PID/ns/net): read at the first socket met there.
  std::map<std::uint64_t, socket_table> by_namespace;

  const socket_table& of(int pid) {
    auto ns = stat_id(fmt::format("/proc/{}/ns/net", pid)).inode;
    auto found = by_namespace.find(ns);
    if (found != by_namespace.end()) return found->second;
    socket_table& table = by_namespace[ns];
    std::string net = fmt::format("/proc/{}/net/", pid);
    read_inet(net + "tcp", false, false, table);
    read_inet(net + "tcp6", false, true, table);
    read_inet(net + "udp", true, false, table);
    read_inet(net + "udp6", true, true, table);
    read_unix(net + "unix", table);
    return table;
  }
};

reader::reader() : sockets_(std::make_unique<socket_tables>()) {}
reader::~reader() = default;

process_evidence reader::read(int pid) {
  process_evidence p;
  p.pid = pid;
  std::string proc = fmt::format("/proc/{}", pid);
  // stat: PID (COMM) STATE PPID ...; COMM may hold spaces and ')'.
  std::string stat = read_file(proc + "/stat");
  auto open_paren = stat.find('(');
  auto close_paren = stat.rfind(')');
  if (open_paren == std::string::npos || close_paren == std::string::npos ||
      close_paren + 4 > stat.size()) {
    p.notes.push_back(fmt::format("pid {} is gone", pid));
    return p;
  }
  p.comm = stat.substr(open_paren + 1, close_paren - open_paren - 1);
  p.state = state_word(stat[close_paren + 2]);
  std::istringstream rest(stat.substr(close_paren + 3));
  int ppid = 0;
  rest >> ppid;
  p.ppid = ppid;
  struct stat dir {};
  if (::stat(proc.c_str(), &dir) == 0) p.uid = dir.st_uid;  // /proc/PID is the euid's
  p.exe = read_link(proc + "/exe");
  p.command = probes::command_of(pid);

  std::string fd_dir = proc + "/fd";
  if (DIR* fds = opendir(fd_dir.c_str())) {
    while (const dirent* entry = readdir(fds)) {
      if (entry->d_name[0] == '.') continue;
      std::string link = fd_dir + "/" + entry->d_name;
      held_fd fd;
      fd.fd = static_cast<int>(dec_u64(entry->d_name));
      fd.target = read_link(link);
      if (fd.target.empty()) continue;  // closed meanwhile
      fd.id = stat_id(link);
      fd.file_backed = fd.target.starts_with('/');
      if (fd.target.starts_with("socket:[")) {
        fd.socket = true;
        const auto& table = sockets_->of(pid);
        auto found = table.find(fd.id.inode);
        if (found != table.end()) {
          fd.target = found->second.text;
          fd.listening_port = found->second.listening_port;
        }
      }
      p.fds.push_back(std::move(fd));
    }
    closedir(fds);
    std::sort(p.fds.begin(), p.fds.end(),
              [](const held_fd& a, const held_fd& b) { return a.fd < b.fd; });
  } else if (p.state != "zombie") {
    p.notes.push_back(fmt::format("fds of pid {}: {}", pid, std::strerror(errno)));
  }

  // START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]; PERMS[3] is 's' (shared) or 'p'.
  std::istringstream maps(read_file(proc + "/maps"));
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode;
    if (!(fields >> range >> perms >> offset >> device >> inode)) continue;
    std::string path;
    std::getline(fields >> std::ws, path);
    // Anonymous, [heap], [stack], [vdso]...: not a file.
    if (path.empty() || path.starts_with('[') || dec_u64(inode) == 0) continue;
    auto dash = range.find('-');
    auto colon = device.find(':');
    if (dash == std::string::npos || colon == std::string::npos) continue;
    std::uint64_t size = hex_u64(std::string_view(range).substr(dash + 1)) -
                         hex_u64(std::string_view(range).substr(0, dash));
    bool shared = perms.size() > 3 && perms[3] == 's';
    file_id id{static_cast<std::uint64_t>(
                   makedev(static_cast<unsigned>(hex_u64(std::string_view(device).substr(0, colon))),
                           static_cast<unsigned>(hex_u64(std::string_view(device).substr(colon + 1))))),
               dec_u64(inode)};
    auto same = std::find_if(p.maps.begin(), p.maps.end(),
                             [&](const held_map& m) { return m.path == path && m.id == id; });
    if (same != p.maps.end()) {
      same->size += size;
      same->shared = same->shared || shared;
    } else {
      p.maps.push_back({path, size, shared, id});
    }
  }
  return p;
}

}  // namespace afterlife::evidence

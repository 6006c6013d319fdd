// macOS process evidence (compiled on macOS only; cross-compiled, never run here): libproc.
// proc_pidinfo(PROC_PIDTBSDINFO) for ppid, uid, state and name, proc_pidpath for the
// executable, PROC_PIDLISTFDS and proc_pidfdinfo for each descriptor (vnode path and identity,
// POSIX shm and semaphore names, sockets decoded from their socket_info), and
// PROC_PIDREGIONPATHINFO for the file-backed regions. There are no socket tables to read: each
// socket describes itself.
#include "evidence/evidence.hpp"

#include "probes/probes.hpp"

#include <arpa/inet.h>
#include <libproc.h>
#include <mach/vm_region.h>
#include <netinet/in.h>
#include <sys/proc.h>
#include <sys/proc_info.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace afterlife::evidence {

namespace {

file_id id_of(const vinfo_stat& st) {
  return {static_cast<std::uint64_t>(st.vst_dev), static_cast<std::uint64_t>(st.vst_ino)};
}

std::string state_word(std::uint32_t status) {
  switch (status) {
    case SIDL: return "starting";
    case SRUN: return "running";
    case SSLEEP: return "sleeping";
    case SSTOP: return "stopped";
    case SZOMB: return "zombie";
    default: return fmt::format("{}", status);
  }
}

const char* tcp_state(int state) {
  static constexpr const char* names[] = {"CLOSED",     "LISTEN",    "SYN_SENT",  "SYN_RECV",
                                          "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "CLOSING",
                                          "LAST_ACK",   "FIN_WAIT2", "TIME_WAIT"};
  return state >= 0 && state < static_cast<int>(std::size(names)) ? names[state] : "?";
}

std::string endpoint(const in_sockinfo& in, bool local) {
  char printed[INET6_ADDRSTRLEN] = "?";
  int port = ntohs(static_cast<std::uint16_t>(local ? in.insi_lport : in.insi_fport));
  if ((in.insi_vflag & INI_IPV4) != 0) {
    const in_addr& a = local ? in.insi_laddr.ina_46.i46a_addr4 : in.insi_faddr.ina_46.i46a_addr4;
    inet_ntop(AF_INET, &a, printed, sizeof printed);
    return fmt::format("{}:{}", printed, port);
  }
  const in6_addr& a = local ? in.insi_laddr.ina_6 : in.insi_faddr.ina_6;
  inet_ntop(AF_INET6, &a, printed, sizeof printed);
  return fmt::format("[{}]:{}", printed, port);
}

void decode_socket(int pid, const proc_fdinfo& fd, held_fd& out) {
  out.socket = true;
  out.target = "socket";
  socket_fdinfo info{};
  if (proc_pidfdinfo(pid, fd.proc_fd, PROC_PIDFDSOCKETINFO, &info, sizeof info) !=
      static_cast<int>(sizeof info))
    return;
  const socket_info& s = info.psi;
  out.id = id_of(s.soi_stat);
  switch (s.soi_kind) {
    case SOCKINFO_TCP: {
      const tcp_sockinfo& tcp = s.soi_proto.pri_tcp;
      if (tcp.tcpsi_state == TSI_S_LISTEN) {
        out.target = fmt::format("tcp {} LISTEN", endpoint(tcp.tcpsi_ini, true));
        out.listening_port = true;
      } else {
        out.target = fmt::format("tcp {} -> {} {}", endpoint(tcp.tcpsi_ini, true),
                                 endpoint(tcp.tcpsi_ini, false), tcp_state(tcp.tcpsi_state));
      }
      return;
    }
    case SOCKINFO_IN: {
      const in_sockinfo& in = s.soi_proto.pri_in;
      if (s.soi_protocol != IPPROTO_UDP) return;
      bool connected = in.insi_fport != 0;
      out.target = connected ? fmt::format("udp {} -> {}", endpoint(in, true), endpoint(in, false))
                             : fmt::format("udp {}", endpoint(in, true));
      out.listening_port = !connected;
      return;
    }
    case SOCKINFO_UN: {
      const sockaddr_un& address = s.soi_proto.pri_un.unsi_addr.ua_sun;
      std::string path(address.sun_path, strnlen(address.sun_path, sizeof address.sun_path));
      out.target = path.empty() ? "unix" : "unix " + path;
      if ((s.soi_options & SO_ACCEPTCONN) != 0) out.target += " (listening)";
      return;
    }
    default: return;
  }
}

held_fd describe(int pid, const proc_fdinfo& fd) {
  held_fd out;
  out.fd = fd.proc_fd;
  switch (fd.proc_fdtype) {
    case PROX_FDTYPE_VNODE: {
      vnode_fdinfowithpath info{};
      out.target = "vnode";
      if (proc_pidfdinfo(pid, fd.proc_fd, PROC_PIDFDVNODEPATHINFO, &info, sizeof info) ==
          static_cast<int>(sizeof info)) {
        out.target = info.pvip.vip_path;
        out.id = id_of(info.pvip.vip_vi.vi_stat);
        out.file_backed = out.target.starts_with('/');
      }
      break;
    }
    case PROX_FDTYPE_PSHM: {
      pshm_fdinfo info{};
      out.target = "posix_shm";
      if (proc_pidfdinfo(pid, fd.proc_fd, PROC_PIDFDPSHMINFO, &info, sizeof info) ==
          static_cast<int>(sizeof info)) {
        out.target = std::string("posix_shm:") + info.pshminfo.pshm_name;
        out.id = id_of(info.pshminfo.pshm_stat);
      }
      break;
    }
    case PROX_FDTYPE_PSEM: {
      psem_fdinfo info{};
      out.target = "posix_sem";
      if (proc_pidfdinfo(pid, fd.proc_fd, PROC_PIDFDPSEMINFO, &info, sizeof info) ==
          static_cast<int>(sizeof info)) {
        out.target = std::string("posix_sem:") + info.pseminfo.psem_name;
        out.id = id_of(info.pseminfo.psem_stat);
      }
      break;
    }
    case PROX_FDTYPE_SOCKET: decode_socket(pid, fd, out); break;
    case PROX_FDTYPE_PIPE: out.target = "pipe"; break;
    case PROX_FDTYPE_KQUEUE: out.target = "kqueue"; break;
    default: out.target = "other"; break;
  }
  return out;
}

}  // namespace

struct reader::socket_tables {};

reader::reader() : sockets_(std::make_unique<socket_tables>()) {}
reader::~reader() = default;

process_evidence reader::read(int pid) {
  process_evidence p;
  p.pid = pid;
  proc_bsdinfo info{};
  if (proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &info, PROC_PIDTBSDINFO_SIZE) !=
      PROC_PIDTBSDINFO_SIZE) {
    p.notes.push_back(fmt::format("pid {}: {}", pid, std::strerror(errno)));
    return p;
  }
  p.ppid = static_cast<int>(info.pbi_ppid);
  p.uid = info.pbi_uid;
  p.state = state_word(info.pbi_status);
  p.comm = std::string(info.pbi_comm, strnlen(info.pbi_comm, sizeof info.pbi_comm));
  char path[PROC_PIDPATHINFO_MAXSIZE];
  if (proc_pidpath(pid, path, sizeof path) > 0) p.exe = path;
  p.command = probes::command_of(pid);

  int bytes = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, nullptr, 0);
  if (bytes > 0) {
    std::vector<proc_fdinfo> fds(static_cast<std::size_t>(bytes) / sizeof(proc_fdinfo) + 16);
    bytes = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, fds.data(),
                         static_cast<int>(fds.size() * sizeof(proc_fdinfo)));
    for (int i = 0; i < bytes / static_cast<int>(sizeof(proc_fdinfo)); ++i)
      p.fds.push_back(describe(pid, fds[static_cast<std::size_t>(i)]));
  } else if (info.pbi_status != SZOMB) {
    p.notes.push_back(fmt::format("fds of pid {}: {}", pid, std::strerror(errno)));
  }
  // Regions one after another; PROC_PIDREGIONPATHINFO returns the region at or after address.
  std::uint64_t address = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    proc_regionwithpathinfo region{};
    int got = proc_pidinfo(pid, PROC_PIDREGIONPATHINFO, address, &region, sizeof region);
    if (got != static_cast<int>(sizeof region)) break;
    const auto& r = region.prp_prinfo;
    std::string file = region.prp_vip.vip_path;
    if (!file.empty()) {
      bool shared = r.pri_share_mode == SM_SHARED || r.pri_share_mode == SM_TRUESHARED ||
                    r.pri_share_mode == SM_SHARED_ALIASED;
      file_id id = id_of(region.prp_vip.vip_vi.vi_stat);
      auto same = std::find_if(p.maps.begin(), p.maps.end(),
                               [&](const held_map& m) { return m.path == file && m.id == id; });
      if (same != p.maps.end()) {
        same->size += r.pri_size;
        same->shared = same->shared || shared;
      } else {
        p.maps.push_back({file, r.pri_size, shared, id});
      }
    }
    address = r.pri_address + r.pri_size;
  }
  return p;
}

}  // namespace afterlife::evidence

// The macOS parts of the `afterlife run` test helpers: processes from libproc and the
// KERN_PROCARGS2 sysctl (argc, the executable path, argv, then the environment), shm without a
// path (the probe finds segments by name; probes_macos.cpp says how they are removed).
#include "run_support.hpp"

#include <libproc.h>
#include <sys/proc_info.h>
#include <sys/sysctl.h>
#include <unistd.h>

#include <cstring>

namespace afterlife_test {

namespace {

bool environment_has(int pid, const std::string& wanted) {
  int mib[3] = {CTL_KERN, KERN_PROCARGS2, pid};
  std::size_t size = 0;
  if (sysctl(mib, 3, nullptr, &size, nullptr, 0) != 0 || size < sizeof(int)) return false;
  std::string buffer(size, '\0');
  if (sysctl(mib, 3, buffer.data(), &size, nullptr, 0) != 0 || size < sizeof(int)) return false;
  buffer.resize(size);
  int argc = 0;
  std::memcpy(&argc, buffer.data(), sizeof argc);
  std::size_t at = buffer.find('\0', sizeof argc);             // end of the executable path
  if (at == std::string::npos) return false;
  at = buffer.find_first_not_of('\0', at);                      // its padding
  for (int i = 0; i < argc && at != std::string::npos; ++i) {   // argv
    at = buffer.find('\0', at);
    if (at != std::string::npos) ++at;
  }
  while (at != std::string::npos && at < buffer.size() && buffer[at] != '\0') {
    const std::size_t end = buffer.find('\0', at);
    if (buffer.compare(at, (end == std::string::npos ? buffer.size() : end) - at, wanted) == 0)
      return true;
    at = end == std::string::npos ? end : end + 1;
  }
  return false;
}

}  // namespace

std::vector<int> processes_with(const std::string& marker) {
  const std::string wanted = "AFTERLIFE_TEST_MARKER=" + marker;
  std::vector<int> pids(static_cast<std::size_t>(proc_listallpids(nullptr, 0)) + 64);
  const int count = proc_listallpids(pids.data(), static_cast<int>(pids.size() * sizeof(int)));
  std::vector<int> found;
  for (int i = 0; i < count; ++i) {
    const int pid = pids[static_cast<std::size_t>(i)];
    if (pid <= 0 || pid == getpid()) continue;
    proc_bsdinfo info{};
    if (proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &info, PROC_PIDTBSDINFO_SIZE) !=
            PROC_PIDTBSDINFO_SIZE ||
        info.pbi_status == SZOMB)
      continue;
    if (environment_has(pid, wanted)) found.push_back(pid);
  }
  return found;
}

std::string expected_shm_path(const std::string&) { return ""; }

std::string expected_shm_cleanup(const std::string& name) {
  return "python3 -c 'import ctypes; ctypes.CDLL(None).shm_unlink(b'\\''" + name + "'\\'')'";
}

}  // namespace afterlife_test

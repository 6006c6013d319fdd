// The Linux parts of the `afterlife run` test helpers: processes from /proc, shm in /dev/shm.
#include "run_support.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace afterlife_test {

namespace {

// Live processes (not this one, no zombie) whose /proc/PID/<file> (NUL-separated: environ,
// cmdline) holds `wanted` as one of its items.
std::vector<int> processes_listing(const char* file, const std::string& wanted) {
  std::vector<int> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (const dirent* entry = readdir(proc)) {
    int pid = std::atoi(entry->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto paren = text.rfind(')');
    if (paren == std::string::npos || text.size() < paren + 3 || text[paren + 2] == 'Z') continue;
    std::ifstream listing("/proc/" + std::to_string(pid) + "/" + file);
    std::string items((std::istreambuf_iterator<char>(listing)), std::istreambuf_iterator<char>());
    std::istringstream entries(items);
    std::string item;
    while (std::getline(entries, item, '\0')) {
      if (item == wanted) {
        found.push_back(pid);
        break;
      }
    }
  }
  closedir(proc);
  return found;
}

}  // namespace

std::vector<int> processes_with(const std::string& marker) {
  return processes_listing("environ", "AFTERLIFE_TEST_MARKER=" + marker);
}

std::vector<int> processes_running(const std::string& argument) {
  return processes_listing("cmdline", argument);
}

std::string expected_shm_path(const std::string& name) { return "/dev/shm" + name; }

std::string expected_shm_cleanup(const std::string& name) { return "rm -- /dev/shm" + name; }

}  // namespace afterlife_test

#include "run_support.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

namespace afterlife_test {

namespace {
constinit std::atomic<int> counter{0};
}

std::string unique(const std::string& prefix) {
  return prefix + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

std::string runtime_dir() {
  // One for every test process: runs have unique ids, and `afterlife clean` is tested in a
  // directory of its own. One per build of afterlife: builds of other branches on the machine
  // may lay out the directory otherwise.
  auto path = std::filesystem::temp_directory_path() /
              ("afterlife-harness-test-" +
               std::to_string(std::hash<std::string>{}(AFTERLIFE_EXE) % 1000000));
  std::filesystem::create_directories(path);
  return path.string();
}

harness_run afterlife_run(const std::vector<std::string>& options,
                          const std::vector<std::string>& command, const std::string& marker,
                          child_options extra) {
  std::vector<std::string> argv{AFTERLIFE_EXE, "run", "--json", "-"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  extra.set_env["AFTERLIFE_RUNTIME_DIR"] = runtime_dir();
  extra.set_env["AFTERLIFE_TEST_MARKER"] = marker;
  harness_run result{run_child(argv, extra), nullptr};
  if (!result.raw.out.empty()) result.report = nlohmann::json::parse(result.raw.out, nullptr, false);
  return result;
}

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

void kill_marked(const std::string& marker) {
  for (int pid : processes_with(marker)) kill(pid, SIGKILL);
}

}  // namespace afterlife_test

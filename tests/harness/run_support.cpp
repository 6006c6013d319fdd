#include "run_support.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>

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

std::string actor() { return ACTOR_EXE; }

bool shm_exists(const std::string& name) {
  const int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  close(fd);
  return true;
}

const nlohmann::json* find_leftover(const nlohmann::json& report, const std::string& kind,
                                    const std::string& name) {
  for (const auto& l : report["leftovers"])
    if (l["kind"] == kind && l["name"] == name) return &l;
  return nullptr;
}

void kill_marked(const std::string& marker) {
  for (int pid : processes_with(marker)) kill(pid, SIGKILL);
}

}  // namespace afterlife_test

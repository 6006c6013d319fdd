#include "spawn/spawn.hpp"

#include "afterlife/harness/run.hpp"
#include "run_dir.hpp"

#include "spawn/boost_process.hpp"

#include <fmt/core.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

extern char** environ;

namespace afterlife::detail {

namespace bp = boost::process::v2;

environment_block::environment_block() {
  for (char** entry = environ; *entry != nullptr; ++entry) entries_.emplace_back(*entry);
}

void environment_block::set(const std::string& name, const std::string& value) {
  std::string prefix = name + "=";
  for (auto& entry : entries_) {
    if (entry.starts_with(prefix)) {
      entry = prefix + value;
      return;
    }
  }
  entries_.push_back(prefix + value);
}

void environment_block::append(const std::string& name, const std::string& value,
                               char separator) {
  std::string prefix = name + "=";
  for (auto& entry : entries_) {
    if (entry.starts_with(prefix)) {
      if (entry.size() > prefix.size()) entry += separator;
      entry += value;
      return;
    }
  }
  entries_.push_back(prefix + value);
}

const char* const* environment_block::pointers() {
  pointers_.clear();
  for (const auto& entry : entries_) pointers_.push_back(entry.c_str());
  pointers_.push_back(nullptr);
  return pointers_.data();
}

spawn_plan::spawn_plan() {
  check_spawn_call(posix_spawn_file_actions_init(&actions), "file actions");
  if (int rc = posix_spawnattr_init(&attributes); rc != 0) {
    posix_spawn_file_actions_destroy(&actions);
    check_spawn_call(rc, "attributes");
  }
}

spawn_plan::~spawn_plan() {
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
}

void check_spawn_call(int result, const char* what) {
  if (result != 0)
    throw harness_error(
        fmt::format("cannot start: {}: {}", what, std::system_category().message(result)));
}

namespace {

// ---- the add-ons. Each adds one thing to the plan (or to the environment block) in this
// process; posix_spawn carries them out in the child between its start and exec. ----

// The Linux child subreaper: orphans of the run (setsid double forks included) become the
// harness's children, stay visible, and can be reaped.
struct subreaper {
  std::string* note;
  void apply(spawn_plan&) const { *note = become_subreaper(); }
};

// The program's stdin, stdout and stderr; every other descriptor is closed.
struct standard_streams {
  int in, out, err;
  void apply(spawn_plan& plan) const {
    check_spawn_call(posix_spawn_file_actions_adddup2(&plan.actions, in, STDIN_FILENO), "stdin");
    check_spawn_call(posix_spawn_file_actions_adddup2(&plan.actions, out, STDOUT_FILENO), "stdout");
    check_spawn_call(posix_spawn_file_actions_adddup2(&plan.actions, err, STDERR_FILENO), "stderr");
    // After the dup2s: their sources may be descriptors above 2.
    keep_only_stdio(plan);
  }
};

// Its own process group, so that a tree kill reaches every process that did not leave it.
struct process_group {
  void apply(spawn_plan& plan) const {
    check_spawn_call(posix_spawnattr_setpgroup(&plan.attributes, 0), "process group");
    plan.flags |= POSIX_SPAWN_SETPGROUP;
  }
};

// The child starts with default signal handling and nothing blocked, whatever the harness (or
// the thread that spawns, under `afterlife matrix`) has set: ignored dispositions and blocked
// masks survive exec.
struct default_signals {
  void apply(spawn_plan& plan) const {
    sigset_t none;
    sigemptyset(&none);
    check_spawn_call(posix_spawnattr_setsigmask(&plan.attributes, &none), "signal mask");
    sigset_t reset;
    sigemptyset(&reset);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM}) sigaddset(&reset, sig);
    add_reserved_signals(reset);
    check_spawn_call(posix_spawnattr_setsigdefault(&plan.attributes, &reset), "signal defaults");
    plan.flags |= POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  }
};

// The run's private directory: TMPDIR inside it, and where the program finds the harness.
struct run_directory {
  const run_dir* dir;
  environment_block* env;
  void apply(spawn_plan&) const {
    env->set("TMPDIR", dir->tmp().string());
    env->set("AFTERLIFE_RUN", dir->id());
    env->set("AFTERLIFE_SOCKET", dir->socket().string());
    env->set("AFTERLIFE_LEDGER", dir->ledger().string());
  }
};

// The interposer that writes the ledger, preloaded into every process of the run.
struct interposer_preload {
  const std::filesystem::path* library;
  environment_block* env;
  void apply(spawn_plan&) const {
    if (library->empty()) return;
    env->append(preload_variable(), library->string(), ':');
    // An ASan-built child checks that its runtime comes first in the preload list; ours is
    // a plain C library with no interceptors of its own, so that check must be off.
    env->append("ASAN_OPTIONS", "verify_asan_link_order=0", ':');
  }
};

// Applies the add-ons left to right.
template <typename... Addons>
void for_each_addon(spawn_plan& plan, const Addons&... addons) {
  (addons.apply(plan), ...);
}

}  // namespace

std::filesystem::path resolve_command(const std::string& name) {
  if (name.empty()) throw harness_error("command not found: (empty)");
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) throw harness_error("command not found: " + name);
    return name;
  }
  auto found = bp::environment::find_executable(name);
  if (found.empty()) throw harness_error("command not found: " + name);
  return std::filesystem::path(found.string());
}

spawned spawn(const spawn_request& request) {
  auto executable = resolve_command(request.command.front());
  // argv[0] is the resolved path: what survivors' command lines and `ps` have always shown.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(executable.c_str()));
  for (auto arg = request.command.begin() + 1; arg != request.command.end(); ++arg)
    argv.push_back(const_cast<char*>(arg->c_str()));
  argv.push_back(nullptr);

  spawn_plan plan;
  std::string subreaper_note;
  // Each add-on fills in its part of the plan or edits the environment block; posix_spawn
  // then gets both.
  for_each_addon(plan, subreaper{&subreaper_note},
                 standard_streams{request.stdin_fd, request.stdout_fd, request.stderr_fd},
                 process_group{}, default_signals{}, run_directory{request.dir, request.env},
                 interposer_preload{&request.interposer, request.env});
  check_spawn_call(posix_spawnattr_setflags(&plan.attributes, plan.flags), "flags");
  pid_t pid = 0;
  // posix_spawn returns once the child has exec'ed (or failed to: its errno is returned).
  int rc = posix_spawn(&pid, executable.c_str(), &plan.actions, &plan.attributes, argv.data(),
                       const_cast<char* const*>(request.env->pointers()));
  if (rc != 0) {
    throw harness_error(
        fmt::format("cannot start {}: {}", request.command.front(),
                    std::system_category().message(rc)));
  }
  return {pid, subreaper_note};
}

}  // namespace afterlife::detail

// One run, step by step (docs/architecture.md "The data flow of one run"). run() reads like the
// table of contents; each step is one member function of run_state below.
#include "afterlife/harness/run.hpp"

#include "cloexec_pipe.hpp"
#include "control_server.hpp"
#include "ledger.hpp"
#include "output_pump.hpp"
#include "probes/probes.hpp"
#include "run_dir.hpp"
#include "spawn/spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <afterlife/protocol.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <thread>

namespace afterlife {

namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How long SIGKILLed processes may take to disappear before the harness gives up on them.
constexpr auto kill_wait = 5s;
// How often the run's process tree is walked while the main process runs (to know its pids
// for attribution and for orphans that later leave the process group).
constexpr auto tree_scan_interval = 50ms;
// Poll step while polling is the only way to notice something (file trigger, no pidfd).
constexpr auto poll_step = 10ms;
// Survivors inspected in detail (fds, mappings); a fork bomb's thousand get pid and command.
constexpr std::size_t detailed_survivors_max = 32;

double ms_between(steady::time_point from, steady::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

std::filesystem::path find_interposer(const run_options& options) {
  if (!options.interposer.empty()) return options.interposer;
  if (const char* configured = std::getenv("AFTERLIFE_INTERPOSER"); configured && *configured)
    return configured;
  std::error_code ec;
  auto beside = detail::self_executable().parent_path() / detail::interposer_file_name();
  if (std::filesystem::exists(beside, ec)) return beside;
  std::filesystem::path built = AFTERLIFE_INTERPOSER_BUILD_PATH;
  if (std::filesystem::exists(built, ec)) return built;
  return {};
}

bool under(const std::string& path, const std::filesystem::path& dir) {
  std::string prefix = dir.string() + "/";
  return path.starts_with(prefix);
}

// A ledger file name as the probes would see it: symlinks in its directory resolved.
std::string comparable_path(const std::string& recorded) {
  std::filesystem::path path = std::filesystem::path(recorded).lexically_normal();
  std::error_code ec;
  auto parent = std::filesystem::weakly_canonical(path.parent_path(), ec);
  return ec ? path.string() : (parent / path.filename()).string();
}

// Whether the executable was built with the control client: its getenv("AFTERLIFE_SOCKET")
// leaves that string in the file. A program without it never reaches a checkpoint.
bool uses_control_client(const std::filesystem::path& executable) {
  constexpr std::string_view marker = "AFTERLIFE_SOCKET";
  std::ifstream in(executable, std::ios::binary);
  std::string window;
  std::vector<char> chunk(1 << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    // Keep the tail of the previous chunk: the marker may straddle two reads.
    window.erase(0, window.size() > marker.size() ? window.size() - marker.size() : 0);
    window.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    if (window.find(marker) != std::string::npos) return true;
  }
  return false;
}

// docs/architecture.md ("CLI"): the default is the first checkpoint, else at once. The first
// checkpoint when the program can send one; otherwise at once (delay 0).
trigger default_trigger(const std::string& command) {
  trigger result;
  try {
    if (!uses_control_client(detail::resolve_command(command))) {
      result.what = trigger::kind::delay;
      result.argument = "0";
    }
  } catch (const harness_error&) {
    // Not found: the spawn reports it.
  }
  return result;
}

class run_state {
 public:
  explicit run_state(const run_options& options);
  ~run_state();
  run_state(const run_state&) = delete;
  run_state& operator=(const run_state&) = delete;

  void take_before();
  void start();
  void serve_until_main_exits() noexcept;
  void wait_for_descendants() noexcept;
  void end_survivors() noexcept;
  void collect_output() noexcept;
  void list_leftovers() noexcept;
  void judge_expectations() noexcept;
  void reap_leftovers() noexcept;
  run_report finish() noexcept;

 private:
  // The event loop's one step: waits up to `timeout` for output, control messages or the main
  // process's exit, and handles what arrived.
  void poll_once(std::chrono::milliseconds timeout);
  void handle_message(const detail::control_message& message);
  void on_line(std::string_view line);
  void fire(int sender, int connection);
  void on_timeout();
  void reap_main(int options);
  // Every process of the run now (zombies included), walking down from the harness.
  std::vector<probes::process_status> run_processes();
  bool belongs(const probes::process_status& status) const;
  void reap_zombies(const std::vector<probes::process_status>& processes);
  // SIGKILLs every process of the run until none is left or kill_wait passes.
  void kill_all(bool whole_group);
  int youngest_descendant();
  void note(std::string text) noexcept;

  const run_options& options_;
  run_report report_;
  detail::run_dir dir_;
  detail::control_server control_;
  detail::environment_block env_;
  std::vector<std::filesystem::path> watch_;
  probes::snapshot before_;
  std::vector<probes::object_entry> leftover_objects_;  // parallel to report_.leftovers
  std::unique_ptr<detail::output_stream> out_;
  std::unique_ptr<detail::output_stream> err_;
  std::optional<trigger> trigger_;
  std::optional<std::regex> line_pattern_;
  int main_pid_ = 0;
  int exit_watch_ = -1;
  bool main_reaped_ = false;
  // The last walk of the run's tree found no process at all, not even a zombie: nothing is left
  // to inspect, kill or reap.
  bool tree_gone_ = false;
  steady::time_point start_;
  steady::time_point main_end_;
  steady::time_point timeout_at_;
  steady::time_point next_tree_scan_;
  std::map<int, std::uint64_t> known_;  // pid -> start time of every process seen in the run
};

run_state::run_state(const run_options& options)
    : options_(options), dir_(options.runtime_dir), control_(dir_.socket()) {
  report_.run_id = dir_.id();
  report_.command = options.command;
  report_.mode = options.mode;
  if (options.mode != exit_mode::natural) {
    trigger_ = options.at.value_or(default_trigger(options.command.front()));
    report_.trigger = options.at                               ? trigger_->text()
                      : trigger_->what == trigger::kind::delay ? "start (default)"
                                                               : "checkpoint (default)";
    if (trigger_->what == trigger::kind::line) line_pattern_.emplace(trigger_->argument);
  }
  std::error_code ec;
  for (const auto& dir : options.watch) {
    auto canonical = std::filesystem::canonical(dir, ec);
    if (ec) throw std::invalid_argument("--watch " + dir.string() + ": " + ec.message());
    watch_.push_back(canonical);
  }
  watch_.push_back(std::filesystem::canonical(dir_.tmp()));
}

run_state::~run_state() {
  if (exit_watch_ >= 0) close(exit_watch_);
}

void run_state::note(std::string text) noexcept {
  try {
    if (std::find(report_.notes.begin(), report_.notes.end(), text) == report_.notes.end())
      report_.notes.push_back(std::move(text));
  } catch (...) {  // out of memory while recording a note: the note is lost, the run is not
  }
}

// Before the spawn, so that everything new afterwards is a candidate leftover.
void run_state::take_before() {
  before_ = probes::take_snapshot(watch_);
  for (auto& text : before_.notes) note(text);
}

void run_state::start() {
  auto out = detail::make_cloexec_pipe();
  auto err = detail::make_cloexec_pipe();
  int stdin_fd = options_.inherit_stdin ? STDIN_FILENO : open("/dev/null", O_RDONLY | O_CLOEXEC);
  out_ = std::make_unique<detail::output_stream>(out.read_end, options_.copy_stdout_to);
  err_ = std::make_unique<detail::output_stream>(err.read_end, options_.copy_stderr_to);
  for (const auto& [name, value] : options_.env) env_.set(name, value);
  detail::spawn_request request;
  request.command = options_.command;
  request.env = &env_;
  request.dir = &dir_;
  request.interposer = find_interposer(options_);
  request.stdin_fd = stdin_fd;
  request.stdout_fd = out.write_end;
  request.stderr_fd = err.write_end;
  if (request.interposer.empty())
    note("interposer library not found: attribution is limited to SysV creator pids and the "
         "run's TMPDIR");
  start_ = steady::now();
  next_tree_scan_ = start_ + tree_scan_interval;
  detail::spawned child;
  try {
    child = detail::spawn(request);
  } catch (...) {
    close(out.write_end);
    close(err.write_end);
    if (stdin_fd != STDIN_FILENO && stdin_fd >= 0) close(stdin_fd);
    throw;
  }
  // Only the child keeps the write ends: EOF then means every writer is gone.
  close(out.write_end);
  close(err.write_end);
  if (stdin_fd != STDIN_FILENO && stdin_fd >= 0) close(stdin_fd);
  main_pid_ = child.pid;
  report_.exit.pid = child.pid;
  if (!child.note.empty()) note(child.note);
  exit_watch_ = detail::open_exit_watch(main_pid_);
  known_[main_pid_] = 0;
}

void run_state::reap_main(int wait_options) {
  int status = 0;
  rusage usage{};
  pid_t done = wait4(main_pid_, &status, wait_options, &usage);
  if (done != main_pid_) return;
  main_reaped_ = true;
  main_end_ = steady::now();
  report_.duration_ms = ms_between(start_, main_end_);
  report_.max_rss_kib = detail::max_rss_kib(usage);
  exit_info& exit = report_.exit;
  exit.raw_status = status;
  exit.exited = WIFEXITED(status);
  if (exit.exited) {
    exit.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit.signal = WTERMSIG(status);
    exit.signal_name = signal_name(exit.signal);
    exit.core_dumped = WCOREDUMP(status);
  }
}

void run_state::poll_once(std::chrono::milliseconds timeout) {
  std::vector<pollfd> fds;
  if (exit_watch_ >= 0 && !main_reaped_) fds.push_back({exit_watch_, POLLIN, 0});
  std::size_t outputs_at = fds.size();
  for (auto* stream : {out_.get(), err_.get()})
    if (stream->open()) fds.push_back({stream->fd(), POLLIN, 0});
  std::size_t control_at = fds.size();
  control_.add_poll_fds(fds);
  if (exit_watch_ < 0 && !main_reaped_) timeout = std::min<std::chrono::milliseconds>(timeout, poll_step);
  int ready = poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(timeout.count(), 0)));
  if (ready <= 0) return;
  for (std::size_t i = outputs_at; i < control_at; ++i) {
    if (fds[i].revents == 0) continue;
    auto* stream = fds[i].fd == out_->fd() ? out_.get() : err_.get();
    stream->pump([this](std::string_view line) { on_line(line); });
  }
  std::vector<pollfd> control_fds(fds.begin() + static_cast<long>(control_at), fds.end());
  for (const auto& message : control_.handle(control_fds)) handle_message(message);
}

void run_state::on_line(std::string_view line) {
  if (!line_pattern_ || report_.trigger_fired || main_reaped_) return;
  if (std::regex_search(line.begin(), line.end(), *line_pattern_)) fire(0, -1);
}

void run_state::handle_message(const detail::control_message& message) {
  double now_ms = ms_between(start_, steady::now());
  if (message.verb == "checkpoint") {
    bool armed = trigger_ && trigger_->what == trigger::kind::checkpoint &&
                 !report_.trigger_fired && !main_reaped_ &&
                 (trigger_->argument.empty() || trigger_->argument == message.name);
    if (armed) {
      fire(message.pid, message.connection);
    } else {
      control_.answer(message.connection, "continue");
    }
    return;
  }
  if (message.verb == "phase") {
    if (message.begin) {
      report_.phases.push_back({message.name, now_ms, std::nullopt});
    } else {
      auto open_phase = std::find_if(report_.phases.rbegin(), report_.phases.rend(),
                                     [&](const phase_record& p) {
                                       return p.name == message.name && !p.end_ms;
                                     });
      if (open_phase == report_.phases.rend()) {
        control_.answer(message.connection, "error phase " + message.name + " never began");
        return;
      }
      open_phase->end_ms = now_ms;
    }
    control_.answer(message.connection, "ok");
    return;
  }
  if (message.verb == "register") {
    // Into the ledger, so that a run whose harness dies is still cleanable.
    try {
      detail::append_ledger(dir_.ledger(),
                            {message.kind, message.pid, 0, detail::registration_site, message.name});
    } catch (const std::system_error& e) {
      note(fmt::format("could not record a registration: {}", e.what()));
    }
  }
  control_.answer(message.connection, "ok");  // register / unregister
}

void run_state::fire(int sender, int connection) {
  report_.trigger_fired = true;
  // Learn the whole tree while it still hangs below the main process: a child born since the
  // last scan (CPython's resource tracker, just spawned) is then known after it is orphaned.
  run_processes();
  switch (options_.mode) {
    case exit_mode::sigterm:
    case exit_mode::sigint:
    case exit_mode::sigkill:
    case exit_mode::abort: {
      int sig = options_.mode == exit_mode::sigterm  ? SIGTERM
                : options_.mode == exit_mode::sigint ? SIGINT
                : options_.mode == exit_mode::sigkill ? SIGKILL
                                                      : SIGABRT;
      kill(main_pid_, sig);
      report_.action = fmt::format("SIG{} sent to pid {}", signal_name(sig), main_pid_);
      break;
    }
    case exit_mode::tree_kill: {
      // The process group only, as a CI runner or a terminal ends a job: a descendant that left
      // the group (setsid, like a detached resource tracker or a daemon) survives it. That
      // difference is what the mode exists to show (docs/architecture.md "What each way of
      // dying leaves"); survivors are still inspected and ended after --grace.
      std::size_t members = 0;
      for (const auto& p : run_processes()) members += p.pgid == main_pid_ && !p.zombie;
      kill(-main_pid_, SIGKILL);
      report_.action = fmt::format("SIGKILL sent to process group {} ({} processes)", main_pid_,
                                   members);
      break;
    }
    case exit_mode::child_death: {
      bool sender_is_child = false;
      if (sender != 0 && sender != main_pid_) {
        auto status = probes::status_of(sender);
        sender_is_child = status && belongs(*status);
      }
      int victim = sender_is_child ? sender : youngest_descendant();
      if (victim == 0) {
        report_.action = "no child to kill";
        note("child-death: the main process had no child when the trigger fired");
      } else {
        kill(victim, SIGKILL);
        report_.action = fmt::format("SIGKILL sent to child pid {}{}", victim,
                                     sender_is_child ? " (the checkpoint's sender)" : "");
      }
      break;
    }
    case exit_mode::natural: break;
  }
  // The signal is pending before the answer is sent, so a process blocked at the checkpoint
  // handles it before it can run on: a kill at a checkpoint is deterministic.
  if (connection >= 0) control_.answer(connection, "continue");
}

void run_state::on_timeout() {
  report_.timed_out = true;
  timeout_at_ = steady::now();
  if (!report_.interrupted)
    note(fmt::format("timed out after {} ms: the whole process tree was killed",
                     options_.timeout.count()));
  kill_all(true);
}

bool run_state::belongs(const probes::process_status& status) const {
  if (status.pid == main_pid_) return !main_reaped_;  // else the number was reused
  auto known = known_.find(status.pid);
  if (known != known_.end() && (known->second == 0 || known->second == status.start_time))
    return true;
  // The main process's group outlives the main process while it has members, and the kernel
  // does not hand out a pid still in use as a group id: a member of that group is ours. (A new
  // group with a reused number would be led by a process whose pid is that number.)
  if (status.pgid == main_pid_) return true;  // (status.pid != main_pid_ here)
  // Left the group (setsid) and was not seen yet: the marker every process of the run inherits.
  return probes::environment_has(status.pid, "AFTERLIFE_RUN=" + dir_.id());
}

std::vector<probes::process_status> run_state::run_processes() {
  std::vector<int> pending;
  if (!main_reaped_) pending.push_back(main_pid_);
  std::vector<int> candidates = probes::children_of(getpid());
  auto lost = probes::lost_descendants(main_pid_, "AFTERLIFE_RUN=" + dir_.id());
  candidates.insert(candidates.end(), lost.begin(), lost.end());
  for (int pid : candidates) {
    if (pid == main_pid_) continue;
    auto status = probes::status_of(pid);
    if (status && belongs(*status)) pending.push_back(pid);
  }
  std::vector<probes::process_status> found;
  std::set<int> seen;
  while (!pending.empty()) {
    int pid = pending.back();
    pending.pop_back();
    if (!seen.insert(pid).second) continue;
    auto status = probes::status_of(pid);
    if (!status) continue;
    known_[pid] = status->start_time;
    found.push_back(*status);
    for (int child : probes::children_of(pid)) pending.push_back(child);
  }
  return found;
}

void run_state::reap_zombies(const std::vector<probes::process_status>& processes) {
  for (const auto& p : processes) {
    if (p.pid == main_pid_) {
      if (!main_reaped_) reap_main(WNOHANG);
      continue;
    }
    // Only our own children: orphans the subreaper adopted. Never wait for anyone else's.
    if (p.ppid == getpid()) waitpid(p.pid, nullptr, WNOHANG);
  }
}

void run_state::kill_all(bool whole_group) {
  auto give_up = steady::now() + kill_wait;
  while (steady::now() < give_up) {
    auto processes = run_processes();
    reap_zombies(processes);
    bool alive = false;
    // A process group id stays reserved while the main process exists (reaped or not, its
    // group members keep it); after the main is reaped, kill by pid only.
    if (whole_group && !main_reaped_) kill(-main_pid_, SIGKILL);
    for (const auto& p : processes) {
      if (p.zombie) continue;
      alive = true;
      kill(p.pid, SIGKILL);
    }
    if (!alive) return;
    std::this_thread::sleep_for(1ms);
  }
  note("some processes of the run did not die within 5 s of SIGKILL");
}

int run_state::youngest_descendant() {
  int youngest = 0;
  std::uint64_t youngest_start = 0;
  for (const auto& p : run_processes()) {
    if (p.pid == main_pid_ || p.zombie) continue;
    if (youngest == 0 || p.start_time >= youngest_start) {
      youngest = p.pid;
      youngest_start = p.start_time;
    }
  }
  return youngest;
}

void run_state::serve_until_main_exits() noexcept {
  try {
    auto deadline = start_ + options_.timeout;
    std::optional<steady::time_point> fire_at;
    if (trigger_ && trigger_->what == trigger::kind::delay) fire_at = start_ + trigger_->delay;
    reap_main(WNOHANG);
    while (!main_reaped_) {
      auto now = steady::now();
      if (report_.timed_out && now >= timeout_at_ + kill_wait) {
        note("the main process did not die after SIGKILL");
        return;
      }
      if (!report_.timed_out && now >= deadline) on_timeout();
      if (!report_.timed_out && options_.interrupted != nullptr && options_.interrupted->load()) {
        report_.interrupted = true;
        note("interrupted: the whole process tree was killed");
        on_timeout();
      }
      if (trigger_ && !report_.trigger_fired) {
        if (fire_at && now >= *fire_at) fire(0, -1);
        std::error_code ec;
        if (trigger_->what == trigger::kind::file &&
            std::filesystem::exists(trigger_->argument, ec))
          fire(0, -1);
      }
      if (now >= next_tree_scan_) {
        run_processes();
        next_tree_scan_ = now + tree_scan_interval;
      }
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::min(deadline, next_tree_scan_) - now) + 1ms;
      if (fire_at && !report_.trigger_fired)
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*fire_at - now) + 1ms);
      if (trigger_ && trigger_->what == trigger::kind::file) wait = std::min<std::chrono::milliseconds>(wait, poll_step);
      if (report_.timed_out) wait = std::min<std::chrono::milliseconds>(wait, poll_step);
      poll_once(wait);
      reap_main(WNOHANG);
    }
  } catch (const std::exception& e) {
    note(fmt::format("serving the run failed: {}; killing it", e.what()));
    kill_all(true);
    reap_main(WNOHANG);
  }
}

void run_state::wait_for_descendants() noexcept {
  try {
    auto grace_end = std::min((main_reaped_ ? main_end_ : steady::now()) + options_.grace,
                              start_ + options_.timeout);
    for (;;) {
      auto processes = run_processes();
      reap_zombies(processes);
      // Empty also means that no process of the run was exiting (a zombie) during the walk,
      // so none can have been handed to the harness, as an orphan, behind the walk's back.
      tree_gone_ = processes.empty();
      bool alive = std::any_of(processes.begin(), processes.end(),
                               [](const probes::process_status& p) { return !p.zombie; });
      auto now = steady::now();
      if (!alive || now >= grace_end) return;
      poll_once(std::min<std::chrono::milliseconds>(
          poll_step, std::chrono::duration_cast<std::chrono::milliseconds>(grace_end - now) + 1ms));
    }
  } catch (const std::exception& e) {
    note(fmt::format("waiting for descendants failed: {}", e.what()));
  }
}

void run_state::end_survivors() noexcept {
  // The usual end of a run: walking the tree twice more would find it empty twice more.
  if (tree_gone_) return;
  try {
    for (const auto& p : run_processes()) {
      if (p.zombie || p.pid == main_pid_) continue;
      survivor s;
      s.pid = p.pid;
      auto details = probes::inspect(p.pid);
      s.command = details.command;
      if (report_.survivors.size() < detailed_survivors_max) {
        for (const auto& fd : details.fds) s.fds.push_back({fd.fd, fd.target});
        for (const auto& m : details.maps) s.maps.push_back({m.path, m.size, m.shared});
      }
      report_.survivors.push_back(std::move(s));
    }
    kill_all(false);
    if (!main_reaped_) reap_main(WNOHANG);
  } catch (const std::exception& e) {
    note(fmt::format("ending survivors failed: {}", e.what()));
  }
}

void run_state::collect_output() noexcept {
  try {
    // Every process of the run is gone: what is still in the pipes is there now. Descendants
    // that escaped the run (another session, reparented elsewhere) may hold the write end: read
    // what is buffered, never wait for their EOF.
    for (auto* stream : {out_.get(), err_.get()}) {
      stream->pump([](std::string_view) {});
      stream->close_now();
    }
    report_.stdout_text = out_->captured();
    report_.stderr_text = err_->captured();
    control_.close_all();
  } catch (const std::exception& e) {
    note(fmt::format("collecting output failed: {}", e.what()));
  }
}

void run_state::list_leftovers() noexcept {
  try {
    auto after = probes::new_since(before_, watch_);
    for (auto& text : after.notes) note(text);
    auto ledger = detail::read_ledger(dir_.ledger());
    std::set<int> pids;
    for (const auto& [pid, start] : known_) pids.insert(pid);
    for (const auto& record : ledger) pids.insert(record.pid);
    for (auto& record : ledger)
      if (protocol::is_file_kind(record.kind)) record.name = comparable_path(record.name);

    std::vector<probes::object_entry> found;
    for (auto& entry : after.objects) {
      // Other runs' private directories under a watched parent are theirs to report.
      if (protocol::is_file_kind(entry.kind) && under(entry.path, dir_.top()) &&
          !under(entry.path, watch_.back()))
        continue;
      probes::complete(entry);
      found.push_back(std::move(entry));
    }
    // What cannot be listed here is asked for by name, from the ledger.
    std::set<std::string> probed;
    std::string key;
    for (const auto& record : ledger) {
      if (probes::listable(record.kind)) continue;
      probes::make_key(record.kind, record.name, key);
      if (!probed.insert(key).second) continue;
      if (auto entry = probes::probe_named(record.kind, record.name)) found.push_back(*entry);
    }

    for (auto& entry : found) {
      leftover l;
      l.kind = entry.kind;
      l.name = entry.name;
      l.path = entry.path;
      l.size = entry.size;
      l.cleanup = probes::cleanup_command(entry);
      for (const auto& record : ledger) {
        bool same_kind = record.kind == entry.kind ||
                         (protocol::is_file_kind(record.kind) && protocol::is_file_kind(entry.kind));
        bool same_object = record.inode == 0 || entry.inode == 0 || record.inode == entry.inode;
        if (same_kind && same_object && record.name == entry.name) {
          // A runtime registration confirms what the interposer saw; it must not replace the
          // call site the interposer recorded.
          bool keep_site = l.attributed && record.site == detail::registration_site;
          l.attributed = true;
          if (!keep_site) l.creator = creator_info{record.pid, record.site, record.callers};
        }
      }
      if (!l.attributed && entry.kind == "sysv_shm" && pids.count(entry.creator_pid) != 0) {
        l.attributed = true;
        l.creator = creator_info{entry.creator_pid, "shmget (creator pid from the kernel)", {}};
      }
      if (!l.attributed && protocol::is_file_kind(entry.kind) && under(entry.path, watch_.back()))
        l.attributed = true;  // the run's private TMPDIR: nobody else writes there
      report_.leftovers.push_back(std::move(l));
      leftover_objects_.push_back(entry);
    }
  } catch (const std::exception& e) {
    note(fmt::format("listing leftovers failed: {}", e.what()));
  }
}

void run_state::judge_expectations() noexcept {
  try {
    report_.malformed_messages = control_.malformed();
    std::vector<expectation> expected = options_.expect;
    if (expected.empty()) expected.push_back(parse_expectation("clean"));
    report_.pass = true;
    for (const auto& e : expected) {
      report_.expectations.push_back(judge(e, report_, options_.strict));
      report_.pass = report_.pass && report_.expectations.back().met;
    }
    // A run that had to be killed for hanging never passes, whatever else was expected.
    if (report_.timed_out) {
      report_.expectations.push_back(
          {"no timeout", false, report_.interrupted ? "interrupted" : "timed out"});
      report_.pass = false;
    }
  } catch (const std::exception& e) {
    report_.pass = false;
    note(fmt::format("judging failed: {}", e.what()));
  }
}

void run_state::reap_leftovers() noexcept {
  for (std::size_t i = 0; i < report_.leftovers.size(); ++i) {
    leftover& l = report_.leftovers[i];
    if (!l.attributed) {
      l.reap_error = "not created by this run";
      continue;
    }
    if (!options_.reap) continue;
    auto ec = probes::remove_object(leftover_objects_[i]);
    l.reaped = !ec;
    if (ec) l.reap_error = ec.message();
  }
}

run_report run_state::finish() noexcept {
  if (options_.reap) {
    dir_.remove();
  } else {
    dir_.keep_finished();
    note("run directory kept: " + dir_.root().string());
  }
  std::sort(report_.leftovers.begin(), report_.leftovers.end(),
            [](const leftover& a, const leftover& b) {
              return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
            });
  return std::move(report_);
}

}  // namespace

run_report run(const run_options& options) {
  if (options.command.empty()) throw std::invalid_argument("no command to run");
  if (options.mode == exit_mode::natural && options.at)
    throw std::invalid_argument("--at needs a mode that ends the program (e.g. --mode sigterm)");
  std::unique_ptr<run_state> state;
  try {
    state = std::make_unique<run_state>(options);
  } catch (const std::system_error& e) {
    throw harness_error(fmt::format("cannot create the run directory: {}", e.what()));
  } catch (const std::runtime_error& e) {
    throw harness_error(fmt::format("cannot create the run directory: {}", e.what()));
  }
  try {
    state->take_before();
    state->start();
  } catch (...) {
    state->finish();  // removes the run directory: nothing ran
    throw;
  }
  state->serve_until_main_exits();
  // Before listing leftovers: a descendant still running may still create or remove them.
  state->wait_for_descendants();
  state->end_survivors();
  state->collect_output();
  state->list_leftovers();
  state->judge_expectations();
  // After judging (the verdict is about what was left, not what remains after cleanup), and
  // after the ledger is on disk (a harness killed here leaves them to `afterlife clean`).
  state->reap_leftovers();
  return state->finish();
}

}  // namespace afterlife

// One run, step by step (docs/architecture.md "The data flow of one run"). run() reads like the
// table of contents; each step is one member function of run_state below.
#include "afterlife/harness/run.hpp"

#include "cloexec_pipe.hpp"
#include "claims.hpp"
#include "containment/containment.hpp"
#include "control_server.hpp"
#include "events/name_events.hpp"
#include "evidence/evidence.hpp"
#include "journal.hpp"
#include "output_pump.hpp"
#include "probes/probes.hpp"
#include "removal.hpp"
#include "run_dir.hpp"
#include "spawn/spawn.hpp"
#include "symbolize/symbolize.hpp"
#include "text_pattern.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <afterlife/protocol.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace afterlife {

namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

using detail::kill_wait;
// How often the run's process tree is walked while the main process runs (to know its pids
// for attribution and for orphans that later leave the process group).
constexpr auto tree_scan_interval = 50ms;
// Poll step while polling is the only way to notice something (file trigger, no pidfd).
constexpr auto poll_step = 10ms;
// Survivors inspected in detail (fds, mappings); a fork bomb's thousand get pid and command.
constexpr std::size_t detailed_survivors_max = 32;
// Process evidence read at one moment (before a signal), and in all: a fork bomb's thousand are
// not each read before every signal.
constexpr std::size_t evidence_per_moment_max = 64;
constexpr std::size_t evidence_readings_max = 512;

double ms_between(steady::time_point from, steady::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Where the interposer is, relative to the running executable: beside it (the build tree),
// then where `cmake --install` puts it (AFTERLIFE_INTERPOSER_RELATIVE, from the bin directory
// to the lib directory). The build tree's own path is used only by programs that run from the
// build tree (the tests): an installed afterlife never depends on a build tree.
std::vector<survivor_fd> fds_of(const evidence::process_evidence& process) {
  std::vector<survivor_fd> fds;
  for (const auto& fd : process.fds)
    fds.push_back({fd.fd, fd.target, fd.file_backed, fd.listening_port});
  return fds;
}

std::vector<survivor_map> maps_of(const evidence::process_evidence& process) {
  std::vector<survivor_map> maps;
  for (const auto& m : process.maps) maps.push_back({m.path, m.size, m.shared});
  return maps;
}

std::vector<std::filesystem::path> interposer_candidates() {
  auto self = detail::self_executable();
  auto dir = self.parent_path();
  std::vector<std::filesystem::path> candidates{
      dir / detail::interposer_file_name(),
      (dir / AFTERLIFE_INTERPOSER_RELATIVE / detail::interposer_file_name()).lexically_normal()};
  std::filesystem::path build = AFTERLIFE_BUILD_DIR;
  if (self.string().starts_with(build.string() + "/")) candidates.emplace_back(AFTERLIFE_INTERPOSER_BUILD_PATH);
  return candidates;
}

std::filesystem::path find_interposer(const run_options& options) {
  if (options.no_interposer) return {};
  if (!options.interposer.empty()) return options.interposer;
  if (const char* configured = std::getenv("AFTERLIFE_INTERPOSER"); configured && *configured)
    return configured;
  std::error_code ec;
  auto candidates = interposer_candidates();
  for (const auto& candidate : candidates)
    if (std::filesystem::exists(candidate, ec)) return candidate;
  throw harness_error(fmt::format(
      "interposer {} not found (looked in {}); set AFTERLIFE_INTERPOSER=PATH, or pass "
      "--no-interposer to run without attribution", detail::interposer_file_name(),
      candidates[1].parent_path().string()));
}

// Claims kept in memory: a documented bound (harness/README.md). Past it the run notes "claims
// dropped" and cannot pass `clean`.
constexpr std::size_t claims_max = 100000;
constexpr std::size_t claim_bytes_max = 64 << 20;

// A claimed file name as the probes would see it: symlinks in its directory resolved.
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
  void watch_names();
  // Why kernel name events are off for this run ("" when they are wanted).
  std::string kernel_events_off_because() const;
  void serve_until_main_exits() noexcept;
  void wait_for_descendants() noexcept;
  void end_survivors() noexcept;
  void collect_output() noexcept;
  void list_leftovers() noexcept;
  void say_where_blind() noexcept;
  // The creators' recorded frames as function (file:line), from the modules' debug information.
  void name_call_sites() noexcept;
  void judge_expectations() noexcept;
  void reap_leftovers() noexcept;
  void describe_held() noexcept;
  run_report finish() noexcept;

 private:
  // The event loop's one step: waits up to `timeout` for output, control messages or the main
  // process's exit, and handles what arrived.
  void poll_once(std::chrono::milliseconds timeout);
  void handle_message(const detail::control_message& message);
  // Whether the sender of a message is a process of the run (its pid from the kernel).
  bool sent_by_run(int pid);
  // A claim from a process of the run: kept to describe what the harness sees, and the
  // harness's cue to look at the object now and journal it if the rules let it count as the
  // run's (so that `afterlife clean` has it should this harness die).
  void take_claim(const detail::control_message& message);
  void take_intent(const detail::control_message& message);
  // Rules 1-2 for an object found now: new since the harness's snapshot (for names that cannot
  // be listed: seen absent by the harness after the run began), and not existing before.
  bool existed_before(const probes::object_entry& object) const;
  detail::removal_scope removal_scope() const;
  void on_line(std::string_view line);
  void fire(int sender, int connection);
  void on_timeout();
  void on_kill_after();
  void reap_main(bool block);
  // Process evidence (harness/README.md "Process evidence"): reads what every live process of
  // the run holds, just before the harness signals them; `moment` says when ("before --mode
  // sigkill").
  void take_evidence(const std::string& moment) noexcept;
  const evidence::process_evidence* read_evidence(evidence::reader& reader, int pid,
                                                  const std::string& moment);
  // Every process of the run now (zombies may be included), from its containment.
  std::vector<probes::process_status> run_processes();
  // SIGKILLs every process of the run until none is left or kill_wait passes.
  void kill_all();
  int youngest_descendant();
  // For a run that ended by --timeout after the mode's signal: whether the program ignored or
  // blocked it.
  void explain_ignored_signal() noexcept;
  void note(std::string text) noexcept;
  // The name events' verdicts, completed with the pids the harness saw in the run (a process
  // that had not been seen by the watch's check, e.g. before the keeper was known).
  void take_name_events();
  // The leftovers the interposer recorded outside the listed places (a server's socket in
  // /tmp): reported where they are, and kept.
  void add_outside_creations(std::vector<probes::object_entry>& found);
  // Whether a claim matches the object now at its name (inode, owner).
  static bool claim_matches(const detail::claim& c, const probes::object_entry& entry);
  // Indices of report_.leftovers in removal order: directories after what is in them.
  std::vector<std::size_t> removal_order() const;
  // The containment, for the name watch's thread (holds() under holds_mutex_).
  bool held_by_run(int pid);

  const run_options& options_;
  run_report report_;
  detail::run_dir dir_;
  detail::journal journal_;
  detail::control_server control_;
  detail::environment_block env_;
  std::vector<std::filesystem::path> watch_;
  probes::snapshot before_;
  std::vector<probes::object_entry> leftover_objects_;  // parallel to report_.leftovers
  std::unique_ptr<detail::output_stream> out_;
  std::unique_ptr<detail::output_stream> err_;
  std::optional<trigger> trigger_;
  std::optional<detail::text_pattern> line_pattern_;
  std::unique_ptr<detail::containment> contain_;
  std::mutex holds_mutex_;  // contain_ as the name watch's thread sees it
  std::unique_ptr<detail::name_watch> names_;
  std::vector<detail::name_event> name_events_;
  std::filesystem::path executable_;  // the main command, resolved (for the static check)
  bool interposer_loaded_ = false;
  int main_pid_ = 0;
  int mode_signal_ = 0;  // the signal the mode sent to the main process (0: none yet)
  std::optional<steady::time_point> kill_after_at_;
  bool main_reaped_ = false;
  // The last walk of the run's tree found no process at all, not even a zombie: nothing is left
  // to inspect, kill or reap.
  bool tree_gone_ = false;
  steady::time_point start_;
  steady::time_point main_end_;
  steady::time_point timeout_at_;
  steady::time_point next_tree_scan_;
  std::map<int, std::uint64_t> known_;  // pid -> start time of every process seen in the run
  std::set<int> walked_;  // the live processes of the run found by the last walk of its tree
  std::set<long long> uids_;             // every uid a process of the run had
  std::vector<detail::claim> claims_;
  std::size_t claim_bytes_ = 0;
  bool claims_dropped_ = false;
  int refused_senders_ = 0;
  // Names that cannot be listed (e.g. POSIX queues without /dev/mqueue): the harness probes
  // them when a process of the run announces an exclusive creation (`intent`). Seen absent
  // then: the object that appears afterwards is new; seen present: it existed before.
  std::set<std::string> seen_absent_;
  std::set<std::string> seen_present_;
  // Every reading of process evidence, in order (attribution looks at all of them: a process
  // read twice may have closed a descriptor in between), and the latest one per pid (held[]).
  struct reading {
    evidence::process_evidence process;
    std::string moment;
  };
  std::vector<reading> readings_;
  std::map<int, std::size_t> latest_reading_;
  std::map<int, int> killed_with_;  // pid -> the signal the harness sent to end it (SIGKILL)
};

run_state::run_state(const run_options& options)
    : options_(options),
      dir_(options.runtime_dir),
      journal_(dir_.fd()),
      control_(dir_.socket(), detail::privileged_harness() ? 0666 : 0600) {
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
  journal_.begin(dir_.id(), options.reap, watch_.back(),
                 std::vector<std::filesystem::path>(watch_.begin(), watch_.end() - 1));
  uids_.insert(geteuid());  // the main process starts as the harness's uid
}

run_state::~run_state() = default;

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
  interposer_loaded_ = !request.interposer.empty();
  if (!interposer_loaded_)
    note("--no-interposer: attribution is limited to SysV creator pids, kernel name events and "
         "the run's TMPDIR");
  start_ = steady::now();
  next_tree_scan_ = start_ + tree_scan_interval;
  detail::spawned child;
  try {
    {
      std::lock_guard lock(holds_mutex_);
      contain_ = detail::containment::create(dir_);
    }
    request.contain = contain_.get();
    try {
      executable_ = detail::resolve_command(options_.command.front());
    } catch (const harness_error&) {  // the spawn's own lookup says what is wrong
    }
    watch_names();
    try {
      child = detail::spawn(request);
    } catch (const detail::containment_refused& refused) {
      // Another mechanism, and the spawn again: the child never reached its exec.
      contain_->release();
      {
        std::lock_guard lock(holds_mutex_);
        contain_ = detail::containment::create(dir_, refused.what());
      }
      request.contain = contain_.get();
      child = detail::spawn(request);
    }
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
  report_.containment = std::string(contain_->mechanism());
  report_.containment_detail = contain_->description();
  if (auto limits = contain_->limitation(); !limits.empty()) note(limits);
  known_[main_pid_] = 0;
}

// From the spawn on: /dev/shm and the watched directories (the run's TMPDIR among them).
void run_state::watch_names() {
  std::vector<std::filesystem::path> dirs = probes::ipc_directories();
  dirs.insert(dirs.end(), watch_.begin(), watch_.end());
  names_ = detail::name_watch::start(dirs, [this](int pid) { return held_by_run(pid); },
                                     kernel_events_off_because());
  report_.sight.use(attribution_source::listing);
  if (interposer_loaded_) report_.sight.use(attribution_source::interposer);
  if (names_->names_creators()) report_.sight.use(attribution_source::fanotify);
}

// Kernel name events cost every run the kernel's teardown of an fanotify group (an SRCU grace
// period: ~15 ms on this VM, more than the rest of a short run together). They are what sees
// creations past the interposer, so they are on where the interposer cannot see — a statically
// linked main program, or --no-interposer — and off for a dynamic program, whose raw syscalls
// and static children are then seen only by process evidence (at a harness-chosen end) and the
// listing diff. AFTERLIFE_KERNEL_EVENTS=1 turns them on for every run, =0 off.
std::string run_state::kernel_events_off_because() const {
  const char* setting = std::getenv("AFTERLIFE_KERNEL_EVENTS");
  std::string_view asked = setting != nullptr ? setting : "";
  if (asked == "1") return {};
  if (asked == "0")
    return "turned off (AFTERLIFE_KERNEL_EVENTS=0): names made past the interposer are found "
           "by the listing diff only";
  bool interposer_blind = !interposer_loaded_ ||
                          (!executable_.empty() && !detail::dynamically_linked(executable_));
  if (interposer_blind) return {};
  return "off for a dynamically linked program (each fanotify group costs a run ~15 ms to tear "
         "down): raw syscalls and statically linked children are seen only by process evidence "
         "and the listing diff; AFTERLIFE_KERNEL_EVENTS=1 turns them on";
}

bool run_state::held_by_run(int pid) {
  std::lock_guard lock(holds_mutex_);
  return contain_ && contain_->holds(pid);
}

void run_state::reap_main(bool block) {
  if (main_reaped_) return;
  auto ended = contain_->wait_main(block);
  if (!ended) return;
  main_reaped_ = true;
  main_end_ = steady::now();
  report_.duration_ms = ms_between(start_, main_end_);
  if (!ended->known) {
    note("the run's keeper process was killed: the main process's exit status is lost");
    return;
  }
  int status = ended->status;
  report_.max_rss_kib = detail::max_rss_kib(ended->usage);
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
  int exit_watch = contain_->exit_watch();
  if (exit_watch >= 0 && !main_reaped_) fds.push_back({exit_watch, POLLIN, 0});
  std::size_t outputs_at = fds.size();
  for (auto* stream : {out_.get(), err_.get()})
    if (stream->open()) fds.push_back({stream->fd(), POLLIN, 0});
  std::size_t control_at = fds.size();
  control_.add_poll_fds(fds);
  if (exit_watch < 0 && !main_reaped_) timeout = std::min<std::chrono::milliseconds>(timeout, poll_step);
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
  bool matched = false;
  try {
    matched = line_pattern_->search(line);
  } catch (const std::exception& e) {  // too complex to match: the line does not fire it
    note(fmt::format("--at line: could not match a line: {}", e.what()));
  }
  if (matched) fire(0, -1);
}

bool run_state::sent_by_run(int pid) {
  // Found in the run's tree by the last walk (one every 50 ms while the run lasts): the sender
  // is connected, so alive, and its pid could only be another process's if the pid space
  // wrapped around since that walk.
  if (walked_.count(pid) != 0) return true;
  // Born since the last walk of the tree: walk it now.
  run_processes();
  return walked_.count(pid) != 0;
}

void run_state::handle_message(const detail::control_message& message) {
  if (!sent_by_run(message.pid)) {
    ++refused_senders_;
    control_.refuse(message.connection,
                    fmt::format("pid {} is not a process of this run", message.pid));
    return;
  }
  uids_.insert(message.uid);
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
  if (message.verb == "register" || message.verb == "record") take_claim(message);
  if (message.verb == "intent") take_intent(message);
  // Answered after the journal write that the claim led to has returned: once acknowledged,
  // what the harness saw survives the harness.
  control_.answer(message.connection, "ok");  // register / unregister / record / intent
}

void run_state::take_claim(const detail::control_message& message) {
  std::size_t bytes = message.name.size() + message.site.size() + 64;
  for (const auto& caller : message.callers) bytes += caller.size();
  if (claims_.size() >= claims_max || claim_bytes_ + bytes > claim_bytes_max) {
    if (!claims_dropped_) {
      claims_dropped_ = true;
      note(fmt::format("claims dropped: more than {} claims or {} MiB", claims_max,
                       claim_bytes_max >> 20));
      journal_.note("claims dropped");
    }
    return;
  }
  claim_bytes_ += bytes;
  detail::claim c{message.kind, message.pid, message.inode,
                  message.verb == "register" ? detail::registration_site : message.site,
                  protocol::is_file_kind(message.kind) ? comparable_path(message.name) : message.name,
                  message.callers, static_cast<long long>(message.uid)};
  // The harness's own look: what exists under that name now, if anything.
  try {
    if (auto now = probes::probe_named(c.kind, c.name)) {
      bool sysv_by_run = c.kind != "sysv_shm" || known_.count(now->creator_pid) != 0;
      if (now->uid == c.uid && !existed_before(*now) && sysv_by_run &&
          detail::why_kept(*now, removal_scope()).empty())
        journal_.seen(*now);
    }
  } catch (const std::exception& e) {
    note(fmt::format("looking at a claimed object failed: {}", e.what()));
  }
  claims_.push_back(std::move(c));
}

void run_state::take_intent(const detail::control_message& message) {
  if (probes::listable(message.kind)) return;  // the snapshot knows
  std::string key;
  probes::make_key(message.kind, message.name, key);
  if (probes::probe_named(message.kind, message.name)) {
    seen_present_.insert(key);
  } else {
    seen_absent_.insert(key);
  }
}

bool run_state::existed_before(const probes::object_entry& object) const {
  std::string key;
  probes::make_key(object.kind, object.name, key);
  if (probes::listable(object.kind)) return before_.has_name(key);
  // Not listable: new only if the harness itself saw the name absent after the run began, and
  // never saw it present before an exclusive creation; a SysV segment (macOS) by the kernel's
  // creator pid being one of the run's.
  if (object.kind == "sysv_shm" && known_.count(object.creator_pid) != 0) return false;
  return seen_present_.count(key) != 0 || seen_absent_.count(key) == 0;
}

detail::removal_scope run_state::removal_scope() const {
  detail::removal_scope scope;
  scope.policy = options_.reap;
  scope.tmpdir = watch_.back();
  scope.watched.assign(watch_.begin(), watch_.end() - 1);
  scope.uids = uids_;
  return scope;
}

void run_state::fire(int sender, int connection) {
  report_.trigger_fired = true;
  // Learn the whole tree while it still hangs below the main process: a child born since the
  // last scan (CPython's resource tracker, just spawned) is then known after it is orphaned.
  run_processes();
  if (options_.mode != exit_mode::natural)
    take_evidence(fmt::format("before --mode {}", to_string(options_.mode)));
  switch (options_.mode) {
    case exit_mode::sigterm:
    case exit_mode::sigint:
    case exit_mode::sigkill:
    case exit_mode::abort: {
      int sig = options_.mode == exit_mode::sigterm  ? SIGTERM
                : options_.mode == exit_mode::sigint ? SIGINT
                : options_.mode == exit_mode::sigkill ? SIGKILL
                                                      : SIGABRT;
      // The main process only (systemd's KillMode=process): what its descendants do then is
      // part of what the run shows.
      kill(main_pid_, sig);
      if (sig == SIGKILL) killed_with_[main_pid_] = SIGKILL;
      mode_signal_ = sig;
      report_.action = fmt::format("SIG{} sent to pid {}", signal_name(sig), main_pid_);
      if (options_.kill_after && sig != SIGKILL)
        kill_after_at_ = steady::now() + *options_.kill_after;
      break;
    }
    case exit_mode::group_kill: {
      // The process group only, as a CI runner or a terminal ends a job: a descendant that left
      // the group (setsid, like a detached resource tracker or a daemon) survives it. That
      // difference is what the mode exists to show (docs/architecture.md "What each way of
      // dying leaves"); survivors are still inspected and ended after --grace.
      std::size_t members = 0;
      for (const auto& p : run_processes()) {
        if (p.pgid != main_pid_ || p.zombie) continue;
        ++members;
        killed_with_[p.pid] = SIGKILL;
      }
      kill(-main_pid_, SIGKILL);
      report_.action = fmt::format("SIGKILL sent to process group {} ({} processes)", main_pid_,
                                   members);
      break;
    }
    case exit_mode::tree_kill: {
      for (const auto& p : run_processes())
        if (!p.zombie) killed_with_[p.pid] = SIGKILL;
      // Every process of the run at once, wherever it went (KillMode=control-group, `docker
      // kill`): even a detached resource tracker dies before it can clean up.
      std::size_t members = contain_->kill_all();
      report_.action = fmt::format("SIGKILL sent to every process of the run ({} processes, {})",
                                   members, contain_->mechanism() == "cgroup"
                                                ? "cgroup.kill"
                                                : "one kill(2) each");
      break;
    }
    case exit_mode::child_death: {
      bool sender_is_child = false;
      if (sender != 0 && sender != main_pid_) {
        for (const auto& p : run_processes()) sender_is_child = sender_is_child || p.pid == sender;
      }
      int victim = sender_is_child ? sender : youngest_descendant();
      if (victim == 0) {
        report_.action = "no child to kill";
        note("child-death: the main process had no child when the trigger fired");
      } else {
        kill(victim, SIGKILL);
        killed_with_[victim] = SIGKILL;
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
  if (!report_.interrupted) {
    note(fmt::format("timed out after {} ms: the whole process tree was killed",
                     options_.timeout.count()));
    explain_ignored_signal();
  }
  take_evidence("before the timeout's SIGKILL");
  kill_all();
}

void run_state::explain_ignored_signal() noexcept {
  try {
    if (mode_signal_ == 0 || mode_signal_ == SIGKILL || main_reaped_) return;
    auto state = detail::signal_state_of(main_pid_, mode_signal_);
    if (!state) return;
    std::string name = "SIG" + signal_name(mode_signal_);
    if (state->ignored)
      note(fmt::format("pid {} ignores {} (SigIgn): the signal did nothing", main_pid_, name));
    else if (state->blocked)
      note(fmt::format("pid {} blocks {} in every thread (SigBlk): the signal is still pending",
                       main_pid_, name));
    else if (state->caught)
      note(fmt::format("pid {} catches {} (SigCgt) and did not end", main_pid_, name));
  } catch (...) {  // a note the report goes without
  }
}

// --kill-after (as `timeout -k`): the main process outlived its SIGTERM/SIGINT that long.
void run_state::on_kill_after() {
  kill_after_at_.reset();
  std::size_t alive = 0;
  for (const auto& p : run_processes()) alive += !p.zombie;
  take_evidence("before --kill-after's SIGKILL");
  kill_all();
  report_.killed_after = true;
  report_.action += fmt::format(
      "; still running after --kill-after {} ms: SIGKILL sent to every process of the run ({})",
      options_.kill_after->count(), alive);
}

void run_state::take_evidence(const std::string& moment) noexcept {
  try {
    evidence::reader reader;
    std::size_t read = 0;
    for (const auto& p : run_processes()) {
      if (p.zombie) continue;
      if (read++ == evidence_per_moment_max) {
        note(fmt::format("process evidence {}: only {} processes read", moment,
                         evidence_per_moment_max));
        break;
      }
      read_evidence(reader, p.pid, moment);
    }
  } catch (const std::exception& e) {
    note(fmt::format("reading process evidence {} failed: {}", moment, e.what()));
  }
}

const evidence::process_evidence* run_state::read_evidence(evidence::reader& reader, int pid,
                                                           const std::string& moment) {
  if (readings_.size() >= evidence_readings_max) {
    note(fmt::format("process evidence: more than {} readings, the rest not read",
                     evidence_readings_max));
    return nullptr;
  }
  readings_.push_back({reader.read(pid), moment});
  for (auto& text : readings_.back().process.notes) note(text);
  latest_reading_[pid] = readings_.size() - 1;
  return &readings_.back().process;
}

std::vector<probes::process_status> run_state::run_processes() {
  auto found = contain_->processes();
  walked_.clear();
  for (const auto& p : found) {
    known_[p.pid] = p.start_time;
    if (p.uid >= 0) uids_.insert(p.uid);
    if (!p.zombie) walked_.insert(p.pid);
  }
  return found;
}

void run_state::kill_all() {
  auto give_up = steady::now() + kill_wait;
  bool first = true;
  while (steady::now() < give_up) {
    auto processes = run_processes();
    reap_main(false);
    bool alive = std::any_of(processes.begin(), processes.end(),
                             [](const probes::process_status& p) { return !p.zombie; });
    if (!alive) return;
    // All at once first (cgroup.kill), then whatever a fork let slip, one by one.
    if (first) contain_->kill_all();
    first = false;
    for (const auto& p : processes) {
      if (p.zombie) continue;
      kill(p.pid, SIGKILL);
      killed_with_[p.pid] = SIGKILL;
    }
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
    reap_main(false);
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
      if (kill_after_at_ && now >= *kill_after_at_ && !report_.timed_out) on_kill_after();
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
      if (kill_after_at_)
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*kill_after_at_ - now) + 1ms);
      if (trigger_ && trigger_->what == trigger::kind::file) wait = std::min<std::chrono::milliseconds>(wait, poll_step);
      if (report_.timed_out) wait = std::min<std::chrono::milliseconds>(wait, poll_step);
      poll_once(wait);
      reap_main(false);
    }
  } catch (const std::exception& e) {
    note(fmt::format("serving the run failed: {}; killing it", e.what()));
    kill_all();
    reap_main(false);
  }
}

void run_state::wait_for_descendants() noexcept {
  try {
    auto grace_end = std::min((main_reaped_ ? main_end_ : steady::now()) + options_.grace,
                              start_ + options_.timeout);
    for (;;) {
      auto processes = run_processes();
      reap_main(false);
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
    evidence::reader reader;
    for (const auto& p : run_processes()) {
      if (p.zombie || p.pid == main_pid_) continue;
      survivor s;
      s.pid = p.pid;
      s.ppid = p.ppid;
      s.uid = p.uid;
      const evidence::process_evidence* seen = nullptr;
      if (report_.survivors.size() < detailed_survivors_max)
        seen = read_evidence(reader, p.pid, "as a survivor, before SIGKILL");
      if (seen != nullptr) {
        s.command = seen->command;
        s.comm = seen->comm;
        s.state = seen->state;
        s.ppid = seen->ppid;
        s.exe = seen->exe;
        s.fds = fds_of(*seen);
        s.maps = maps_of(*seen);
      } else {
        s.command = probes::command_of(p.pid);
      }
      report_.survivors.push_back(std::move(s));
    }
    std::sort(report_.survivors.begin(), report_.survivors.end(),
              [](const survivor& a, const survivor& b) { return a.pid < b.pid; });
    kill_all();
    reap_main(false);
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

bool run_state::claim_matches(const detail::claim& c, const probes::object_entry& entry) {
  if (c.inode != 0 && entry.inode != 0 && c.inode != entry.inode) return false;
  // A process confirms only what its own uid owns: a child that dropped to `nobody` cannot
  // claim a root object that appeared meanwhile.
  return entry.uid < 0 || c.uid == entry.uid;
}

void run_state::take_name_events() {
  if (!names_) return;
  name_events_ = names_->finish();
  for (auto& event : name_events_)
    if (!event.by_run && event.pid > 0 && known_.count(event.pid) != 0) event.by_run = true;
}

void run_state::list_leftovers() noexcept {
  try {
    take_name_events();
    // Claims by kind and name (files under one kind: a socket may be claimed as a file; a
    // file opened in /dev/shm is a POSIX shm segment).
    std::unordered_multimap<std::string, const detail::claim*> claimed;
    std::string key;
    auto claim_key = [&](std::string_view kind, std::string_view name) {
      if (protocol::is_file_kind(kind))
        key = probes::key_of_path(std::string(name), kind == "directory");
      else
        probes::make_key(kind, name, key);
      return key;
    };
    for (const auto& c : claims_) claimed.emplace(claim_key(c.kind, c.name), &c);
    // The last event for each name: who made what is at that name now.
    std::unordered_map<std::string, const detail::name_event*> made;
    for (const auto& event : name_events_)
      made[probes::key_of_path(event.path, event.directory)] = &event;

    // A name made again during the run (an event, an exclusive creation recorded) is new even
    // when its inode number is the old one's.
    auto renewed = [&](std::string_view kind, std::string_view name) {
      auto k = claim_key(kind, name);
      return made.count(k) != 0 || claimed.count(k) != 0;
    };
    auto after = probes::new_since(before_, watch_, renewed);
    for (auto& text : after.notes) note(text);

    evidence::holdings held;
    for (std::size_t i = 0; i < readings_.size(); ++i) held.add(readings_[i].process, i);
    if (!readings_.empty()) report_.sight.use(attribution_source::process);

    std::vector<probes::object_entry> found;
    for (auto& entry : after.objects) {
      // Other runs' private directories under a watched parent are theirs to report.
      if (protocol::is_file_kind(entry.kind) && detail::is_below(entry.path, dir_.top()) &&
          !detail::is_below(entry.path, watch_.back()))
        continue;
      probes::complete(entry);
      found.push_back(std::move(entry));
    }
    // What cannot be listed here is asked for by name, from the claims.
    std::set<std::string> probed;
    for (const auto& c : claims_) {
      if (probes::listable(c.kind)) continue;
      probes::make_key(c.kind, c.name, key);
      if (!probed.insert(key).second) continue;
      if (auto entry = probes::probe_named(c.kind, c.name)) found.push_back(*entry);
    }
    const std::size_t listed = found.size();
    add_outside_creations(found);

    for (std::size_t index = 0; index < found.size(); ++index) {
      auto& entry = found[index];
      leftover l;
      l.outside = index >= listed;
      l.kind = entry.kind;
      l.name = entry.name;
      l.path = entry.path;
      l.size = entry.size;
      l.cleanup = probes::cleanup_command(entry);
      auto [first, last] = claimed.equal_range(claim_key(entry.kind, entry.name));
      for (auto it = first; it != last; ++it) {
        const detail::claim& c = *it->second;
        if (!claim_matches(c, entry)) continue;
        // A runtime registration confirms what the interposer saw; it must not replace the
        // call site the interposer recorded.
        bool keep_site = l.attributed && c.site == detail::registration_site;
        l.attribute(attribution_source::interposer);
        if (!keep_site) l.creator = creator_info{c.pid, c.site, c.callers};
      }
      // Renamed or linked here (write-then-rename): the first claim of the same file (inode,
      // owner) under another name made it; its site is the creator's.
      if (l.attributed && entry.inode != 0 && protocol::is_file_kind(entry.kind)) {
        for (const auto& c : claims_) {
          if (c.inode != entry.inode || c.name == entry.name || !protocol::is_file_kind(c.kind) ||
              !claim_matches(c, entry))
            continue;
          l.moved_from = c.name;
          l.creator = creator_info{c.pid, c.site, c.callers};
          break;
        }
      }
      if (auto event = made.find(claim_key(entry.kind, entry.name));
          event != made.end() && event->second->by_run) {
        l.attribute(attribution_source::fanotify);
        if (!l.creator)
          l.creator = creator_info{event->second->pid, "no call site (a kernel event)", {}};
      }
      if (entry.kind == "sysv_shm" && known_.count(entry.creator_pid) != 0) {
        if (!l.attributed)
          l.creator = creator_info{entry.creator_pid, "shmget (creator pid from the kernel)", {}};
        l.attribute(attribution_source::kernel);
      }
      // A process of the run had it open or mapped (by device and inode, never by name alone).
      if (auto holder = held.find(entry)) {
        if (!l.attributed)
          l.creator = creator_info{holder->pid,
                                   fmt::format("held it as {} {} (process evidence)",
                                               holder->how, readings_[holder->tag].moment), {}};
        l.attribute(attribution_source::process);
      }
      if (protocol::is_file_kind(entry.kind) && detail::is_below(entry.path, watch_.back()))
        l.attribute(attribution_source::tmpdir);  // the run's private TMPDIR: nobody else writes there
      report_.leftovers.push_back(std::move(l));
      leftover_objects_.push_back(entry);
    }
  } catch (const std::exception& e) {
    note(fmt::format("listing leftovers failed: {}", e.what()));
  }
}

void run_state::add_outside_creations(std::vector<probes::object_entry>& found) {
  std::set<std::string> have;
  std::string key;
  for (const auto& entry : found) {
    probes::make_key(protocol::is_file_kind(entry.kind) ? "file" : entry.kind, entry.name, key);
    have.insert(key);
  }
  auto ipc_dirs = probes::ipc_directories();
  auto listed_place = [&](const std::string& path) {
    auto below = [&](const std::filesystem::path& dir) { return detail::is_below(path, dir); };
    return std::any_of(watch_.begin(), watch_.end(), below) ||
           std::any_of(ipc_dirs.begin(), ipc_dirs.end(), below) || below(dir_.top());
  };
  for (const auto& c : claims_) {
    if (!protocol::is_file_kind(c.kind) || listed_place(c.name)) continue;
    probes::make_key("file", c.name, key);
    if (!have.insert(key).second) continue;
    auto entry = probes::probe_named(c.kind, c.name);
    if (!entry || !claim_matches(c, *entry)) continue;
    // The interposer's kind where the claim says what it made (a socket, a FIFO); a renamed
    // file is whatever the link hook found.
    entry->kind = c.kind;
    found.push_back(std::move(*entry));
  }
}

// Where the harness knows it could not see: in the report, never a silent pass.
void run_state::say_where_blind() noexcept {
  try {
    auto& blind = report_.sight.blind;
    bool creators_from_events = names_ && names_->names_creators();
    if (!interposer_loaded_) {
      blind.push_back({"interposer", "not loaded (--no-interposer): no call sites, and names "
                                     "outside the listed places are not seen at all"});
    } else if (!executable_.empty() && !detail::dynamically_linked(executable_)) {
      blind.push_back({"interposer", fmt::format(
          "{} is statically linked: the interposer cannot enter it{}", executable_.string(),
          creators_from_events ? " (kernel events still name its creations in /dev/shm and the "
                                 "watched directories)"
                               : ", and nothing else here names who creates what")});
    }
    if (names_ && !names_->limitation().empty())
      blind.push_back({"kernel events", names_->limitation()});
    // A process of the run whose uid is not the harness's cannot reach a 0600 control socket.
    if (!detail::privileged_harness()) {
      for (long long uid : uids_)
        if (uid != static_cast<long long>(geteuid()))
          blind.push_back({fmt::format("processes of uid {}", uid),
                           "the control socket is the harness's uid's only: their interposer "
                           "records could not be sent"});
    }
    // Names made past the interposer by a process already gone when its event was read.
    for (const auto& l : report_.leftovers) {
      if (l.attributed) continue;
      std::string key = probes::key_of_path(l.path, l.kind == "directory");
      for (const auto& event : name_events_) {
        if (event.by_run || event.pid <= 0 ||
            probes::key_of_path(event.path, event.directory) != key)
          continue;
        blind.push_back({l.path, fmt::format("made by pid {}, gone before the harness could "
                                             "tell whether it was a process of the run",
                                             event.pid)});
        break;
      }
    }
  } catch (const std::exception& e) {
    note(fmt::format("describing what the harness could not see failed: {}", e.what()));
  }
}

void run_state::name_call_sites() noexcept {
  try {
    detail::debug_info symbols;
    for (auto& l : report_.leftovers) {
      if (!l.creator) continue;
      l.creator->site = detail::describe_frame(l.creator->site, symbols);
      for (auto& caller : l.creator->callers) caller = detail::describe_frame(caller, symbols);
    }
  } catch (const std::exception& e) {
    note(fmt::format("naming call sites failed: {}", e.what()));
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
    // What the harness could not keep track of may have been a leak.
    if (claims_dropped_ || journal_.full()) {
      report_.expectations.push_back(
          {"claims complete", false, claims_dropped_ ? "claims dropped" : "journal full"});
      report_.pass = false;
    }
    if (refused_senders_ > 0)
      note(fmt::format("{} messages refused: their senders are not processes of this run",
                       refused_senders_));
    if (control_.evicted() > 0)
      note(fmt::format("{} idle control connections closed to make room", control_.evicted()));
    // A run that had to be killed for hanging never passes, whatever else was expected.
    if (report_.timed_out) {
      report_.expectations.push_back(
          {"no timeout", false, report_.interrupted ? "interrupted" : "timed out"});
      report_.pass = false;
    }
    // A signal mode whose trigger never came did not test what it was asked to: the program
    // ended first, or the line, file or checkpoint never came.
    if (trigger_ && !report_.trigger_fired && !report_.timed_out) {
      report_.expectations.push_back({"trigger fired", false, "trigger never fired"});
      report_.pass = false;
    }
  } catch (const std::exception& e) {
    report_.pass = false;
    note(fmt::format("judging failed: {}", e.what()));
  }
}

std::vector<std::size_t> run_state::removal_order() const {
  std::vector<std::size_t> order(report_.leftovers.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Directories last, deepest first: a directory goes only once what was in it has gone.
  auto depth = [&](std::size_t i) {
    const auto& l = report_.leftovers[i];
    return l.kind == "directory" ? static_cast<long>(l.path.size()) : -1;
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    bool dir_a = report_.leftovers[a].kind == "directory";
    bool dir_b = report_.leftovers[b].kind == "directory";
    if (dir_a != dir_b) return dir_b;
    return dir_a && depth(a) > depth(b);
  });
  return order;
}

void run_state::reap_leftovers() noexcept {
  auto scope = removal_scope();
  for (std::size_t i : removal_order()) {
    leftover& l = report_.leftovers[i];
    const probes::object_entry& object = leftover_objects_[i];
    if (!l.attributed) {
      l.kept = "not created by this run";
      continue;
    }

    // Rule 1: a name that existed before the run is never removed, whatever inode it has now.
    if (existed_before(object)) {
      l.kept = probes::listable(object.kind)
                   ? "the name existed before the run"
                   : "the harness did not see the name absent after the run began (it cannot "
                     "list this namespace)";
      continue;
    }
    // Rule 2 for SysV shm, whose creator the kernel names: a claim matched the segment, but
    // only a creator the harness saw in the run's tree makes it the run's to remove.
    if (object.kind == "sysv_shm" && known_.count(object.creator_pid) == 0) {
      l.kept = fmt::format("its creator, pid {} (from the kernel), is no process of the run",
                           object.creator_pid);
      continue;
    }
    l.kept = detail::why_kept(object, scope);
    if (!l.kept.empty()) continue;
    // A directory of the run goes only if everything found in it was the run's and is gone
    // (and rmdir refuses one that still holds anything).
    if (l.kind == "directory" &&
        std::any_of(report_.leftovers.begin(), report_.leftovers.end(), [&](const leftover& in) {
          return detail::is_below(in.path, l.path) && !in.reaped;
        })) {
      l.kept = "it holds entries that are kept or not the run's";
      continue;
    }
    // On disk before it goes: a harness killed from here on leaves it to `afterlife clean`.
    journal_.seen(object);
    auto ec = detail::remove_within(object, scope);
    l.reaped = !ec;
    if (ec) l.reap_error = ec.message();
  }
}

void run_state::describe_held() noexcept {
  try {
    latest_reading_.try_emplace(main_pid_, readings_.size());  // listed even when never read
    for (const auto& [pid, index] : latest_reading_) {
      held_process h;
      h.pid = pid;
      if (index < readings_.size()) {
        const reading& r = readings_[index];
        h.command = r.process.command;
        h.comm = r.process.comm;
        h.read_at = r.moment;
        h.fds = fds_of(r.process);
        h.maps = maps_of(r.process);
      } else if (pid == main_pid_) {
        h.command = fmt::format("{}", fmt::join(options_.command, " "));
      }
      auto killed = killed_with_.find(pid);
      h.killed_by_harness = killed != killed_with_.end();
      if (pid == main_pid_ && main_reaped_) {
        h.exit = report_.exit;
        h.status_known = true;
      } else if (h.killed_by_harness) {
        h.exit.pid = pid;
        h.exit.signal = killed->second;
        h.exit.signal_name = signal_name(killed->second);
      } else {
        h.exit.pid = pid;
      }
      report_.held.push_back(std::move(h));
    }
  } catch (const std::exception& e) {
    note(fmt::format("describing what the processes held failed: {}", e.what()));
  }
}

run_report run_state::finish() noexcept {
  // Every process of the run is gone (or the harness gave up on it): before the run directory,
  // which holds the containment's record.
  if (contain_) contain_->release();
  journal_.finish();
  if (options_.reap != reap_policy::none) {
    dir_.remove();
  } else {
    dir_.keep();
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
  if (options.kill_after && options.mode != exit_mode::sigterm && options.mode != exit_mode::sigint)
    throw std::invalid_argument("--kill-after needs --mode sigterm or --mode sigint");
  // Usage errors and a missing interposer before the run directory exists: nothing is left.
  for (const auto& dir : options.watch) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw std::invalid_argument("--watch " + dir.string() + ": " +
                                  (ec ? ec.message() : std::string("not a directory")));
  }
  (void)find_interposer(options);
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
    state.reset();  // removes the run directory: nothing ran
    throw;
  }
  state->serve_until_main_exits();
  // Before listing leftovers: a descendant still running may still create or remove them.
  state->wait_for_descendants();
  state->end_survivors();
  state->collect_output();
  state->list_leftovers();
  state->say_where_blind();
  state->describe_held();
  state->name_call_sites();
  state->judge_expectations();
  // After judging (the verdict is about what was left, not what remains after cleanup), and
  // each object is in the journal before it is removed (a harness killed here leaves the rest
  // to `afterlife clean`).
  state->reap_leftovers();
  return state->finish();
}

}  // namespace afterlife

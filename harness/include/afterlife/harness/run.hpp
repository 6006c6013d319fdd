// One run: spawn a command, end it the way asked, wait for what outlives it, list what it
// left behind, judge expectations, reap (docs/architecture.md "The data flow of one run").
//
//   afterlife::run_options options;
//   options.command = {"./prog", "--exit", "wait"};
//   options.mode = afterlife::exit_mode::sigkill;
//   options.at = afterlife::parse_trigger("checkpoint:ready");
//   afterlife::run_report report = afterlife::run(options);
//   nlohmann::json j = afterlife::to_json(report);
//
// Runs may execute concurrently in threads of one process (afterlife matrix): a run keeps its
// state in its own objects, its processes in its own container (a cgroup, or a keeper process
// that is their subreaper; see harness/README.md "Containment"), so that runs never claim each
// other's orphans.
#pragma once

#include "afterlife/harness/expectations.hpp"
#include "afterlife/harness/modes.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace afterlife {

// exit_mode and its names: afterlife/harness/modes.hpp.
// What a run removes of what it saw its processes create (harness/README.md, "What afterlife
// removes, and what it never touches"): ipc (default) IPC objects and the run's TMPDIR; files
// files, sockets and FIFOs in watched directories and the run's TMPDIR; all both; none nothing.
enum class reap_policy { none, ipc, files, all };

struct trigger {
  enum class kind { checkpoint, line, delay, file };
  kind what = kind::checkpoint;
  std::string argument;  // checkpoint name ("" = any), regex, or path
  std::chrono::milliseconds delay{0};
  std::string text() const;  // as written on the command line
};

// The longest duration a run accepts (--timeout, --grace, --at delay:).
inline constexpr std::chrono::milliseconds duration_max{100LL * 24 * 3600 * 1000};
// "500ms", "2s", "1.5s", "3m", "1h"; a bare number is seconds; at most duration_max. Throws
// std::invalid_argument.
std::chrono::milliseconds parse_duration(std::string_view text);
// Throws std::invalid_argument.
exit_mode parse_mode(std::string_view text);
std::string_view to_string(exit_mode mode);
trigger parse_trigger(std::string_view text);
// reap_policy as written on the command line (`--reap none|ipc|files|all`), and back.
std::string_view to_string(reap_policy policy);
std::optional<reap_policy> parse_reap_policy(std::string_view text);

// The harness could not do its job (exit status 3): command not found, no run directory, ...
struct harness_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct run_options {
  std::vector<std::string> command;  // argv; argv[0] is looked up in PATH
  exit_mode mode = exit_mode::natural;
  // Default: the first checkpoint when the executable uses the control client (it contains
  // the string AFTERLIFE_SOCKET), else immediately after start.
  std::optional<trigger> at;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds grace{std::chrono::seconds(1)};
  // sigterm/sigint (as `timeout -k`): SIGKILL every process of the run still alive this long
  // after the signal, if the main process is.
  std::optional<std::chrono::milliseconds> kill_after;
  std::vector<std::filesystem::path> watch;  // the run's TMPDIR is always watched
  std::vector<expectation> expect;           // empty: `clean`
  bool strict = false;
  reap_policy reap = reap_policy::ipc;
  std::vector<std::pair<std::string, std::string>> env;  // set in the child's environment
  // Where the child's stdout/stderr are copied as they arrive (-1: not copied). The CLI passes
  // its own 1 and 2; `--json -` sends both to 2.
  int copy_stdout_to = 1;
  int copy_stderr_to = 2;
  bool inherit_stdin = true;  // else /dev/null
  // Empty: $AFTERLIFE_INTERPOSER, else found relative to the executable (harness/README.md); a
  // run whose interposer cannot be found fails (harness_error) unless no_interposer is set.
  std::filesystem::path interposer;
  bool no_interposer = false;
  // Empty: $AFTERLIFE_RUNTIME_DIR, $XDG_RUNTIME_DIR, /run/user/<uid>, /dev/shm, /tmp.
  std::filesystem::path runtime_dir;
  // Set (e.g. from a SIGINT handler) to stop the run early: the tree is killed as on --timeout
  // and the report says so.
  const std::atomic<bool>* interrupted = nullptr;
};

struct exit_info {
  int pid = 0;
  bool exited = false;  // else killed by a signal
  int code = 0;
  int signal = 0;
  std::string signal_name;
  bool core_dumped = false;
  int raw_status = 0;
};

struct phase_record {
  std::string name;
  double begin_ms = 0;
  std::optional<double> end_ms;
};

// A descriptor as the harness read it: a path, a pipe, or a socket decoded ("tcp
// 127.0.0.1:5577 LISTEN", "unix /run/x.sock (listening)"; harness/README.md "Process evidence").
struct survivor_fd {
  int fd = 0;
  std::string target;
  bool file_backed = false;     // a file in the file system
  bool listening_port = false;  // a listening TCP socket or a bound, unconnected UDP socket
  // What `held` lists and `held_fds=N` counts, as valgrind --track-fds=yes lists descriptors
  // open at exit: files and sockets with an address (not pipes, not unnamed Unix sockets such as
  // the interposer's connection, not the standard three).
  bool counts_as_held() const {
    return fd > 2 && (file_backed || target.starts_with("tcp ") || target.starts_with("udp ") ||
                      target.starts_with("unix /") || target.starts_with("unix @"));
  }
};
// A file-backed mapping (anonymous ones are left out), sizes summed per file.
struct survivor_map {
  std::string path;
  std::uint64_t size = 0;
  bool shared = false;
};
struct survivor {
  int pid = 0;
  std::string command;  // "" for one caught mid-exit: comm and state say what it was
  std::string comm;
  std::string state;  // "sleeping", "running", "disk sleep", "stopped", ...
  int ppid = 0;
  long long uid = -1;
  std::string exe;
  std::vector<survivor_fd> fds;
  std::vector<survivor_map> maps;
};

// What a process of the run held when it ended (`held[]`): read by the harness just before it
// ended it (the mode's signal, a timeout's or a survivor's SIGKILL). The main process is always
// listed; one that ended on its own before the harness looked has `read_at` "".
struct held_process {
  int pid = 0;
  std::string command;
  std::string comm;
  // How it ended: the main process's wait status (status_known), else the signal the harness
  // sent it (SIGKILL, never caught), else nothing known (it ended on its own; its parent reaped
  // it).
  exit_info exit;
  bool status_known = false;
  bool killed_by_harness = false;
  std::string read_at;  // e.g. "before SIGKILL"
  std::vector<survivor_fd> fds;
  std::vector<survivor_map> maps;
};

struct creator_info {
  int pid = 0;
  std::string site;                  // where the creating call was made
  std::vector<std::string> callers = {};  // what called site, innermost first (may be empty)
};

// What made the harness count a leftover as the run's (leftover::sources) and which of them
// a run used (attribution::sources), one name each — a new source is one more name here:
//   interposer  a `record` or `register` from a process of the run (the kernel names the sender)
//   fanotify    a kernel event whose creator pid was a process of the run when it was read
//   process     a process of the run had it open or mapped (device and inode) when read
//   kernel      SysV shm: the creator pid the kernel keeps is a process the harness saw
//   tmpdir      it lies in the run's own TMPDIR, which nobody else writes
//   listing     (attribution::sources only) the harness's own listings before and after
namespace attribution_source {
inline constexpr std::string_view interposer = "interposer";
inline constexpr std::string_view fanotify = "fanotify";
inline constexpr std::string_view process = "process";
inline constexpr std::string_view kernel = "kernel";
inline constexpr std::string_view tmpdir = "tmpdir";
inline constexpr std::string_view listing = "listing";
}  // namespace attribution_source

// Where the harness knows it could not see (report `attribution.blind`): never a silent pass.
struct blind_spot {
  std::string what;  // e.g. "interposer", "kernel events", "/dev/shm/x"
  std::string why;
};
struct attribution {
  std::vector<std::string> sources;  // the sources this run used (attribution_source names)
  std::vector<blind_spot> blind;
  void use(std::string_view source);  // appends once
};

struct leftover {
  std::string kind;
  std::string name;
  std::string path;
  std::uint64_t size = 0;
  std::optional<creator_info> creator;
  bool attributed = false;
  std::string cleanup;
  bool reaped = false;
  std::string reap_error;  // why reaping failed ("" when reaped or not tried)
  std::string kept;        // why the rules keep it ("" when they allow its removal)
  std::vector<std::string> sources = {};  // attribution_source names, in order
  std::string moved_from = {};  // its first name, when renamed or linked here
  // Outside the places the harness lists (/dev/shm, the watched directories, the run's TMPDIR):
  // a creation the interposer recorded elsewhere. Reported and kept; it fails `clean` only under
  // --strict, since programs write their output files, caches and logs where they like.
  bool outside = false;
  // Counts it as the run's because of `source` (appended once).
  void attribute(std::string_view source);
};

struct run_report {
  std::string run_id;
  std::vector<std::string> command;
  exit_mode mode = exit_mode::natural;
  std::string trigger;        // as written, or "checkpoint (default)" / "start (default)"
  bool trigger_fired = false;
  std::string action;         // what the harness did to end the run, e.g. "SIGKILL to 1234"
  bool killed_after = false;  // --kill-after ran out and the run was SIGKILLed
  std::string containment;    // what held the run's processes: cgroup, subreaper, process-tree
  std::string containment_detail;  // e.g. "cgroup /sys/fs/cgroup/afterlife-…"
  bool timed_out = false;     // --timeout, or interrupted: the tree was killed
  bool interrupted = false;   // options.interrupted was set (SIGINT/SIGTERM to the harness)
  exit_info exit;
  double duration_ms = 0;
  long max_rss_kib = 0;
  std::vector<phase_record> phases;
  std::vector<survivor> survivors;
  std::vector<held_process> held;  // by pid
  std::vector<leftover> leftovers;
  attribution sight;  // which sources attributed leftovers, and where the harness was blind
  std::vector<expectation_result> expectations;
  bool pass = false;
  int malformed_messages = 0;
  std::vector<std::string> notes;  // problems met on the way ("unsupported: ...", probe errors)
  std::string stdout_text;  // what the program wrote (first MiB), for output~REGEX
  std::string stderr_text;
};

// Runs one command. Throws std::invalid_argument for bad options and harness_error when the
// harness cannot do its job; everything after the spawn is recorded, never thrown.
run_report run(const run_options& options);

}  // namespace afterlife

// The resource tracker: a helper process that unlinks named resources whose creators died
// without unlinking them. Modelled on CPython's multiprocessing.resource_tracker:
//
//   - started lazily, at the first tracked registration, by fork + exec of the small program
//     `afterlife-resource-tracker` (path: settings.executable, else $AFTERLIFE_RESOURCE_TRACKER,
//     else the path compiled in at build time);
//   - every process holds the write end of one pipe (inherited by fork()ed children, closed on
//     exec); the tracker reads `REGISTER:name:kind` / `UNREGISTER:name:kind` lines of at most
//     512 bytes (atomic under PIPE_BUF, so concurrent writers never interleave);
//   - at EOF (every holder has exited, however it died) it unlinks what is still registered and
//     warns `UserWarning: resource_tracker: There appear to be N leaked KIND objects to clean up
//     at shutdown: {'name', ...}`; exit status 0 clean, 1 leaks found (and unlinked), 2 some
//     cleanup failed, 3 protocol error (malformed lines; the rest is still cleaned);
//   - it ignores SIGINT, SIGTERM and SIGPIPE, as CPython's does.
//
// Beyond CPython:
//   - detached mode (settings.detached): the tracker calls setsid() before exec, so a SIGKILL of
//     the owners' whole process group does not take it down with them;
//   - only creators register: attaching to a segment never makes the tracker unlink it;
//   - a tracker that died (seen by waitpid in the process that started it, or as EPIPE in any
//     process writing to it) is restarted with a warning, and this process's registrations are
//     replayed into the new one, so they are not lost.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace lifecycle::resource_tracker {

// ---- the protocol ----------------------------------------------------------------------------

inline constexpr std::size_t max_line_length = 512;  // with its newline; <= PIPE_BUF everywhere

enum exit_status : int { clean = 0, leaks_found = 1, cleanup_failed = 2, protocol_error = 3 };

// Kinds the tracker knows how to unlink: posix_shm, posix_sem, sysv_shm, file, socket.
bool is_known_kind(std::string_view kind) noexcept;

// `COMMAND:name:kind\n`. Throws std::invalid_argument for an unknown kind or a name with a
// newline, std::length_error beyond max_line_length.
std::string format_line(std::string_view command, std::string_view name, std::string_view kind);

// The tracker's whole life: reads lines from `fd` until EOF, then cleans up and returns the
// exit status. Used by afterlife-resource-tracker; runnable in-process on any fd for tests.
int serve(int fd) noexcept;

// ---- the client side (every process that registers) -----------------------------------------

struct settings {
  bool detached = false;
  std::string executable;  // empty: $AFTERLIFE_RESOURCE_TRACKER, else the built-in path
};

// Chooses how the tracker is started. Throws std::logic_error once it is running.
void configure(const settings& how);

// Starts the tracker if needed (and restarts a dead one). Throws std::system_error if it
// cannot be started.
void ensure_running();

// Tells the tracker about a resource this process created / no longer needs cleaned up.
void register_resource(std::string_view kind, std::string_view name);
void unregister_resource(std::string_view kind, std::string_view name);

// The tracker's pid, 0 before it is started. In a fork()ed child this is the inherited tracker.
pid_t pid() noexcept;

// Where the tracker executable is looked for (settings, environment, built-in path).
std::string executable_path();

}  // namespace lifecycle::resource_tracker

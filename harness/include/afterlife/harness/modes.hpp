// The exit modes, declared once. Parsers, help texts, error messages, the JSON names, the
// catalog's mode list (checked by catalog_test) and the tables in docs/architecture.md (checked
// by docs_test) come from these two tables.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace afterlife {

// How `afterlife run --mode` ends the program (the harness chooses): X(enumerator, name, what the
// harness does). A new run mode is one line here and its case in run.cpp's end step.
#define AFTERLIFE_RUN_MODES(X)                                                                   \
  X(natural, "natural", "nothing: the program ends by itself (or --timeout kills it)")           \
  X(sigterm, "sigterm", "SIGTERM to the main process at the trigger")                            \
  X(sigint, "sigint", "SIGINT to the main process at the trigger")                               \
  X(sigkill, "sigkill", "SIGKILL to the main process at the trigger")                            \
  X(abort, "abort", "SIGABRT to the main process at the trigger")                                \
  X(group_kill, "group-kill", "SIGKILL to the main process's process group at the trigger (a "   \
                              "descendant that left it with setsid survives)")                   \
  X(tree_kill, "tree-kill", "SIGKILL to every process of the run at once at the trigger (its "   \
                            "cgroup, or the whole tree)")                                        \
  X(child_death, "child-death", "SIGKILL to the checkpoint's sender (else the youngest "         \
                                "descendant) at the trigger; the main process goes on")

enum class exit_mode {
#define AFTERLIFE_RUN_MODE_ENUMERATOR(enumerator, name, what) enumerator,
  AFTERLIFE_RUN_MODES(AFTERLIFE_RUN_MODE_ENUMERATOR)
#undef AFTERLIFE_RUN_MODE_ENUMERATOR
};

struct run_mode_info {
  exit_mode mode;
  std::string_view name;  // as --mode and the JSON report spell it
  std::string_view what;
};

inline constexpr run_mode_info run_modes[] = {
#define AFTERLIFE_RUN_MODE_INFO(enumerator, name, what) {exit_mode::enumerator, name, what},
    AFTERLIFE_RUN_MODES(AFTERLIFE_RUN_MODE_INFO)
#undef AFTERLIFE_RUN_MODE_INFO
};

// The catalog's modes, its matrix's columns: who chooses the ending and how a cell runs.
// X(name, chooser, run mode, the scenario's --exit argument, meaning, the real situation it models)
//   program: the scenario ends itself (`--exit NAME`), run with --mode natural;
//   harness: the scenario waits at checkpoint `ready` and `afterlife run --mode` ends it.
// The situation is shown by the matrix's legend, matrix.json (mode_situations) and the HTML.
// A new cell mode is one line here (and its column in scenarios/catalog.json's "modes").
#define AFTERLIFE_CELL_MODES(X)                                                                 \
  X("normal", program, natural, "normal", "returns from main: lifecycle::exit(0), every phase",  \
    "exit(0) at the end of main: an orderly shutdown")                                           \
  X("error", program, natural, "error", "lifecycle::exit(1): every phase, status 1",             \
    "exit(1): a program that gives up")                                                          \
  X("exception", program, natural, "exception",                                                  \
    "an exception nothing catches: traceback, every phase, status 1",                            \
    "an uncaught exception: traceback, then the exit of an error")                               \
  X("immediate", program, natural, "immediate",                                                  \
    "lifecycle::immediate_exit(0): no phase, buffered output lost",                              \
    "_exit(): os._exit in a forked worker, a fast-exit path")                                    \
  X("abort", program, natural, "abort", "lifecycle::fatal_error: message, SIGABRT",              \
    "abort(): a failed assertion or a fatal error")                                              \
  X("sigint", harness, sigint, "wait", "SIGINT at checkpoint ready",                             \
    "kill -INT PID: SIGINT to the main process (Ctrl-C in a terminal sends it to the whole "     \
    "foreground group)")                                                                         \
  X("sigterm", harness, sigterm, "wait", "SIGTERM at checkpoint ready",                          \
    "kill PID, systemd stop with KillMode=process: SIGTERM to the main process")                 \
  X("sigkill", harness, sigkill, "wait", "SIGKILL at checkpoint ready",                          \
    "kill -9 PID, the OOM killer: SIGKILL to the main process only")                             \
  X("group-kill", harness, group_kill, "wait", "SIGKILL to the process group at checkpoint ready", \
    "a terminal or CI runner ending a job: SIGKILL to the main process's group; a setsid "       \
    "descendant (a detached tracker) survives")                                                  \
  X("tree-kill", harness, tree_kill, "wait", "SIGKILL to every process of the run at checkpoint " \
    "ready",                                                                                     \
    "systemd KillMode=control-group, docker kill, a CI job's cgroup torn down: SIGKILL to "      \
    "every process of the run at once")                                                          \
  X("child-death", harness, child_death, "normal",                                               \
    "the worker that reached checkpoint ready is killed; the main process exits normally",       \
    "a worker dies (the OOM killer picks it): SIGKILL to a child, the parent goes on")

enum class mode_chooser { program, harness };

struct cell_mode_info {
  std::string_view name;
  mode_chooser chooser;
  exit_mode run_mode;        // `afterlife run --mode`
  std::string_view exit_as;  // the scenario's `--exit`
  std::string_view what;
  std::string_view situation;  // the real situation it models
};

inline constexpr cell_mode_info cell_modes[] = {
#define AFTERLIFE_CELL_MODE_INFO(name, chooser, run_mode, exit_as, what, situation) \
  {name, mode_chooser::chooser, exit_mode::run_mode, exit_as, what, situation},
    AFTERLIFE_CELL_MODES(AFTERLIFE_CELL_MODE_INFO)
#undef AFTERLIFE_CELL_MODE_INFO
};

// nullptr when `name` is not a catalog mode.
constexpr const cell_mode_info* find_cell_mode(std::string_view name) noexcept {
  for (const cell_mode_info& m : cell_modes) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

// "natural, sigterm, ..." / "normal, error, ..." for help texts and error messages.
template <class Table>
std::string mode_names(const Table& table, std::string_view separator = ", ") {
  std::string out;
  for (const auto& m : table) {
    if (!out.empty()) out += separator;
    out += m.name;
  }
  return out;
}

}  // namespace afterlife

#include "afterlife/harness/catalog.hpp"
#include "afterlife/harness/modes.hpp"
#include "afterlife/harness/run.hpp"
#include "catch.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace {

// Writes a catalog to a temporary file that lives as long as the object.
class temp_catalog {
 public:
  explicit temp_catalog(const std::string& text) {
    path_ = std::filesystem::temp_directory_path() /
            ("afterlife-catalog-test-" + std::to_string(getpid()) + "-" + std::to_string(counter_++) + ".json");
    std::ofstream(path_) << text;
  }
  ~temp_catalog() { std::filesystem::remove(path_); }
  temp_catalog(const temp_catalog&) = delete;
  temp_catalog& operator=(const temp_catalog&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

const char* good = R"({
  "schema": "afterlife.catalog/1",
  "modes": ["normal", "immediate", "sigkill", "child-death"],
  "scenarios": [
    {"name": "shm_forgot_unlink", "summary": "a segment nobody unlinks", "args": ["--size", "4096"],
     "timeout": "5s", "grace": "250ms",
     "expect": {"normal": ["exit=0", "posix_shm=1"], "sigkill": ["signal=KILL", "posix_shm=1"]}},
    {"name": "worker", "expect": {"child-death": ["exit=0"]},
     "not_applicable": {"normal": "the worker exits with its parent"}}
  ]
})";

std::string load_error(const std::string& text) {
  temp_catalog cat(text);
  try {
    afterlife::load_catalog(cat.path());
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    return what.substr(what.find(": ") + 2);  // drop the file name
  }
  return "no error";
}

}  // namespace

TEST_CASE("a catalog loads with modes in order, arguments, durations and expectations") {
  temp_catalog file(good);
  auto cat = afterlife::load_catalog(file.path());
  REQUIRE(cat.modes == std::vector<std::string>{"normal", "immediate", "sigkill", "child-death"});
  REQUIRE(cat.scenarios.size() == 2);
  const auto& s = cat.scenarios[0];
  CHECK(s.name == "shm_forgot_unlink");
  CHECK(s.summary == "a segment nobody unlinks");
  CHECK(s.args == std::vector<std::string>{"--size", "4096"});
  CHECK(s.timeout == std::chrono::seconds(5));
  CHECK(s.grace == std::chrono::milliseconds(250));
  CHECK(s.expect.at("sigkill") == std::vector<std::string>{"signal=KILL", "posix_shm=1"});
  CHECK(s.expect.count("immediate") == 0);
  CHECK(cat.scenarios[1].timeout == std::chrono::seconds(20));
  CHECK(cat.find("worker") == &cat.scenarios[1]);
  CHECK(cat.find("nope") == nullptr);
  // Why a mode has no cell: optional, so a mode may also just be left out.
  CHECK(s.not_applicable.empty());
  CHECK(cat.scenarios[1].not_applicable ==
        std::map<std::string, std::string>{{"normal", "the worker exits with its parent"}});
}

TEST_CASE("cells become the same afterlife run command CMake registers") {
  temp_catalog file(good);
  auto cat = afterlife::load_catalog(file.path());
  const auto& s = cat.scenarios[0];
  afterlife::catalog_cell normal{&s, "normal", &s.expect.at("normal")};
  CHECK(afterlife::cell_run_arguments(normal, "/b/scenarios") ==
        std::vector<std::string>{"--mode", "natural", "--timeout", "5000ms", "--grace", "250ms",
                                 "--expect", "exit=0", "--expect", "posix_shm=1", "--",
                                 "/b/scenarios/shm_forgot_unlink", "--exit", "normal", "--size", "4096"});
  afterlife::catalog_cell kill{&s, "sigkill", &s.expect.at("sigkill")};
  CHECK(afterlife::cell_run_arguments(kill, "/b/scenarios") ==
        std::vector<std::string>{"--mode", "sigkill", "--at", "checkpoint:ready", "--timeout", "5000ms",
                                 "--grace", "250ms", "--expect", "signal=KILL", "--expect", "posix_shm=1",
                                 "--", "/b/scenarios/shm_forgot_unlink", "--exit", "wait", "--size", "4096"});
  const auto& w = cat.scenarios[1];
  afterlife::catalog_cell death{&w, "child-death", &w.expect.at("child-death")};
  auto args = afterlife::cell_run_arguments(death, "/s");
  CHECK(std::vector<std::string>(args.end() - 3, args.end()) == std::vector<std::string>{"/s/worker", "--exit", "normal"});
}

TEST_CASE("a broken catalog is refused with a message that names the problem") {
  CHECK(load_error("{") .find("not valid JSON") == 0);
  CHECK(load_error(R"({"schema": "other"})") ==
        "not an afterlife catalog (\"schema\": \"afterlife.catalog/1\" expected)");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal", "sigsegv"]})") ==
        "unknown mode 'sigsegv' in \"modes\"");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal"],
                       "scenarios": [{"name": "a", "expect": {"sigkill": ["clean"]}}]})") ==
        "scenario 'a': unknown mode 'sigkill'");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal"],
                       "scenarios": [{"name": "a", "expect": {"normal": []}}]})") ==
        "scenario 'a': mode 'normal' needs a non-empty list of expectations");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal"],
                       "scenarios": [{"name": "a", "expect": {"normal": ["clean"]}},
                                     {"name": "a", "expect": {"normal": ["clean"]}}]})") ==
        "scenario 'a' listed twice");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal"],
                       "scenarios": [{"name": "a", "timeout": "soon", "expect": {"normal": ["clean"]}}]})") ==
        "'soon' is not a duration (like 500ms, 20s, 2m)");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal"],
                       "scenarios": [{"name": "a/b", "expect": {"normal": ["clean"]}}]})") ==
        "scenario 'a/b': a name is one word without slashes");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal", "sigkill"],
                       "scenarios": [{"name": "a", "expect": {"normal": ["clean"]},
                                      "not_applicable": {"normal": "why"}}]})") ==
        "scenario 'a': mode 'normal' is both expected and not applicable");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal"],
                       "scenarios": [{"name": "a", "expect": {"normal": ["clean"]},
                                      "not_applicable": {"sigkill": "why"}}]})") ==
        "scenario 'a': unknown mode 'sigkill' in \"not_applicable\"");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal", "sigkill"],
                       "scenarios": [{"name": "a", "expect": {"normal": ["clean"]},
                                      "not_applicable": {"sigkill": ""}}]})") ==
        "scenario 'a': mode 'sigkill' in \"not_applicable\" needs the reason, a non-empty string");
  CHECK(load_error(R"({"schema": "afterlife.catalog/1", "modes": ["normal", "sigkill"],
                       "scenarios": [{"name": "a", "expect": {"normal": ["clean"]},
                                      "not_applicable": ["sigkill"]}]})") ==
        "scenario 'a': \"not_applicable\" must map modes to the reason they do not apply");
}

TEST_CASE("the project's own catalog says, for every scenario and mode, what to expect or why not") {
  auto cat = afterlife::load_catalog(AFTERLIFE_SOURCE_DIR "/scenarios/catalog.json");
  CHECK(cat.modes.size() == 11);
  // The matrix says what real situation each mode models.
  for (const auto& mode : cat.modes) CHECK_FALSE(afterlife::mode_situation(mode).empty());
  for (const auto& s : cat.scenarios) {
    for (const auto& mode : cat.modes) {
      INFO(s.name << " × " << mode);
      CHECK(s.expect.count(mode) + s.not_applicable.count(mode) == 1);
    }
  }
}

TEST_CASE("the project's catalog lists exactly the declared cell modes, in their order") {
  auto cat = afterlife::load_catalog(std::string(AFTERLIFE_SOURCE_DIR) + "/scenarios/catalog.json");
  std::vector<std::string> declared;
  for (const auto& m : afterlife::cell_modes) declared.emplace_back(m.name);
  CHECK(cat.modes == declared);
}

TEST_CASE("every cell mode runs through a declared run mode, harness-chosen ones at checkpoint ready") {
  for (const auto& m : afterlife::cell_modes) {
    INFO(m.name);
    CHECK(afterlife::parse_mode(afterlife::to_string(m.run_mode)) == m.run_mode);
    CHECK(afterlife::is_program_chosen_mode(std::string(m.name)) ==
          (m.chooser == afterlife::mode_chooser::program));
    if (m.chooser == afterlife::mode_chooser::program) CHECK(m.run_mode == afterlife::exit_mode::natural);
  }
}

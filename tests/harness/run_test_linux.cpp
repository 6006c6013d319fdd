// `afterlife run` on what only Linux has or lists: POSIX message queues, semaphores under
// /dev/shm, a segment created past the interposer, and a listing of /dev/shm that shows other
// programs' segments (macOS cannot list POSIX objects: probes_macos.cpp probes the run's names).
#include "catch.hpp"
#include "run_support.hpp"

#include <fcntl.h>
#include <mqueue.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

using namespace afterlife_test;
using Catch::Matchers::ContainsSubstring;

TEST_CASE("every kind of named object is attributed and reaped") {
  auto marker = unique("m");
  auto sem = unique("/al-sem-");
  auto mq = unique("/al-mq-");
  auto r = afterlife_run({"--expect", "posix_sem=1", "--expect", "posix_mq=1", "--expect",
                          "sysv_shm=1", "--expect", "sysv_sem=1", "--expect", "sysv_msg=1",
                          "--expect", "fifo=1", "--expect", "socket=1", "--expect", "file=3"},
                         {actor(), "sem=" + sem, "mq=" + mq, "sysv-shm=8192", "sysv-sem=2",
                          "sysv-msg", "fifo=@tmp/f", "socket=@tmp/s", "file=@tmp/plain",
                          "fopen=@tmp/by-fopen", "mkstemp=@tmp/tmpXXXXXX", "_exit=0"},
                         marker);
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 0);
  for (const auto& l : r.report["leftovers"]) {
    if (l["attributed"] != true) continue;
    INFO(l.dump());
    CHECK(l["reaped"] == true);
    CHECK(l["creator"]["pid"] == r.report["exit"]["pid"]);
    if (l["kind"] == "sysv_shm") CHECK_THAT(l["cleanup"].get<std::string>(), ContainsSubstring("ipcrm -m "));
    if (l["kind"] == "sysv_sem") CHECK_THAT(l["cleanup"].get<std::string>(), ContainsSubstring("ipcrm -s "));
    if (l["kind"] == "sysv_msg") CHECK_THAT(l["cleanup"].get<std::string>(), ContainsSubstring("ipcrm -q "));
  }
  const auto* sem_left = find_leftover(r.report, "posix_sem", sem);
  REQUIRE(sem_left != nullptr);
  CHECK((*sem_left)["cleanup"] == "rm -- /dev/shm/sem." + sem.substr(1));
  CHECK_FALSE(std::filesystem::exists("/dev/shm/sem." + sem.substr(1)));
  REQUIRE(find_leftover(r.report, "posix_mq", mq) != nullptr);
  CHECK(mq_unlink(mq.c_str()) == -1);  // already reaped
}

namespace {

// Another program on the machine during the run: churns /dev/shm (1,000 create + unlink) and
// leaves `noise` behind, created after the run started.
harness_run run_beside_neighbour(const std::vector<std::string>& options,
                                 const std::vector<std::string>& command,
                                 const std::string& marker, const std::string& noise) {
  std::atomic<bool> stop{false};
  std::thread neighbour([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    close(shm_open(noise.c_str(), O_CREAT | O_RDWR, 0600));
    for (int i = 0; !stop && i < 1000; ++i) {
      auto churn = noise + "-" + std::to_string(i);
      close(shm_open(churn.c_str(), O_CREAT | O_RDWR, 0600));
      shm_unlink(churn.c_str());
    }
  });
  auto r = afterlife_run(options, command, marker);
  stop = true;
  neighbour.join();
  return r;
}

}  // namespace

TEST_CASE("attribution holds beside unrelated /dev/shm activity") {
  auto marker = unique("m");
  auto ours = unique("/al-ours-");
  auto noise = unique("/al-noise-");
  auto r = run_beside_neighbour({"--expect", "posix_shm=1", "--expect", "leftovers=1"},
                                {actor(), "shm=" + ours, "sleep=600", "exit=0"}, marker, noise);
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 0);
  const auto* mine = find_leftover(r.report, "posix_shm", ours);
  const auto* theirs = find_leftover(r.report, "posix_shm", noise);
  REQUIRE(mine != nullptr);
  REQUIRE(theirs != nullptr);
  CHECK((*mine)["attributed"] == true);
  CHECK((*mine)["reaped"] == true);
  CHECK((*theirs)["attributed"] == false);
  CHECK((*theirs)["reaped"] == false);
  CHECK((*theirs)["creator"].is_null());
  CHECK(shm_exists(noise));  // never someone else's
  shm_unlink(noise.c_str());
}

TEST_CASE("unattributed leftovers fail clean only with --strict") {
  auto marker = unique("m");
  auto noise = unique("/al-noise-");
  auto lenient = run_beside_neighbour({}, {actor(), "sleep=600", "exit=0"}, marker, noise);
  CHECK(lenient.status() == 0);
  shm_unlink(noise.c_str());
  auto strict = run_beside_neighbour({"--strict"}, {actor(), "sleep=600", "exit=0"}, marker, noise);
  CHECK(strict.status() == 1);
  CHECK(strict.report["expectations"][0]["met"] == false);
  CHECK(shm_exists(noise));
  shm_unlink(noise.c_str());
}

TEST_CASE("a runtime registration attributes what the interposer could not see") {
  auto marker = unique("m");
  auto name = unique("/al-raw-");
  auto r = afterlife_run({"--expect", "posix_shm=1"},
                         {actor(), "shm-raw=" + name, "register=posix_shm:" + name, "exit=0"},
                         marker);
  REQUIRE(r.report.is_object());
  CHECK(r.status() == 0);
  const auto* leftover = find_leftover(r.report, "posix_shm", name);
  REQUIRE(leftover != nullptr);
  CHECK((*leftover)["creator"]["site"] == "registered");
  CHECK_FALSE(shm_exists(name));
}

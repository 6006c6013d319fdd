// The harness's journal (harness/src/journal.hpp): what the harness writes reads back whole; a
// journal cut short by a crash keeps what was whole; lines the harness never writes are named
// as someone else's; the bounds hold on both sides.
#include "catch.hpp"
#include "journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using afterlife::reap_policy;
using afterlife::detail::journal;
using afterlife::detail::journal_contents;
using afterlife::detail::journal_objects_max;
using afterlife::detail::read_journal;
namespace fs = std::filesystem;

namespace {

struct scratch_dir {
  fs::path path;
  int fd = -1;
  scratch_dir() {
    std::string name = (fs::temp_directory_path() / "al-journal-XXXXXX").string();
    REQUIRE(mkdtemp(name.data()) != nullptr);
    path = name;
    fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
  }
  ~scratch_dir() {
    close(fd);
    fs::remove_all(path);
  }
  std::optional<journal_contents> read() const {
    int journal_fd = openat(fd, "journal", O_RDONLY | O_CLOEXEC);
    REQUIRE(journal_fd >= 0);
    auto contents = read_journal(journal_fd);
    close(journal_fd);
    return contents;
  }
  // A journal of exactly `text`, as a crash or a forger would leave it.
  std::optional<journal_contents> read(const std::string& text) const {
    std::ofstream(path / "journal", std::ios::binary | std::ios::trunc) << text;
    return read();
  }
};

afterlife::probes::object_entry shm(const std::string& name, std::uint64_t inode) {
  afterlife::probes::object_entry o;
  o.kind = "posix_shm";
  o.name = name;
  o.path = "/dev/shm/" + name.substr(1);
  o.inode = inode;
  o.birth_ns = 1700000000123456789;
  o.change_ns = 1700000000223456789;
  o.uid = 1000;
  return o;
}

const std::string header =
    "afterlife.journal/1\nrun\tr1\tall\ntmpdir\t/run/a/r1/tmp\nwatch\t/srv/data\nbegun\n";
const std::string seen_line = "seen\tposix_shm\t7\t11\t12\t1000\t0\t/dev/shm/a\t/a\n";

}  // namespace

TEST_CASE("journal: what the harness writes reads back whole, names escaped") {
  scratch_dir dir;
  {
    journal j(dir.fd);
    j.begin("4242-0-abc", reap_policy::files, "/run/x/tmp",
            {"/srv/with\ttab", "/srv/new\nline"});
    CHECK(j.seen(shm("/one", 1)));
    CHECK(j.seen(shm("/two%\t", 2)));
    j.note("claims dropped");
    j.finish();
  }
  auto c = dir.read();
  REQUIRE(c);
  CHECK(c->run_id == "4242-0-abc");
  CHECK(c->policy == reap_policy::files);
  CHECK(c->tmpdir == "/run/x/tmp");
  CHECK(c->watched == std::vector<fs::path>{"/srv/with\ttab", "/srv/new\nline"});
  REQUIRE(c->seen.size() == 2);
  CHECK(c->seen[1].name == "/two%\t");
  CHECK(c->seen[1].path == "/dev/shm/two%\t");
  CHECK(c->seen[1].inode == 2);
  CHECK(c->seen[1].birth_ns == 1700000000123456789);
  CHECK(c->seen[1].change_ns == 1700000000223456789);
  CHECK(c->seen[1].uid == 1000);
  CHECK(c->notes == std::vector<std::string>{"claims dropped"});
  CHECK(c->finished);
  CHECK(c->foreign.empty());
}

TEST_CASE("journal: a last line cut short by a crash is ignored, the rest kept") {
  scratch_dir dir;
  // A record cut short, and "finished" without its newline (which is no finish).
  for (const char* cut : {"seen\tposix_shm\t8\t1", "finished"}) {
    INFO(cut);
    auto c = dir.read(header + seen_line + cut);
    REQUIRE(c);
    CHECK(c->seen.size() == 1);
    CHECK_FALSE(c->finished);
    CHECK(c->foreign.empty());
  }
}

TEST_CASE("journal: lines the harness never writes are someone else's") {
  scratch_dir dir;
  // A header line after `begun` widens nothing.
  auto c = dir.read(header + seen_line + "watch\t/etc\n");
  REQUIRE(c);
  CHECK(c->watched == std::vector<fs::path>{"/srv/data"});
  REQUIRE(c->foreign.size() == 1);
  CHECK(c->foreign[0] == "line 7 is not one the harness writes: watch%09/etc");
  // Garbage, a seen line with a field that is no number, one with a field too many.
  c = dir.read(header + "garbage\n" + "seen\tposix_shm\tx\t11\t12\t1000\t0\t/dev/shm/a\t/a\n" +
               "seen\tposix_shm\t7\t11\t12\t1000\t0\t/dev/shm/a\t/a\textra\n" + seen_line);
  REQUIRE(c);
  CHECK(c->foreign.size() == 3);
  CHECK(c->seen.size() == 1);
  c = dir.read(header + "run\tr2\tall\n");
  REQUIRE(c);
  CHECK(c->run_id == "r1");
  CHECK(c->foreign.size() == 1);
}

TEST_CASE("journal: a file that does not start as a journal is none") {
  scratch_dir dir;
  CHECK_FALSE(dir.read(""));
  CHECK_FALSE(dir.read("afterlife.journal/2\nrun\tr1\tall\ntmpdir\t/t\nbegun\n"));
  CHECK_FALSE(dir.read("afterlife.journal/1\nrun\tr1\teverything\ntmpdir\t/t\nbegun\n"));
  CHECK_FALSE(dir.read("afterlife.journal/1\ntmpdir\t/t\nrun\tr1\tall\nbegun\n"));
  // The header is one write: cut short, or records before `begun`, it is not the harness's.
  CHECK_FALSE(dir.read("afterlife.journal/1\nrun\tr1\tall\ntmpdir\t/t\nwatch\t/w\n"));
  CHECK_FALSE(dir.read("afterlife.journal/1\nrun\tr1\tall\ntmpdir\t/t\n" + seen_line + "begun\n"));
  CHECK(dir.read("afterlife.journal/1\nrun\tr1\tall\ntmpdir\t/t\nbegun\n"));
}

TEST_CASE("journal: at most journal_objects_max objects are written and read") {
  scratch_dir dir;
  {
    journal j(dir.fd);
    j.begin("r", reap_policy::ipc, "/t", {});
    for (std::size_t i = 0; i < journal_objects_max; ++i) REQUIRE(j.seen(shm("/s", i)));
    CHECK_FALSE(j.full());
    CHECK_FALSE(j.seen(shm("/past", 1)));
    CHECK(j.full());
  }
  auto c = dir.read();
  REQUIRE(c);
  CHECK(c->seen.size() == journal_objects_max);
  REQUIRE(c->notes.size() == 1);
  CHECK(c->notes[0].starts_with("journal full: more than 100000 objects"));
  CHECK(c->foreign.empty());
  // One more than the harness writes: not the harness's line.
  std::ofstream(dir.path / "journal", std::ios::app) << seen_line;
  c = dir.read();
  REQUIRE(c);
  CHECK(c->seen.size() == journal_objects_max);
  CHECK(c->foreign.size() == 1);
}

// Claims (what the run's processes say they created) and the control lines that carry them.
#include "catch.hpp"
#include "claims.hpp"
#include "control_server.hpp"

#include <stdexcept>

using afterlife::detail::claim;
using afterlife::detail::format_record;
using afterlife::detail::parse_record;

TEST_CASE("records round-trip, names with newlines, tabs and percent signs intact") {
  auto parsed = parse_record(format_record({"file", 0, 7, "prog(main+0x10)", "/tmp/a\nb%c\td"}));
  REQUIRE(parsed);
  CHECK(parsed->kind == "file");
  CHECK(parsed->pid == 0);  // never from the message: the kernel gives it
  CHECK(parsed->inode == 7);
  CHECK(parsed->site == "prog(main+0x10)");
  CHECK(parsed->name == "/tmp/a\nb%c\td");
  CHECK_FALSE(parse_record("file\t7\tsite"));       // no name
  CHECK_FALSE(parse_record("file\tseven\tsite\t/x"));  // no inode
}

TEST_CASE("a site's callers are read back in order, as recorded") {
  // Naming them (demangling, file and line) comes after the run: symbolize_test.
  std::vector<std::string> callers{"/bin/scen+0x10(_Z4makev+0x8)", "/bin/scen+0x2efa",
                                   "/lib/libc.so.6+0x27249(__libc_start_main+0x85)"};
  auto parsed = parse_record(format_record(
      {"posix_shm", 0, 0, "/bin/scen+0x99(_ZN9lifecycle13shared_memoryC1Ev+0x10)", "/e", callers}));
  REQUIRE(parsed);
  CHECK(parsed->site == "/bin/scen+0x99(_ZN9lifecycle13shared_memoryC1Ev+0x10)");
  CHECK(parsed->callers == callers);
  CHECK(parsed->name == "/e");
}

TEST_CASE("control lines: the pid prefix is optional and returned for the kernel check") {
  int claimed = -1;
  auto bare = afterlife::detail::parse_control_line("checkpoint ready", claimed);
  CHECK(bare.verb == "checkpoint");
  CHECK(bare.name == "ready");
  CHECK(claimed == 0);
  auto prefixed = afterlife::detail::parse_control_line("123 register posix_shm /x y", claimed);
  CHECK(prefixed.verb == "register");
  CHECK(prefixed.name == "/x y");
  CHECK(claimed == 123);
  auto record = afterlife::detail::parse_control_line("record posix_shm\t9\tsite\t/seg", claimed);
  CHECK(record.kind == "posix_shm");
  CHECK(record.inode == 9);
  CHECK(record.name == "/seg");
  CHECK_THROWS_AS(afterlife::detail::parse_control_line("0 checkpoint x", claimed),
                  std::invalid_argument);
  CHECK_THROWS_AS(afterlife::detail::parse_control_line("record bogus\t0\ts\t/x", claimed),
                  std::invalid_argument);
}

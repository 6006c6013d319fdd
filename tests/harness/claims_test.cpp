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

TEST_CASE("C++ sites are demangled without their parameter list, others are kept as written") {
  auto site = [](const char* text) { return parse_record(format_record({"posix_shm", 0, 0, text, "/a"}))->site; };
  CHECK(site("scen(_ZN5boost12interprocess20shared_memory_object19priv_open_or_createIcEEbNS0_9ipcdetail13create_enum_tEPKT_NS0_6mode_tERKNS0_11permissionsE+0x128)") ==
        "scen(bool boost::interprocess::shared_memory_object::priv_open_or_create<char>(…)+0x128)");
  CHECK(site("libc.so.6(shm_open+0x1f)") == "libc.so.6(shm_open+0x1f)");
  CHECK(site("scen(_Znot_a_symbol+0x1)") == "scen(_Znot_a_symbol+0x1)");
  CHECK(site("scen+0x349b") == "scen+0x349b");
}

TEST_CASE("a site's callers are read back in order, each demangled") {
  auto parsed = parse_record(format_record(
      {"posix_shm", 0, 0, "scen(_ZN9lifecycle13shared_memoryC1Ev+0x10)", "/e",
       {"scen(_Z4makev+0x8)", "scen+0x2efa", "libc.so.6(__libc_start_main+0x85)"}}));
  REQUIRE(parsed);
  CHECK(parsed->site == "scen(lifecycle::shared_memory::shared_memory(…)+0x10)");
  CHECK(parsed->callers == std::vector<std::string>{"scen(make(…)+0x8)", "scen+0x2efa",
                                                    "libc.so.6(__libc_start_main+0x85)"});
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

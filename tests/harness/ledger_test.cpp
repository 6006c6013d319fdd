#include "catch.hpp"
#include "ledger.hpp"

#include <unistd.h>

#include <filesystem>

namespace {

std::filesystem::path temp_ledger() {
  auto path = std::filesystem::temp_directory_path() / ("afterlife-ledger-test-" + std::to_string(getpid()));
  std::filesystem::remove(path);
  return path;
}

}  // namespace

TEST_CASE("records round-trip, names with newlines and percent signs intact") {
  auto path = temp_ledger();
  afterlife::detail::append_ledger(path, {"file", 42, 7, "prog(main+0x10)", "/tmp/a\nb%c"});
  afterlife::detail::append_ledger(path, {"posix_shm", 43, 0, "registered", "/seg"});
  auto records = afterlife::detail::read_ledger(path);
  std::filesystem::remove(path);
  REQUIRE(records.size() == 2);
  CHECK(records[0].kind == "file");
  CHECK(records[0].pid == 42);
  CHECK(records[0].inode == 7);
  CHECK(records[0].site == "prog(main+0x10)");
  CHECK(records[0].name == "/tmp/a\nb%c");
  CHECK(records[1].site == "registered");
}

TEST_CASE("C++ sites are demangled without their parameter list, others are kept as written") {
  auto path = temp_ledger();
  afterlife::detail::append_ledger(
      path, {"posix_shm", 1, 0,
             "scen(_ZN5boost12interprocess20shared_memory_object19priv_open_or_createIcEEbNS0_9ipcdetail13create_enum_tEPKT_NS0_6mode_tERKNS0_11permissionsE+0x128)",
             "/a"});
  afterlife::detail::append_ledger(path, {"posix_shm", 1, 0, "libc.so.6(shm_open+0x1f)", "/b"});
  afterlife::detail::append_ledger(path, {"posix_shm", 1, 0, "scen(_Znot_a_symbol+0x1)", "/c"});
  afterlife::detail::append_ledger(path, {"posix_shm", 1, 0, "scen+0x349b", "/d"});
  auto records = afterlife::detail::read_ledger(path);
  std::filesystem::remove(path);
  REQUIRE(records.size() == 4);
  CHECK(records[0].site == "scen(bool boost::interprocess::shared_memory_object::priv_open_or_create<char>(…)+0x128)");
  CHECK(records[1].site == "libc.so.6(shm_open+0x1f)");
  CHECK(records[2].site == "scen(_Znot_a_symbol+0x1)");
  CHECK(records[3].site == "scen+0x349b");
}

TEST_CASE("a site's callers are read back in order, each demangled") {
  auto path = temp_ledger();
  afterlife::detail::append_ledger(
      path, {"posix_shm", 1, 0, "scen(_ZN9lifecycle13shared_memoryC1Ev+0x10)", "/e",
             {"scen(_Z4makev+0x8)", "scen+0x2efa", "libc.so.6(__libc_start_main+0x85)"}});
  afterlife::detail::append_ledger(path, {"posix_shm", 1, 0, "registered", "/f"});
  auto records = afterlife::detail::read_ledger(path);
  std::filesystem::remove(path);
  REQUIRE(records.size() == 2);
  CHECK(records[0].site == "scen(lifecycle::shared_memory::shared_memory(…)+0x10)");
  CHECK(records[0].callers == std::vector<std::string>{"scen(make(…)+0x8)", "scen+0x2efa",
                                                       "libc.so.6(__libc_start_main+0x85)"});
  CHECK(records[0].name == "/e");
  CHECK(records[1].callers.empty());
}

// Call sites as the report shows them (harness/src/symbolize/): the recorded frame format read
// back, demangling, the fallbacks, and a real -g program whose creation site must read
// `main (leaky.c:LINE)` with LINE the marked line of its source, also after it rewrote argv[0].
#include <fstream>
#include <string>

#include "catch.hpp"
#include "run_support.hpp"
#include "symbolize/symbolize.hpp"

using afterlife::detail::debug_info;
using afterlife::detail::describe_frame;
using afterlife::detail::parse_frame;
using namespace afterlife_test;

TEST_CASE("a recorded frame is read back: file, address in the file, dladdr's symbol") {
  auto full = parse_frame("/usr/lib/x86_64-linux-gnu/libc.so.6+0x27249(__libc_start_main+0x85)");
  CHECK(full.module == "/usr/lib/x86_64-linux-gnu/libc.so.6");
  REQUIRE(full.address);
  CHECK(*full.address == 0x27249);
  CHECK(full.symbol == "__libc_start_main");
  CHECK(full.symbol_offset == "0x85");
  auto bare = parse_frame("/opt/my service/bin/svc+0x17e4");
  CHECK(bare.module == "/opt/my service/bin/svc");
  REQUIRE(bare.address);
  CHECK(*bare.address == 0x17e4);
  CHECK(bare.symbol.empty());
  auto text = parse_frame("shmget (creator pid from the kernel)");
  CHECK(text.module == "shmget (creator pid from the kernel)");
  CHECK_FALSE(text.address);
}

TEST_CASE("without debug information a frame reads module(symbol+0xOFF) or module+0xADDRESS") {
  debug_info none_here;
  // Files that do not exist: nothing to look up, the recorded symbol stays, demangled.
  CHECK(describe_frame("/nonexistent/scen+0x10(_ZN9lifecycle13shared_memoryC1Ev+0x10)", none_here) ==
        "scen(lifecycle::shared_memory::shared_memory(…)+0x10)");
  CHECK(describe_frame("/nonexistent/scen+0x128(_ZN5boost12interprocess20shared_memory_object19priv_open_or_createIcEEbNS0_9ipcdetail13create_enum_tEPKT_NS0_6mode_tERKNS0_11permissionsE+0x128)", none_here) ==
        "scen(bool boost::interprocess::shared_memory_object::priv_open_or_create<char>(…)+0x128)");
  CHECK(describe_frame("/nonexistent/scen+0x349b", none_here) == "scen+0x349b");
  // The format of older records (no file, no address) reads as it did.
  CHECK(describe_frame("libc.so.6(shm_open+0x1f)", none_here) == "libc.so.6(shm_open+0x1f)");
  CHECK(describe_frame("/nonexistent/scen+0x1(_Znot_a_symbol+0x1)", none_here) ==
        "scen(_Znot_a_symbol+0x1)");
  // What is no recorded frame is left as it is.
  CHECK(describe_frame("registered", none_here) == "registered");
  CHECK(describe_frame("shmget (creator pid from the kernel)", none_here) ==
        "shmget (creator pid from the kernel)");
}

namespace {

// The line of leaky.c that carries the marker comment.
int marked_line() {
  std::ifstream source(LEAKY_SOURCE);
  REQUIRE(source);
  std::string line;
  for (int number = 1; std::getline(source, line); ++number)
    if (line.find("/* the creation site */") != std::string::npos) return number;
  FAIL("no marker in " LEAKY_SOURCE);
  return 0;
}

}  // namespace

TEST_CASE("a -g program's creation site reads main (leaky.c:LINE), whatever its argv[0]") {
  // With clang, Debian's libdwfl (elfutils 0.188) names the function from .symtab but finds no
  // line (binutils' addr2line does): a known limitation, in harness/README.md, pinned here so
  // that a fix shows.
  const bool line_known = debug_info::available() && LEAKY_BUILT_BY_CLANG == 0;
  const std::string expected = line_known
                                   ? "main (leaky.c:" + std::to_string(marked_line()) + ")"
                                   : debug_info::available() ? "leaky(main+0x" : "leaky+0x";
  for (const char* variant : {"plain", "rename"}) {
    INFO(variant);
    auto marker = unique("m");
    auto name = unique("/al-leaky-");
    auto r = afterlife_run({"--expect", "posix_shm=1"}, {LEAKY_EXE, name, variant}, marker);
    REQUIRE(r.report.is_object());
    CHECK(r.status() == 0);
    const auto* leftover = find_leftover(r.report, "posix_shm", name);
    REQUIRE(leftover != nullptr);
    std::string site = (*leftover)["creator"]["site"].get<std::string>();
    if (line_known) {
      CHECK(site == expected);
    } else {
      CHECK(site.rfind(expected, 0) == 0);
    }
    CHECK((*leftover)["reaped"] == true);
    CHECK_FALSE(shm_exists(name));
  }
}

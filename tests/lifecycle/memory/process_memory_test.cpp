#include "catch.hpp"
#include "lifecycle/process_memory.hpp"

#include <sys/mman.h>

#include <cstring>

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

}  // namespace

TEST_CASE("current and peak RSS follow memory that is touched and given back") {
  const auto start = lifecycle::process_memory();
  CHECK(start.current_rss > 0);
  CHECK(start.peak_rss >= start.current_rss);

  // 96 MiB of fresh anonymous memory: resident only once written.
  constexpr std::size_t size = 96 * mib;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0);
  REQUIRE(p != MAP_FAILED);
  const auto mapped = lifecycle::process_memory();
  CHECK(mapped.current_rss < start.current_rss + 8 * mib);

  std::memset(p, 0x11, size);
  const auto touched = lifecycle::process_memory();
  CHECK(touched.current_rss >= start.current_rss + size - 4 * mib);
  CHECK(touched.peak_rss >= touched.current_rss);

  munmap(p, size);
  const auto after = lifecycle::process_memory();
  CHECK(after.current_rss < touched.current_rss - size + 8 * mib);
  // The high-water mark remembers, give or take the kernel's batched RSS counters (up to 64
  // pages per thread and counter are folded in late).
  CHECK(after.peak_rss + mib >= touched.current_rss);
  CHECK(after.peak_rss >= start.current_rss + size - 4 * mib);
}

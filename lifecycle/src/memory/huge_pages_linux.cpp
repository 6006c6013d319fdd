// Transparent huge pages on Linux (Documentation/admin-guide/mm/transhuge.rst):
// - /sys/kernel/mm/transparent_hugepage/enabled reads like "always [madvise] never", the
//   bracketed word being the mode. "always" and "madvise" back a MADV_HUGEPAGE range with huge
//   pages on its first touch; "never" does not.
// - Since Linux 6.8 each huge page size has its own switch,
//   .../transparent_hugepage/hugepages-<size>kB/enabled, with "inherit" (the top-level mode, the
//   default) besides the three modes.
// - prctl(PR_SET_THP_DISABLE), inherited by children, turns THP off for a whole process.
// - hpage_pmd_size holds the size of the huge pages a page table entry maps, in bytes (2 MiB on
//   x86-64 and on arm64 with 4 KiB pages).
#include "memory/huge_pages.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lifecycle::detail {

namespace {

// A short sysfs file into `text` (NUL-terminated). Plain system calls: this runs under the
// allocator's lock, where nothing may allocate.
bool read_small_file(const char* path, char* text, std::size_t capacity) noexcept {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = read(fd, text, capacity - 1);
  close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  return true;
}

bool mode_is(const char* text, const char* mode) noexcept { return std::strstr(text, mode) != nullptr; }

}  // namespace

std::size_t transparent_huge_page_size() noexcept {
  if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1) return 0;
  char mode[128];
  if (!read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", mode, sizeof mode) ||
      mode_is(mode, "[never]")) {
    return 0;
  }
  char size_text[32];
  if (!read_small_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", size_text,
                       sizeof size_text)) {
    return 0;
  }
  const auto size = static_cast<std::size_t>(std::strtoull(size_text, nullptr, 10));
  // The switch of this size, where the kernel has one: "inherit" leaves the top-level mode.
  char path[96];
  std::snprintf(path, sizeof path, "/sys/kernel/mm/transparent_hugepage/hugepages-%zukB/enabled",
                size / 1024);
  char size_mode[128];
  if (read_small_file(path, size_mode, sizeof size_mode) && mode_is(size_mode, "[never]")) return 0;
  return size;
}

void advise_huge_pages(void* start, std::size_t size) noexcept {
  // EINVAL on a kernel built without THP: the range simply keeps small pages.
  madvise(start, size, MADV_HUGEPAGE);
}

}  // namespace lifecycle::detail

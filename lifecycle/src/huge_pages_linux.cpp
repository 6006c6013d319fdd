// Transparent huge pages on Linux (Documentation/admin-guide/mm/transhuge.rst):
// /sys/kernel/mm/transparent_hugepage/enabled reads like "always [madvise] never", the bracketed
// word being the mode. "always" and "madvise" back a MADV_HUGEPAGE range with huge pages on its
// first touch; "never" does not. hpage_pmd_size holds the huge page size in bytes (2 MiB on
// x86-64 and on arm64 with 4 KiB pages).
#include "huge_pages.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

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

}  // namespace

std::size_t transparent_huge_page_size() noexcept {
  char mode[128];
  if (!read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", mode, sizeof mode) ||
      std::strstr(mode, "[never]") != nullptr) {
    return 0;
  }
  char size[32];
  if (!read_small_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", size, sizeof size))
    return 0;
  return static_cast<std::size_t>(std::strtoull(size, nullptr, 10));
}

void advise_huge_pages(void* start, std::size_t size) noexcept {
  // EINVAL on a kernel built without THP: the range simply keeps small pages.
  madvise(start, size, MADV_HUGEPAGE);
}

}  // namespace lifecycle::detail

// Process memory on Linux: /proc/self/status carries VmRSS (resident now) and VmHWM (the
// resident high-water mark), both in kB (proc(5)). Both come from the kernel's RSS counters,
// which lag by up to 64 page faults per thread (SPLIT_RSS_COUNTING) on older kernels.
#include "lifecycle/process_memory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace lifecycle {

namespace {

// Reads the "VmRSS:   1234 kB" and "VmHWM: ..." lines; false when either is missing.
bool read_status_kib(std::FILE* status, std::size_t& rss_kib, std::size_t& hwm_kib) {
  char line[256];
  bool have_rss = false;
  bool have_hwm = false;
  while (std::fgets(line, sizeof line, status) != nullptr) {
    unsigned long long value = 0;
    if (std::sscanf(line, "VmRSS: %llu kB", &value) == 1) {
      rss_kib = value;
      have_rss = true;
    } else if (std::sscanf(line, "VmHWM: %llu kB", &value) == 1) {
      hwm_kib = value;
      have_hwm = true;
    }
  }
  return have_rss && have_hwm;
}

}  // namespace

memory_usage process_memory() {
  std::FILE* status = std::fopen("/proc/self/status", "re");
  if (status == nullptr) {
    throw std::system_error(errno, std::generic_category(), "process_memory: /proc/self/status");
  }
  std::size_t rss_kib = 0;
  std::size_t hwm_kib = 0;
  const bool complete = read_status_kib(status, rss_kib, hwm_kib);
  std::fclose(status);
  if (!complete) {
    throw std::system_error(ENODATA, std::generic_category(),
                            "process_memory: no VmRSS/VmHWM in /proc/self/status");
  }
  // The kernel updates the high-water mark lazily (RSS is counted per thread in batches and
  // folded in from time to time), so a fresh VmRSS can exceed VmHWM: the peak is at least now.
  return memory_usage{rss_kib * 1024, std::max(rss_kib, hwm_kib) * 1024};
}

}  // namespace lifecycle

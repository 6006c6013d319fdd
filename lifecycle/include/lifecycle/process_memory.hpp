// Memory of this process as the operating system sees it: the figure the articles read with
// psutil.Process().memory_info().rss to show whether freed memory went back to the OS.
// Linux reads /proc/self/status (VmRSS, VmHWM); macOS asks task_info(MACH_TASK_BASIC_INFO)
// (resident_size, resident_size_max).
#pragma once

#include <cstddef>

namespace lifecycle {

struct memory_usage {
  std::size_t current_rss = 0;  // bytes resident now
  std::size_t peak_rss = 0;     // most bytes resident at once since the process started
};

// Throws std::system_error when the OS does not answer.
memory_usage process_memory();

}  // namespace lifecycle

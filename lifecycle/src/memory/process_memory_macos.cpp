// Process memory on macOS: task_info(MACH_TASK_BASIC_INFO) fills mach_task_basic_info, whose
// resident_size is the resident memory now and resident_size_max its high-water mark, both in
// bytes (<mach/task_info.h>). MACH_TASK_BASIC_INFO replaces the deprecated TASK_BASIC_INFO,
// whose fields are 32-bit on some ABIs.
#include "lifecycle/process_memory.hpp"

#include <mach/mach.h>
#include <mach/mach_error.h>
#include <mach/task_info.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace lifecycle {

memory_usage process_memory() {
  mach_task_basic_info_data_t info{};
  mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
  const kern_return_t status = task_info(mach_task_self(), MACH_TASK_BASIC_INFO,
                                         reinterpret_cast<task_info_t>(&info), &count);
  if (status != KERN_SUCCESS) {
    // kern_return_t is not an errno; report it by name in the message.
    throw std::system_error(EIO, std::generic_category(),
                            std::string("process_memory: task_info: ") + mach_error_string(status));
  }
  return memory_usage{static_cast<std::size_t>(info.resident_size),
                      static_cast<std::size_t>(info.resident_size_max)};
}

}  // namespace lifecycle

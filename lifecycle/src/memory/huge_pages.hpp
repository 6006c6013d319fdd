// Transparent huge pages for the allocator's arenas (allocator.cpp): whether the OS can back an
// advised range of memory with huge pages, and the advice. One file per OS:
// huge_pages_linux.cpp, huge_pages_macos.cpp.
#pragma once

#include <cstddef>

namespace lifecycle::detail {

// The size of the huge pages the OS backs an advised, aligned range with, or 0 when it will not
// (Linux: transparent huge pages set to "never", or unknown; macOS: none for anonymous memory).
std::size_t transparent_huge_page_size() noexcept;

// Asks the OS to back [start, start + size) with huge pages. `start` and `size` are multiples of
// transparent_huge_page_size(). Advice only: nothing changes if the OS declines.
void advise_huge_pages(void* start, std::size_t size) noexcept;

}  // namespace lifecycle::detail

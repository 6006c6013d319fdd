// Huge pages on macOS: there is no advice that turns an existing anonymous mapping into
// superpages (Intel Macs can ask for them only when mapping, through a VM_FLAGS_SUPERPAGE_* value
// in mmap's fd argument, which this allocator does not use), so arenas keep the base page size.
#include "memory/huge_pages.hpp"

namespace lifecycle::detail {

std::size_t transparent_huge_page_size() noexcept { return 0; }

void advise_huge_pages(void*, std::size_t) noexcept {}

}  // namespace lifecycle::detail

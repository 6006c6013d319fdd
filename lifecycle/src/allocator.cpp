// Stand-in until the small-object allocator lands: the system allocator.
#include "lifecycle/allocator.hpp"

#include <cstdlib>
#include <new>

namespace lifecycle {

void* object_malloc(std::size_t size) {
  void* block = std::malloc(size == 0 ? 1 : size);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

void object_free(void* block) noexcept { std::free(block); }

}  // namespace lifecycle

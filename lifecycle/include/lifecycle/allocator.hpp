// The runtime's object allocator: every managed object's memory comes from here, the way
// CPython's objects come from PyObject_Malloc / PyObject_Free.
#pragma once

#include <cstddef>

namespace lifecycle {

// Memory for one object of `size` bytes, 16-byte aligned. Throws std::bad_alloc when exhausted.
void* object_malloc(std::size_t size);
// Releases memory from object_malloc; nullptr is ignored.
void object_free(void* block) noexcept;

}  // namespace lifecycle

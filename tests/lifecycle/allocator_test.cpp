#include "catch.hpp"
#include "lifecycle/allocator.hpp"

#include <cstdint>

TEST_CASE("object_malloc returns 16-byte aligned, writable blocks") {
  for (std::size_t size : {1u, 16u, 17u, 512u, 513u, 4096u}) {
    auto* block = static_cast<unsigned char*>(lifecycle::object_malloc(size));
    REQUIRE(block != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(block) % 16 == 0);
    block[size - 1] = 0xCD;
    block[0] = 0xAB;
    CHECK(block[0] == 0xAB);
    if (size > 1) CHECK(block[size - 1] == 0xCD);
    lifecycle::object_free(block);
  }
  lifecycle::object_free(nullptr);
}

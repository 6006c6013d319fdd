// Relaxed atomic loads and stores of plain 32-bit words that other threads read or write at the
// same time (the allocator's per-thread cache counts, read by statistics; the tracer's slot
// table, written by the freeing thread and read by a snapshot). The words stay plain
// std::uint32_t because they live in tables laid out by hand (mapped side tables, arrays in
// thread caches); std::atomic_ref would say the same, but libc++ has it only from 19 and its
// const form (C++26) not yet, so the compiler's __atomic builtins, which GCC and Clang share,
// do it here. Relaxed: each word is independent; nothing is published through it.
#pragma once

#include <cstdint>

namespace lifecycle::detail {

inline std::uint32_t relaxed_load(const std::uint32_t& word) noexcept {
  return __atomic_load_n(&word, __ATOMIC_RELAXED);
}

inline void relaxed_store(std::uint32_t& word, std::uint32_t value) noexcept {
  __atomic_store_n(&word, value, __ATOMIC_RELAXED);
}

}  // namespace lifecycle::detail

// The one place that knows which Catch2 is installed: Debian ships 2.13 (single header),
// Homebrew ships 3.x (split headers, Catch2WithMain). Tests include only this file.
#pragma once

#if AFTERLIFE_CATCH2_MAJOR >= 3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>  // Message
#include <catch2/matchers/catch_matchers_string.hpp>
#include <catch2/matchers/catch_matchers_vector.hpp>
#else
#include <catch2/catch.hpp>
#endif

// Spell the few names that differ between 2.x and 3.x the 3.x way everywhere.
#if AFTERLIFE_CATCH2_MAJOR < 3
#include <string>
namespace Catch {
using Detail::Approx;
namespace Matchers {
inline auto ContainsSubstring(const std::string& text) { return Contains(text); }
}  // namespace Matchers
}  // namespace Catch
#endif

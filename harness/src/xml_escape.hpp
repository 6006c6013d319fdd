// Text for XML attributes and content (the JUnit writers of `afterlife run` and `afterlife matrix`).
#pragma once

#include <string>
#include <string_view>

namespace afterlife::detail {

// Escapes the five XML specials; control characters XML 1.0 forbids even escaped become '?'.
std::string xml_escape(std::string_view text);

}  // namespace afterlife::detail

#include "text_pattern.hpp"

#include <stdexcept>

namespace afterlife::detail {

text_pattern::text_pattern(const std::string& expression) {
  try {
    regex_ = boost::regex(expression, boost::regex::perl);
  } catch (const boost::regex_error& e) {
    throw std::invalid_argument(e.what());
  }
}

bool text_pattern::search(std::string_view text) const {
  return boost::regex_search(text.begin(), text.end(), regex_, boost::match_not_dot_newline);
}

}  // namespace afterlife::detail

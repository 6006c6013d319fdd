// The one regular-expression syntax of afterlife: Perl's, as Boost.Regex implements it
// (`(?i)` for case-insensitive, `\d`, lazy quantifiers, look-ahead), for both `--at line:REGEX`
// and `--expect output~REGEX`. `^` and `$` match at line boundaries and `.` never matches a
// newline, as grep users expect. Boost.Regex rather than std::regex: std::regex's ECMAScript has
// no `(?i)`, and it recurses per character (a MiB of output overflows the stack) where
// Boost.Regex reports runaway backtracking as an error.
#pragma once

#include <boost/regex.hpp>

#include <string>
#include <string_view>

namespace afterlife::detail {

class text_pattern {
 public:
  // Throws std::invalid_argument saying what is wrong with the expression.
  explicit text_pattern(const std::string& expression);
  // Whether the pattern matches somewhere in text. Throws std::runtime_error when the match is
  // too complex to finish (catastrophic backtracking).
  bool search(std::string_view text) const;

 private:
  boost::regex regex_;
};

// Said by --help wherever a REGEX is taken.
inline constexpr std::string_view regex_syntax = "Perl syntax (Boost.Regex), e.g. (?i)ready";

}  // namespace afterlife::detail

// What the terminal gets: colour and redrawn lines. The one place that reads --color,
// NO_COLOR and TERM (https://no-color.org: NO_COLOR set to anything non-empty turns colour off;
// --color always turns it back on).
#pragma once

#include <string_view>

namespace afterlife::terminal {

enum class colour_choice { automatic, always, never };

// "auto", "always", "never"; throws std::invalid_argument for anything else.
colour_choice parse_colour_choice(std::string_view text);

// Whether to write colour escapes to `fd`: always / never as asked; automatic: fd is a terminal,
// NO_COLOR is unset or empty, and TERM is not "dumb".
bool use_colour(colour_choice choice, int fd);

// Whether a progress line on `fd` may be redrawn in place (\r and erase-line): a terminal
// whose TERM is not "dumb".
bool can_redraw(int fd);

}  // namespace afterlife::terminal

#include "terminal.hpp"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace afterlife::terminal {

namespace {

bool dumb_terminal() {
  const char* term = std::getenv("TERM");
  return term != nullptr && std::string_view(term) == "dumb";
}

bool no_colour_asked() {
  const char* value = std::getenv("NO_COLOR");
  return value != nullptr && *value != '\0';
}

}  // namespace

colour_choice parse_colour_choice(std::string_view text) {
  if (text == "auto") return colour_choice::automatic;
  if (text == "always") return colour_choice::always;
  if (text == "never") return colour_choice::never;
  throw std::invalid_argument("bad --color '" + std::string(text) + "' (auto, always, never)");
}

bool use_colour(colour_choice choice, int fd) {
  switch (choice) {
    case colour_choice::always: return true;
    case colour_choice::never: return false;
    case colour_choice::automatic: break;
  }
  return ::isatty(fd) != 0 && !no_colour_asked() && !dumb_terminal();
}

bool can_redraw(int fd) { return ::isatty(fd) != 0 && !dumb_terminal(); }

}  // namespace afterlife::terminal

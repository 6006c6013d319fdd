// The runtime frame stack (see frames.hpp).
#include "lifecycle/frames.hpp"

#include <algorithm>

namespace lifecycle {

namespace detail {
constinit thread_local scoped_frame* frame_stack_top = nullptr;
}  // namespace detail

std::vector<frame> current_stack() {
  std::vector<frame> frames;
  for (const scoped_frame* f = detail::frame_stack_top; f != nullptr; f = f->parent()) {
    frames.push_back(frame{f->file(), f->line(), f->function()});
  }
  // Walked newest first; tracebacks are oldest first.
  std::reverse(frames.begin(), frames.end());
  return frames;
}

}  // namespace lifecycle

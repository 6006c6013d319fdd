// The runtime frame stack: the cheap stand-in for CPython's frame objects that the allocation
// tracer reads. A function that wants to appear in tracebacks opens a scoped_frame; its
// constructor pushes it on this thread's intrusive stack (two stores, no allocation) and its
// destructor pops it.
//
//   void load_config() {
//     lifecycle::scoped_frame frame("load_config");   // or scoped_frame{} for the default name
//     ...lifecycle::object_malloc(48)...               // traced as: this line <- load_config
//   }
//
// Difference from CPython: a CPython frame reports the line it is executing now; a scoped_frame
// reports the line where it was opened (its source_location). The newest frame of every
// traceback is the allocation site itself (object_malloc's own source_location argument), so
// `statistics("lineno")` is exact; outer frames name the function and where its scope began.
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

namespace lifecycle {

// One frame of a traceback, as tracemalloc.Frame: (filename, lineno) are its identity (equality
// and ordering, like CPython); `function` is extra information for reports.
struct frame {
  std::string filename;
  unsigned lineno = 0;
  std::string function;

  friend bool operator==(const frame& a, const frame& b) {
    return a.lineno == b.lineno && a.filename == b.filename;
  }
  friend bool operator<(const frame& a, const frame& b) {
    return a.filename != b.filename ? a.filename < b.filename : a.lineno < b.lineno;
  }
};

class scoped_frame;

namespace detail {
// Top of this thread's frame stack (nullptr when empty). A plain pointer: thread_local objects
// must be trivially destructible in this project.
extern constinit thread_local scoped_frame* frame_stack_top;
}  // namespace detail

class scoped_frame {
 public:
  // `function` must outlive the frame (a string literal); nullptr names the function with
  // `where.function_name()`.
  explicit scoped_frame(const char* function = nullptr,
                        std::source_location where = std::source_location::current()) noexcept
      : function_(function != nullptr ? function : where.function_name()),
        file_(where.file_name()),
        line_(static_cast<std::uint32_t>(where.line())),
        parent_(detail::frame_stack_top) {
    detail::frame_stack_top = this;
  }
  // Frames are strictly nested per thread (RAII), so popping restores the parent.
  ~scoped_frame() { detail::frame_stack_top = parent_; }

  scoped_frame(const scoped_frame&) = delete;
  scoped_frame& operator=(const scoped_frame&) = delete;

  const char* function() const noexcept { return function_; }
  const char* file() const noexcept { return file_; }
  unsigned line() const noexcept { return line_; }
  const scoped_frame* parent() const noexcept { return parent_; }

 private:
  friend struct frame_access;
  const char* function_;
  const char* file_;
  std::uint32_t line_;
  // The tracer's cached id for "this frame and everything below it" (a node of its calling
  // context tree), valid while node_epoch_ equals the tracer's epoch. Computed on the first
  // traced allocation under this frame, so pushing a frame never costs more than two stores.
  mutable std::uint32_t node_ = 0;
  mutable std::uint32_t node_epoch_ = 0;
  scoped_frame* parent_;
};

// The innermost open frame of the calling thread, or nullptr.
inline const scoped_frame* current_frame() noexcept { return detail::frame_stack_top; }

// The calling thread's open frames, oldest first (the order of tracemalloc.Traceback).
std::vector<frame> current_stack();

// Internal access for the tracer to the cached context node of a frame.
struct frame_access {
  static std::uint32_t& node(const scoped_frame& f) noexcept { return f.node_; }
  static std::uint32_t& node_epoch(const scoped_frame& f) noexcept { return f.node_epoch_; }
};

}  // namespace lifecycle

// The allocation tracer: CPython's tracemalloc (Lib/tracemalloc.py + Modules/_tracemalloc.c)
// for memory from lifecycle::object_malloc, with the same API and semantics:
//
//   lifecycle::tracemalloc::start(25);
//   auto before = lifecycle::tracemalloc::take_snapshot();
//   ...
//   auto after = lifecycle::tracemalloc::take_snapshot();
//   for (auto& d : after.compare_to(before, key_type::lineno)) std::cout << d.str() << '\n';
//
// A traceback is the allocation site (object_malloc's source_location) followed by the open
// scoped_frames of the allocating thread (see frames.hpp), at most `nframe` frames.
//
// Thread safety: every function here may be called from any thread, concurrently with
// allocations on other threads. Figures are exact when no other thread allocates meanwhile;
// under concurrent allocation `traced_memory()` may lag by up to 64 KiB per thread (each
// thread batches its byte count) and start/stop/clear_traces race only with the allocations
// in flight at that instant.
//
// Differences from CPython (deliberate): traces of small blocks live in a side table beside
// each arena (4 bytes per 16 bytes of arena, mapped with the arena, touched only by tracing)
// instead of a hash table, and tracebacks are nodes of a calling-context tree cached in the
// scoped_frames and per thread, so a traced allocation costs about the same with 1 frame or 25
// and takes no lock once its (frames, site) pair is known. With nframe == 1 the frame stack is
// not read, so total_nframe is 1. Snapshots dump to JSON, not pickle. See lifecycle/README.md.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lifecycle/frames.hpp"

namespace lifecycle::tracemalloc {

inline constexpr unsigned max_nframe = 65535;
// Domain of object_malloc memory (CPython's DEFAULT_DOMAIN); other domains come from track().
inline constexpr unsigned object_domain = 0;

// Frames oldest first (tracemalloc.Traceback's order); total_nframe is the depth before
// truncation to the traceback limit.
class traceback {
 public:
  traceback() = default;
  traceback(std::vector<frame> oldest_first, unsigned total_nframe)
      : frames_(std::move(oldest_first)), total_nframe_(total_nframe) {}

  const std::vector<frame>& frames() const noexcept { return frames_; }
  std::size_t size() const noexcept { return frames_.size(); }
  const frame& operator[](std::size_t i) const { return frames_.at(i); }
  unsigned total_nframe() const noexcept { return total_nframe_; }
  // The most recent frame (the allocation site).
  const frame& newest() const { return frames_.at(frames_.size() - 1); }

  // "file:line" of frames_[0], as Traceback.__str__.
  std::string str() const;
  // Traceback.format(limit, most_recent_first): two lines per frame ("  File "f", line n" and
  // the source line when the file is readable). limit < 0 keeps the oldest frames.
  std::vector<std::string> format(std::optional<int> limit = std::nullopt,
                                  bool most_recent_first = false) const;

  // Identity and ordering by frames only, as CPython (total_nframe is ignored).
  friend bool operator==(const traceback& a, const traceback& b) { return a.frames_ == b.frames_; }
  friend bool operator<(const traceback& a, const traceback& b) { return a.frames_ < b.frames_; }

 private:
  std::vector<frame> frames_;
  unsigned total_nframe_ = 0;
};

struct trace {
  unsigned domain = object_domain;
  std::size_t size = 0;
  std::shared_ptr<const traceback> tb;  // shared between traces with the same traceback
};

enum class key_type { filename, lineno, traceback };
// "filename" | "lineno" | "traceback"; anything else is std::invalid_argument.
key_type parse_key_type(std::string_view name);

struct statistic {
  traceback tb;
  std::size_t size = 0;
  std::size_t count = 0;
  std::string str() const;  // Statistic.__str__
};

struct statistic_diff {
  traceback tb;
  std::size_t size = 0;
  std::ptrdiff_t size_diff = 0;
  std::size_t count = 0;
  std::ptrdiff_t count_diff = 0;
  std::string str() const;  // StatisticDiff.__str__
};

// tracemalloc.Filter: fnmatch `filename_pattern` (Python's fnmatch: `*` also matches `/`, no
// escapes) and optionally `lineno` against the newest frame, or against any frame with
// all_frames; optionally restricted to one domain.
struct filter {
  // Same parameters as tracemalloc.Filter(inclusive, filename_pattern, lineno, all_frames, domain).
  filter(bool inclusive_, std::string filename_pattern_, std::optional<unsigned> lineno_ = {},
         bool all_frames_ = false, std::optional<unsigned> domain_ = {})
      : inclusive(inclusive_),
        filename_pattern(std::move(filename_pattern_)),
        lineno(lineno_),
        all_frames(all_frames_),
        domain(domain_) {}

  bool inclusive = true;
  std::string filename_pattern;
  std::optional<unsigned> lineno;
  bool all_frames = false;
  std::optional<unsigned> domain;
};

struct domain_filter {
  bool inclusive = true;
  unsigned domain = object_domain;
};

using any_filter = std::variant<filter, domain_filter>;

class snapshot {
 public:
  snapshot() = default;
  snapshot(std::vector<trace> traces, unsigned traceback_limit)
      : traces_(std::move(traces)), traceback_limit_(traceback_limit) {}

  const std::vector<trace>& traces() const noexcept { return traces_; }
  unsigned traceback_limit() const noexcept { return traceback_limit_; }

  // A trace is kept when no inclusive filter exists or one matches, and no exclusive filter
  // rejects it. An empty list copies every trace.
  snapshot filter_traces(const std::vector<any_filter>& filters) const;
  // Grouped by key, sorted by (size, count, traceback) descending. cumulative counts a trace
  // under every frame of its traceback (lineno and filename only, else std::invalid_argument).
  std::vector<statistic> statistics(key_type key, bool cumulative = false) const;
  // Differences to `old`: groups only in `old` appear with size 0 and a negative diff. Sorted by
  // (|size_diff|, size, |count_diff|, count, traceback) descending.
  std::vector<statistic_diff> compare_to(const snapshot& old, key_type key,
                                         bool cumulative = false) const;

  // JSON ("lifecycle.tracemalloc.snapshot/1"); throws std::system_error / std::runtime_error.
  void dump(const std::string& path) const;
  static snapshot load(const std::string& path);

 private:
  std::vector<trace> traces_;
  unsigned traceback_limit_ = 0;
};

struct traced_memory_figures {
  std::size_t current = 0;
  std::size_t peak = 0;
};

// Starts tracing with tracebacks of at most `nframe` frames: std::invalid_argument outside
// 1..65535; nothing changes (not even nframe) when already tracing.
void start(unsigned nframe = 1);
// LIFECYCLE_TRACEMALLOC=N (like PYTHONTRACEMALLOC): starts with N frames when set and
// non-empty; returns whether it started. std::invalid_argument for a value that is not 1..65535.
bool start_from_environment();

enum class stop_mode {
  clear_traces,  // CPython's stop(): traces cleared, traced memory (0, 0)
  // Stops recording new traces but keeps the live ones until allocator_release() names the
  // leaked blocks' sites (frees still remove traces). The runtime's `stop_tracer` phase uses
  // this; CPython has no equivalent because it never reports leaked blocks' sites.
  keep_traces,
};
void stop(stop_mode mode = stop_mode::clear_traces) noexcept;

bool is_tracing() noexcept;
// The nframe given to start() (1 before the first start, like get_traceback_limit()).
unsigned traceback_limit() noexcept;
// (current, peak) bytes of traced blocks; (0, 0) when not tracing.
traced_memory_figures traced_memory() noexcept;
// peak := current; nothing when not tracing.
void reset_peak() noexcept;
// Forgets every trace (and resets current and peak) without stopping.
void clear_traces() noexcept;
// Bytes the tracer itself uses: side tables, traceback tree, its hash tables.
std::size_t tracemalloc_memory() noexcept;

// The traceback where `address` (a live block) was allocated, or nullopt when not traced.
std::optional<traceback> get_object_traceback(const void* address);

// PyTraceMalloc_Track / Untrack: traces memory of another domain (any domain != 0 or memory not
// from object_malloc). track returns false when not tracing; untrack false when not traced.
bool track(unsigned domain, const void* address, std::size_t size,
           std::source_location site = std::source_location::current());
bool untrack(unsigned domain, const void* address) noexcept;

// std::runtime_error when not tracing.
snapshot take_snapshot();

}  // namespace lifecycle::tracemalloc

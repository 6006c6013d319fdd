// The allocation tracer (see tracemalloc.hpp), after CPython's Modules/_tracemalloc.c and
// Lib/tracemalloc.py.
//
// Tracebacks are nodes of one calling-context tree: a node is (parent node, file, function,
// line); a scoped_frame caches the node standing for itself and everything below it, and an
// allocation site is one more node on top of that. A trace is therefore one word (node id and
// size) in the arena's side table; frames are rebuilt, and truncated to the traceback limit,
// only when a snapshot is taken. The fast path of a traced allocation takes no lock: a
// per-thread direct-mapped cache resolves (context, site) to its node, and byte counts are
// batched per thread.
#include "lifecycle/tracemalloc.hpp"
#include "common/pthread_guard.hpp"
#include "trace/tracer_hooks.hpp"

#include <fnmatch.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <system_error>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/relaxed_word.hpp"

namespace lifecycle::tracemalloc {

namespace detail {
constinit std::atomic<std::uint32_t> trace_state{std::uint32_t{1} << epoch_shift};
constinit thread_local thread_tracer tracer_tls{};
}  // namespace detail

namespace {

using detail::epoch_shift;
using detail::slot_size_bits;
constexpr std::uint32_t max_node_id = (std::uint32_t{1} << (32 - slot_size_bits)) - 1;

struct node {
  std::uint32_t parent;  // 0: the root (no frame)
  std::uint32_t depth;   // frames from this node down to the root, itself included
  const char* file;
  const char* function;
  std::uint32_t line;
};

struct node_key {
  std::uint32_t parent;
  std::uint32_t line;
  const char* file;
  const char* function;
  bool operator==(const node_key&) const = default;
};

struct node_key_hash {
  std::size_t operator()(const node_key& k) const noexcept {
    std::size_t h = std::hash<const void*>{}(k.file);
    h = h * 31 + std::hash<const void*>{}(k.function);
    h = h * 31 + k.line;
    return h * 31 + k.parent;
  }
};

struct domain_address {
  unsigned domain;
  std::uintptr_t address;
  bool operator==(const domain_address&) const = default;
};

struct domain_address_hash {
  std::size_t operator()(const domain_address& k) const noexcept {
    return std::hash<std::uintptr_t>{}(k.address) ^ (std::size_t{k.domain} << 48);
  }
};

struct other_trace {
  std::size_t size;
  std::uint32_t node;
};

// Everything the tracer allocates, created by start() and deleted by stop(): no static object.
struct tracer_state {
  unsigned nframe = 1;
  std::vector<node> nodes{node{}};  // id 0 is the root
  std::unordered_map<node_key, std::uint32_t, node_key_hash> index;
  // Traces that are not in an arena side table: object_malloc's system-allocated blocks
  // (domain 0) and track()ed memory of any domain.
  std::unordered_map<domain_address, other_trace, domain_address_hash> others;
};

constinit pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
constinit tracer_state* g_tracer = nullptr;
// Traceback limit as of the last start (get_traceback_limit() is 1 before any start).
constinit std::atomic<unsigned> g_nframe{1};
constinit std::atomic<std::int64_t> g_current{0};
constinit std::atomic<std::int64_t> g_peak{0};

struct lock_guard : lifecycle::detail::pthread_guard {
  lock_guard() noexcept : pthread_guard(g_lock) {}
};

std::uint32_t current_epoch() noexcept { return detail::load_state() >> epoch_shift; }

// Under g_lock: new flags with a new epoch, which voids node ids cached by every thread and
// every thread's unflushed byte count. Epoch 0 is skipped: it is what a new thread starts with.
void publish_state(std::uint32_t flags) noexcept {
  std::uint32_t epoch = current_epoch() + 1;
  if ((epoch << epoch_shift) == 0) epoch = 1;
  detail::trace_state.store((epoch << epoch_shift) | flags, std::memory_order_release);
}

// ---------------------------------------------------------------------------------------------
// Byte counts (see thread_tracer in the header)

std::int64_t raise_peak(std::int64_t candidate) noexcept {
  std::int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (candidate > peak &&
         !g_peak.compare_exchange_weak(peak, candidate, std::memory_order_relaxed)) {
  }
  return std::max(peak, candidate);
}

// This thread's pending bytes go into the shared figure; its headroom is recomputed.
void flush_thread(detail::thread_tracer& t) noexcept {
  const std::int64_t current = g_current.fetch_add(t.pending, std::memory_order_relaxed) + t.pending;
  t.pending = 0;
  t.headroom = raise_peak(current) - current;
}

}  // namespace

namespace detail {

void count_slow(std::int64_t delta, std::uint32_t epoch) noexcept {
  thread_tracer& t = tracer_tls;
  if (t.epoch != epoch) {
    // Counts from before the last start/stop/clear_traces are void.
    t.epoch = epoch;
    t.pending = 0;
  }
  t.pending += delta;
  flush_thread(t);
}

}  // namespace detail

namespace {

// ---------------------------------------------------------------------------------------------
// The calling-context tree (under g_lock)

std::uint32_t intern(tracer_state& state, std::uint32_t parent, const char* file,
                     const char* function, std::uint32_t line) {
  const node_key key{parent, line, file, function};
  auto it = state.index.find(key);
  if (it != state.index.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(state.nodes.size());
  // Ids must fit a side-table slot; past that, new tracebacks go untraced.
  if (id > max_node_id) return 0;
  state.nodes.push_back(node{parent, state.nodes[parent].depth + 1, file, function, line});
  state.index.emplace(key, id);
  return id;
}

// The node of `top` and the frames under it, interning the uncached ones and caching their ids
// in the frames (only the owner thread reads or writes a frame's cache).
std::uint32_t intern_context(tracer_state& state, const scoped_frame* top, std::uint32_t epoch) {
  std::vector<const scoped_frame*> uncached;
  const scoped_frame* f = top;
  while (f != nullptr && frame_access::node_epoch(*f) != epoch) {
    uncached.push_back(f);
    f = f->parent();
  }
  std::uint32_t parent = f != nullptr ? frame_access::node(*f) : 0;
  for (auto it = uncached.rbegin(); it != uncached.rend(); ++it) {
    parent = intern(state, parent, (*it)->file(), (*it)->function(), (*it)->line());
    frame_access::node(**it) = parent;
    frame_access::node_epoch(**it) = epoch;
  }
  return parent;
}

}  // namespace

namespace detail {

// Interns (frames, site) under the lock and caches the answer for this thread.
std::uint32_t site_node_slow(const std::source_location& site, std::uint32_t epoch) noexcept {
  try {
    lock_guard lock;
    if (g_tracer == nullptr || current_epoch() != epoch) return 0;
    std::uint32_t context = 0;
    if (g_tracer->nframe > 1) {
      if (const scoped_frame* top = current_frame()) {
        context = intern_context(*g_tracer, top, epoch);
        if (context == 0) return 0;
      }
    }
    const std::uint32_t id = intern(*g_tracer, context, site.file_name(), site.function_name(),
                                    static_cast<std::uint32_t>(site.line()));
    if (id == 0) return 0;
    const std::uintptr_t key = site_key(site);
    tracer_tls.sites[site_slot(key, context)] = site_cache_entry{key, site_tag(epoch, context), id};
    return id;
  } catch (const std::bad_alloc&) {
    return 0;
  }
}

}  // namespace detail

namespace {

// Frames of node `id`, oldest first, at most `limit` of them (the newest ones).
std::vector<frame> frames_of(const tracer_state& state, std::uint32_t id, unsigned limit) {
  std::vector<frame> frames;
  for (std::uint32_t n = id; n != 0 && frames.size() < limit; n = state.nodes[n].parent) {
    const node& nd = state.nodes[n];
    frames.push_back(frame{nd.file, nd.line, nd.function});
  }
  std::reverse(frames.begin(), frames.end());
  return frames;
}

// Under g_lock: drop every trace and node and publish `flags` with a new epoch.
void reset_traces_locked(std::uint32_t flags) noexcept {
  publish_state(flags);
  detail::discard_trace_slots();
  if (g_tracer != nullptr) {
    g_tracer->others.clear();
    g_tracer->index.clear();
    g_tracer->nodes.resize(1);
  }
  g_current.store(0, std::memory_order_relaxed);
  g_peak.store(0, std::memory_order_relaxed);
}

// The calling thread's bytes into the shared figure, when they belong to the current epoch.
void flush_own() noexcept {
  detail::thread_tracer& t = detail::tracer_tls;
  if (t.epoch == current_epoch()) flush_thread(t);
}

// ---------------------------------------------------------------------------------------------
// Formatting (Lib/tracemalloc.py's _format_size)

std::string format_size(double size, bool sign) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  for (const char* unit : units) {
    const bool bytes = std::strcmp(unit, "B") == 0;
    const bool last = std::strcmp(unit, "TiB") == 0;
    if (std::abs(size) < 100 && !bytes) {
      return sign ? fmt::format("{:+.1f} {}", size, unit) : fmt::format("{:.1f} {}", size, unit);
    }
    if (std::abs(size) < 10 * 1024 || last) {
      return sign ? fmt::format("{:+.0f} {}", size, unit) : fmt::format("{:.0f} {}", size, unit);
    }
    size /= 1024;
  }
  return {};
}

// Python's fnmatch on POSIX: case-sensitive, `*` crosses `/`, no escape character.
bool filename_matches(const std::string& filename, const std::string& pattern) {
  return fnmatch(pattern.c_str(), filename.c_str(), FNM_NOESCAPE) == 0;
}

bool match_frame_impl(const filter& f, const frame& fr) {
  if (!filename_matches(fr.filename, f.filename_pattern)) return false;
  return !f.lineno || fr.lineno == *f.lineno;
}

// Filter._match
bool filter_matches(const filter& f, const trace& t) {
  bool result;
  const std::vector<frame>& frames = t.tb->frames();
  if (f.all_frames) {
    const bool any = std::any_of(frames.begin(), frames.end(),
                                 [&](const frame& fr) { return match_frame_impl(f, fr); });
    result = any ? f.inclusive : !f.inclusive;
  } else {
    // The newest frame (CPython's raw traceback[0]).
    result = !frames.empty() && match_frame_impl(f, frames.back());
    result = result != !f.inclusive;
  }
  if (f.domain) {
    return f.inclusive ? result && t.domain == *f.domain : result || t.domain != *f.domain;
  }
  return result;
}

bool filter_matches(const domain_filter& f, const trace& t) {
  return (t.domain == f.domain) != !f.inclusive;
}

bool any_filter_matches(const any_filter& f, const trace& t) {
  return std::visit([&](const auto& concrete) { return filter_matches(concrete, t); }, f);
}

bool is_inclusive(const any_filter& f) {
  return std::visit([](const auto& concrete) { return concrete.inclusive; }, f);
}

struct group_value {
  std::size_t size = 0;
  std::size_t count = 0;
};

// Snapshot._group_by: first by traceback identity (cheap), then by key value.
std::map<traceback, group_value> group_by(const std::vector<trace>& traces, key_type key,
                                          bool cumulative) {
  if (cumulative && key == key_type::traceback) {
    throw std::invalid_argument("cumulative mode cannot by used with key type 'traceback'");
  }
  std::unordered_map<const traceback*, group_value> by_identity;
  for (const trace& t : traces) {
    group_value& g = by_identity[t.tb.get()];
    g.size += t.size;
    g.count += 1;
  }
  std::map<traceback, group_value> groups;
  auto add = [&](std::vector<frame> frames, const group_value& g) {
    group_value& target = groups[traceback(std::move(frames), 0)];
    target.size += g.size;
    target.count += g.count;
  };
  for (const auto& [tb, g] : by_identity) {
    const std::vector<frame>& frames = tb->frames();
    if (frames.empty()) continue;
    if (!cumulative) {
      switch (key) {
        case key_type::traceback: add(frames, g); break;
        case key_type::lineno: add({frames.back()}, g); break;
        case key_type::filename: add({frame{frames.back().filename, 0, {}}}, g); break;
      }
      continue;
    }
    // Every frame counts, repeated frames (recursion) as often as they appear, like CPython.
    for (const frame& fr : frames) {
      if (key == key_type::lineno) {
        add({fr}, g);
      } else {
        add({frame{fr.filename, 0, {}}}, g);
      }
    }
  }
  return groups;
}

struct slot_visit {
  const tracer_state* state;
  std::vector<trace>* traces;
  std::unordered_map<std::uint32_t, std::shared_ptr<const traceback>>* tracebacks;
  unsigned limit;
};

std::shared_ptr<const traceback> traceback_for(const tracer_state& state, std::uint32_t id,
                                               unsigned limit,
                                               std::unordered_map<std::uint32_t,
                                                   std::shared_ptr<const traceback>>& cache) {
  auto it = cache.find(id);
  if (it != cache.end()) return it->second;
  auto tb = std::make_shared<const traceback>(frames_of(state, id, limit), state.nodes[id].depth);
  cache.emplace(id, tb);
  return tb;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hooks called by the allocator

namespace detail {

void on_alloc_large(const void* address, std::size_t size, const std::source_location& site) noexcept {
  const std::uint32_t state = load_state();
  const std::uint32_t id = site_node(site, state);
  if (id == 0) return;
  try {
    lock_guard lock;
    if (g_tracer == nullptr) return;
    g_tracer->others[domain_address{object_domain, reinterpret_cast<std::uintptr_t>(address)}] =
        other_trace{size, id};
  } catch (const std::bad_alloc&) {
    return;
  }
  count_alloc(size, state);
}

void on_free_large(const void* address) noexcept { untrack(object_domain, address); }

void on_thread_exit() noexcept { flush_own(); }

void on_allocator_release() noexcept {
  lock_guard lock;
  publish_state(0);
  delete g_tracer;
  g_tracer = nullptr;
  g_current.store(0, std::memory_order_relaxed);
  g_peak.store(0, std::memory_order_relaxed);
}

std::vector<frame> slot_frames(std::uint32_t slot) {
  lock_guard lock;
  const std::uint32_t id = slot_node(slot);
  if (g_tracer == nullptr || id >= g_tracer->nodes.size()) return {};
  return frames_of(*g_tracer, id, g_tracer->nframe);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Control

void start(unsigned nframe) {
  if (nframe < 1 || nframe > max_nframe) {
    throw std::invalid_argument(
        fmt::format("the number of frames must be in range [1; {}]", max_nframe));
  }
  lock_guard lock;
  if (detail::recording()) return;
  if (g_tracer == nullptr) g_tracer = new tracer_state;
  g_tracer->nframe = nframe;
  g_nframe.store(nframe, std::memory_order_relaxed);
  // Traces kept by stop(keep_traces) do not survive a new start.
  reset_traces_locked(detail::flag_recording | detail::flag_holding |
                      (nframe > 1 ? detail::flag_frames : 0));
}

bool start_from_environment() {
  const char* value = std::getenv("LIFECYCLE_TRACEMALLOC");
  if (value == nullptr || *value == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long n = std::strtoul(value, &end, 10);
  if (errno != 0 || *end != '\0' || *value == '-' || n < 1 || n > max_nframe) {
    throw std::invalid_argument(fmt::format(
        "LIFECYCLE_TRACEMALLOC: invalid number of frames '{}' (expected 1..{})", value,
        max_nframe));
  }
  start(static_cast<unsigned>(n));
  return true;
}

void stop(stop_mode mode) noexcept {
  lock_guard lock;
  if (mode == stop_mode::keep_traces) {
    // Same epoch: the traces and byte counts stay valid; only recording stops.
    if (g_tracer != nullptr) {
      const std::uint32_t state = detail::load_state();
      detail::trace_state.store((state & ~(detail::flag_recording | detail::flag_frames)) |
                                    detail::flag_holding,
                                std::memory_order_release);
    }
    return;
  }
  reset_traces_locked(0);
  delete g_tracer;
  g_tracer = nullptr;
}

bool is_tracing() noexcept { return detail::recording(); }

unsigned traceback_limit() noexcept { return g_nframe.load(std::memory_order_relaxed); }

traced_memory_figures traced_memory() noexcept {
  if (!detail::holding_traces()) return {};
  flush_own();
  const std::int64_t current = std::max<std::int64_t>(0, g_current.load(std::memory_order_relaxed));
  const std::int64_t peak = std::max(current, g_peak.load(std::memory_order_relaxed));
  return {static_cast<std::size_t>(current), static_cast<std::size_t>(peak)};
}

void reset_peak() noexcept {
  if (!is_tracing()) return;
  flush_own();
  g_peak.store(g_current.load(std::memory_order_relaxed), std::memory_order_relaxed);
  detail::tracer_tls.headroom = 0;
}

void clear_traces() noexcept {
  lock_guard lock;
  if (g_tracer == nullptr) return;
  reset_traces_locked(detail::load_state() & (detail::flag_recording | detail::flag_holding |
                                              detail::flag_frames));
}

std::size_t tracemalloc_memory() noexcept {
  // Side tables outlive stop() as zero pages (see discard_trace_slots): only counted while the
  // tracer exists.
  std::size_t bytes = detail::trace_slot_bytes();
  lock_guard lock;
  if (g_tracer == nullptr) return 0;
  const tracer_state& s = *g_tracer;
  // Node vector, plus hash nodes (key/value and a next pointer) and bucket arrays.
  bytes += sizeof(tracer_state) + s.nodes.capacity() * sizeof(node);
  bytes += s.index.size() * (sizeof(node_key) + sizeof(std::uint32_t) + 2 * sizeof(void*)) +
           s.index.bucket_count() * sizeof(void*);
  bytes += s.others.size() * (sizeof(domain_address) + sizeof(other_trace) + 2 * sizeof(void*)) +
           s.others.bucket_count() * sizeof(void*);
  return bytes;
}

std::optional<traceback> get_object_traceback(const void* address) {
  if (!detail::holding_traces()) return std::nullopt;
  std::uint32_t id = 0;
  if (std::uint32_t* slot = detail::find_trace_slot(address)) {
    id = detail::slot_node(lifecycle::detail::relaxed_load(*slot));
  }
  lock_guard lock;
  if (g_tracer == nullptr) return std::nullopt;
  if (id == 0) {
    auto it = g_tracer->others.find(
        domain_address{object_domain, reinterpret_cast<std::uintptr_t>(address)});
    if (it == g_tracer->others.end()) return std::nullopt;
    id = it->second.node;
  }
  if (id >= g_tracer->nodes.size()) return std::nullopt;
  return traceback(frames_of(*g_tracer, id, g_tracer->nframe), g_tracer->nodes[id].depth);
}

bool track(unsigned domain, const void* address, std::size_t size, std::source_location site) {
  const std::uint32_t state = detail::load_state();
  if (!detail::recording(state)) return false;
  const std::uint32_t id = detail::site_node(site, state);
  if (id == 0) return false;
  std::size_t replaced = 0;
  {
    lock_guard lock;
    if (g_tracer == nullptr) return false;
    auto [it, inserted] = g_tracer->others.try_emplace(
        domain_address{domain, reinterpret_cast<std::uintptr_t>(address)}, other_trace{size, id});
    // Tracking an address again replaces its trace (CPython does the same).
    if (!inserted) {
      replaced = it->second.size;
      it->second = other_trace{size, id};
    }
  }
  detail::count_free(replaced, state);
  detail::count_alloc(size, state);
  return true;
}

bool untrack(unsigned domain, const void* address) noexcept {
  const std::uint32_t state = detail::load_state();
  std::size_t size = 0;
  {
    lock_guard lock;
    if (g_tracer == nullptr) return false;
    auto it = g_tracer->others.find(domain_address{domain, reinterpret_cast<std::uintptr_t>(address)});
    if (it == g_tracer->others.end()) return false;
    size = it->second.size;
    g_tracer->others.erase(it);
  }
  detail::count_free(size, state);
  return true;
}

snapshot take_snapshot() {
  if (!is_tracing()) {
    throw std::runtime_error(
        "the tracemalloc module must be tracing memory allocations to take a snapshot");
  }
  std::vector<trace> traces;
  std::unordered_map<std::uint32_t, std::shared_ptr<const traceback>> tracebacks;
  lock_guard lock;
  if (g_tracer == nullptr) {
    throw std::runtime_error(
        "the tracemalloc module must be tracing memory allocations to take a snapshot");
  }
  const tracer_state& state = *g_tracer;
  slot_visit visit{&state, &traces, &tracebacks, state.nframe};
  // Lock order: the tracer's lock, then the allocator's (taken inside).
  detail::for_each_trace_slot(
      [](void* context, const void*, std::uint32_t slot, std::size_t block_size) {
        auto& v = *static_cast<slot_visit*>(context);
        const std::uint32_t id = detail::slot_node(slot);
        if (id == 0 || id >= v.state->nodes.size()) return;  // written by a racing stop/start
        v.traces->push_back(trace{object_domain, detail::slot_size(slot, block_size),
                                  traceback_for(*v.state, id, v.limit, *v.tracebacks)});
      },
      &visit);
  for (const auto& [key, other] : state.others) {
    traces.push_back(
        trace{key.domain, other.size, traceback_for(state, other.node, state.nframe, tracebacks)});
  }
  return snapshot(std::move(traces), state.nframe);
}

key_type parse_key_type(std::string_view name) {
  if (name == "filename") return key_type::filename;
  if (name == "lineno") return key_type::lineno;
  if (name == "traceback") return key_type::traceback;
  throw std::invalid_argument(fmt::format("unknown key_type: '{}'", name));
}

// ---------------------------------------------------------------------------------------------
// Traceback, statistics

std::string traceback::str() const {
  if (frames_.empty()) return "<no frames>";
  return fmt::format("{}:{}", frames_[0].filename, frames_[0].lineno);
}

std::vector<std::string> traceback::format(std::optional<int> limit, bool most_recent_first) const {
  auto first = frames_.begin();
  auto last = frames_.end();
  if (limit) {
    const auto n = static_cast<std::ptrdiff_t>(frames_.size());
    if (*limit > 0) {
      first = last - std::min<std::ptrdiff_t>(n, *limit);  // the newest `limit` frames
    } else {
      // Python's self[:limit]: all but the newest -limit frames, none for 0.
      last = first + (*limit == 0 ? 0 : std::max<std::ptrdiff_t>(0, n + *limit));
    }
  }
  std::vector<const frame*> selected;
  for (auto it = first; it != last; ++it) selected.push_back(&*it);
  if (most_recent_first) std::reverse(selected.begin(), selected.end());
  std::vector<std::string> lines;
  for (const frame* fr : selected) {
    lines.push_back(fmt::format("  File \"{}\", line {}", fr->filename, fr->lineno));
    std::ifstream source(fr->filename);
    std::string text;
    for (unsigned n = 1; n <= fr->lineno && std::getline(source, text); ++n) {
      if (n != fr->lineno) continue;
      const auto b = text.find_first_not_of(" \t\r\n");
      const auto e = text.find_last_not_of(" \t\r\n");
      if (b != std::string::npos) lines.push_back("    " + text.substr(b, e - b + 1));
    }
  }
  return lines;
}

std::string statistic::str() const {
  std::string text = fmt::format("{}: size={}, count={}", tb.str(),
                                 format_size(static_cast<double>(size), false), count);
  if (count != 0) {
    text += ", average=" +
            format_size(static_cast<double>(size) / static_cast<double>(count), false);
  }
  return text;
}

std::string statistic_diff::str() const {
  std::string text =
      fmt::format("{}: size={} ({}), count={} ({:+d})", tb.str(),
                  format_size(static_cast<double>(size), false),
                  format_size(static_cast<double>(size_diff), true), count, count_diff);
  if (count != 0) {
    text += ", average=" +
            format_size(static_cast<double>(size) / static_cast<double>(count), false);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Snapshot

snapshot snapshot::filter_traces(const std::vector<any_filter>& filters) const {
  if (filters.empty()) return snapshot(traces_, traceback_limit_);
  std::vector<const any_filter*> include;
  std::vector<const any_filter*> exclude;
  for (const any_filter& f : filters) (is_inclusive(f) ? include : exclude).push_back(&f);
  std::vector<trace> kept;
  for (const trace& t : traces_) {
    if (!include.empty() &&
        std::none_of(include.begin(), include.end(),
                     [&](const any_filter* f) { return any_filter_matches(*f, t); })) {
      continue;
    }
    if (std::any_of(exclude.begin(), exclude.end(),
                    [&](const any_filter* f) { return !any_filter_matches(*f, t); })) {
      continue;
    }
    kept.push_back(t);
  }
  return snapshot(std::move(kept), traceback_limit_);
}

std::vector<statistic> snapshot::statistics(key_type key, bool cumulative) const {
  std::vector<statistic> stats;
  for (auto& [tb, g] : group_by(traces_, key, cumulative)) {
    stats.push_back(statistic{tb, g.size, g.count});
  }
  std::sort(stats.begin(), stats.end(), [](const statistic& a, const statistic& b) {
    if (a.size != b.size) return a.size > b.size;
    if (a.count != b.count) return a.count > b.count;
    return b.tb < a.tb;
  });
  return stats;
}

std::vector<statistic_diff> snapshot::compare_to(const snapshot& old, key_type key,
                                                 bool cumulative) const {
  std::map<traceback, group_value> new_group = group_by(traces_, key, cumulative);
  std::map<traceback, group_value> old_group = group_by(old.traces_, key, cumulative);
  std::vector<statistic_diff> diffs;
  for (auto& [tb, g] : new_group) {
    auto prev = old_group.find(tb);
    std::ptrdiff_t size_diff = static_cast<std::ptrdiff_t>(g.size);
    std::ptrdiff_t count_diff = static_cast<std::ptrdiff_t>(g.count);
    if (prev != old_group.end()) {
      size_diff -= static_cast<std::ptrdiff_t>(prev->second.size);
      count_diff -= static_cast<std::ptrdiff_t>(prev->second.count);
      old_group.erase(prev);
    }
    diffs.push_back(statistic_diff{tb, g.size, size_diff, g.count, count_diff});
  }
  // Groups that vanished: size 0, the whole old size as a negative difference.
  for (auto& [tb, g] : old_group) {
    diffs.push_back(statistic_diff{tb, 0, -static_cast<std::ptrdiff_t>(g.size), 0,
                                   -static_cast<std::ptrdiff_t>(g.count)});
  }
  std::sort(diffs.begin(), diffs.end(), [](const statistic_diff& a, const statistic_diff& b) {
    const auto abs_size_a = std::abs(a.size_diff), abs_size_b = std::abs(b.size_diff);
    if (abs_size_a != abs_size_b) return abs_size_a > abs_size_b;
    if (a.size != b.size) return a.size > b.size;
    const auto abs_count_a = std::abs(a.count_diff), abs_count_b = std::abs(b.count_diff);
    if (abs_count_a != abs_count_b) return abs_count_a > abs_count_b;
    if (a.count != b.count) return a.count > b.count;
    return b.tb < a.tb;
  });
  return diffs;
}

namespace {
constexpr const char* snapshot_schema = "lifecycle.tracemalloc.snapshot/1";
}  // namespace

void snapshot::dump(const std::string& path) const {
  // Tracebacks are written once each and referred to by index.
  nlohmann::json tracebacks = nlohmann::json::array();
  nlohmann::json traces = nlohmann::json::array();
  std::unordered_map<const traceback*, std::size_t> index;
  for (const trace& t : traces_) {
    auto [it, inserted] = index.try_emplace(t.tb.get(), index.size());
    if (inserted) {
      nlohmann::json frames = nlohmann::json::array();
      for (const frame& fr : t.tb->frames()) {
        frames.push_back({fr.filename, fr.lineno, fr.function});
      }
      tracebacks.push_back({{"total_nframe", t.tb->total_nframe()}, {"frames", frames}});
    }
    traces.push_back({t.domain, t.size, it->second});
  }
  const nlohmann::json doc = {{"schema", snapshot_schema},
                              {"traceback_limit", traceback_limit_},
                              {"tracebacks", tracebacks},
                              {"traces", traces}};
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw std::system_error(errno, std::generic_category(), "snapshot::dump: " + path);
  }
  out << doc.dump() << '\n';
  out.flush();
  if (!out) {
    throw std::system_error(errno, std::generic_category(), "snapshot::dump: writing " + path);
  }
}

snapshot snapshot::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::system_error(errno, std::generic_category(), "snapshot::load: " + path);
  nlohmann::json doc;
  try {
    in >> doc;
    if (doc.at("schema") != snapshot_schema) {
      throw std::runtime_error("not a " + std::string(snapshot_schema) + " file");
    }
    std::vector<std::shared_ptr<const traceback>> tracebacks;
    for (const auto& tb : doc.at("tracebacks")) {
      std::vector<frame> frames;
      for (const auto& fr : tb.at("frames")) {
        frames.push_back(frame{fr.at(0).get<std::string>(), fr.at(1).get<unsigned>(),
                               fr.at(2).get<std::string>()});
      }
      tracebacks.push_back(
          std::make_shared<const traceback>(std::move(frames), tb.at("total_nframe").get<unsigned>()));
    }
    std::vector<trace> traces;
    for (const auto& t : doc.at("traces")) {
      traces.push_back(trace{t.at(0).get<unsigned>(), t.at(1).get<std::size_t>(),
                             tracebacks.at(t.at(2).get<std::size_t>())});
    }
    return snapshot(std::move(traces), doc.at("traceback_limit").get<unsigned>());
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("snapshot::load: " + path + ": " + e.what());
  } catch (const std::out_of_range& e) {
    throw std::runtime_error("snapshot::load: " + path + ": bad traceback index");
  }
}

}  // namespace lifecycle::tracemalloc

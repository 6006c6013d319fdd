#include "catch.hpp"
#include "lifecycle/allocator.hpp"
#include "lifecycle/frames.hpp"
#include "lifecycle/tracemalloc.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace tmc = lifecycle::tracemalloc;
using tmc::key_type;

namespace {

void fresh_tracer(unsigned nframe) {
  tmc::stop();
  lifecycle::allocator_release();
  lifecycle::allocator_init({});
  tmc::start(nframe);
}

tmc::trace fake_trace(std::size_t size, std::vector<lifecycle::frame> oldest_first,
                     unsigned domain = 0) {
  const auto n = static_cast<unsigned>(oldest_first.size());
  return tmc::trace{domain, size, std::make_shared<const tmc::traceback>(std::move(oldest_first), n)};
}

lifecycle::frame fr(const char* file, unsigned line) { return lifecycle::frame{file, line, "f"}; }

// The leaky program of the articles: a global cache that only grows and an unbounded memo.
unsigned g_cache_line = 0;
unsigned g_memo_line = 0;
unsigned g_temp_line = 0;
std::vector<void*> g_cache;
std::map<int, void*> g_memo;

void remember(int) {
  g_cache.push_back(lifecycle::object_malloc(64)); g_cache_line = __LINE__;
}

void* memo_lookup(int key) {
  auto it = g_memo.find(key);
  if (it != g_memo.end()) return it->second;
  void* entry = lifecycle::object_malloc(200); g_memo_line = __LINE__;
  g_memo.emplace(key, entry);
  return entry;
}

void transient_work() {
  void* scratch = lifecycle::object_malloc(48); g_temp_line = __LINE__;
  lifecycle::object_free(scratch);
}

void release_leaky_program() {
  for (void* p : g_cache) lifecycle::object_free(p);
  for (auto& [key, p] : g_memo) lifecycle::object_free(p);
  g_cache.clear();
  g_memo.clear();
}

}  // namespace

TEST_CASE("start validates nframe and does nothing while already tracing") {
  tmc::stop();
  CHECK_THROWS_AS(tmc::start(0), std::invalid_argument);
  CHECK_THROWS_AS(tmc::start(65536), std::invalid_argument);
  CHECK_FALSE(tmc::is_tracing());
  tmc::start(65535);
  CHECK(tmc::is_tracing());
  CHECK(tmc::traceback_limit() == 65535);
  tmc::stop();
  tmc::start(5);
  tmc::start(10);
  CHECK(tmc::traceback_limit() == 5);
  tmc::stop();
  CHECK_FALSE(tmc::is_tracing());
}

TEST_CASE("take_snapshot is an error when not tracing, and stop clears traces") {
  fresh_tracer(1);
  void* p = lifecycle::object_malloc(100);
  CHECK(tmc::traced_memory().current == 100);
  CHECK(tmc::take_snapshot().traces().size() == 1);
  tmc::stop();
  CHECK_THROWS_AS(tmc::take_snapshot(), std::runtime_error);
  CHECK(tmc::traced_memory().current == 0);
  CHECK(tmc::traced_memory().peak == 0);
  CHECK_FALSE(tmc::get_object_traceback(p).has_value());
  lifecycle::object_free(p);
  // A block allocated before start is not traced, and freeing it changes nothing.
  void* untraced = lifecycle::object_malloc(64);
  tmc::start(1);
  lifecycle::object_free(untraced);
  CHECK(tmc::traced_memory().current == 0);
  CHECK(tmc::take_snapshot().traces().empty());
}

TEST_CASE("traced memory counts requested sizes, and peak and reset_peak") {
  fresh_tracer(1);
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(lifecycle::object_malloc(100));
  void* large = lifecycle::object_malloc(5000);
  CHECK(tmc::traced_memory().current == 100 * 100 + 5000);
  for (int i = 0; i < 50; ++i) lifecycle::object_free(blocks[i]);
  lifecycle::object_free(large);
  auto figures = tmc::traced_memory();
  CHECK(figures.current == 50 * 100);
  CHECK(figures.peak == 100 * 100 + 5000);
  tmc::reset_peak();
  CHECK(tmc::traced_memory().peak == 50 * 100);
  void* one = lifecycle::object_malloc(300);
  CHECK(tmc::traced_memory().peak == 50 * 100 + 300);
  lifecycle::object_free(one);
  CHECK(tmc::traced_memory().peak == 50 * 100 + 300);
  CHECK(tmc::traced_memory().current == 50 * 100);
  tmc::clear_traces();
  CHECK(tmc::traced_memory().current == 0);
  CHECK(tmc::traced_memory().peak == 0);
  CHECK(tmc::is_tracing());
  for (int i = 50; i < 100; ++i) lifecycle::object_free(blocks[i]);
  CHECK(tmc::traced_memory().current == 0);
  tmc::stop();
  tmc::reset_peak();  // no-op when not tracing
  CHECK(tmc::traced_memory().peak == 0);
}

TEST_CASE("a growing global cache and an unbounded memo are the top compare_to lines") {
  fresh_tracer(1);
  for (int i = 0; i < 10; ++i) remember(i);
  const tmc::snapshot before = tmc::take_snapshot();
  for (int i = 0; i < 2000; ++i) {
    remember(i);             // +64 bytes each: 128,000 bytes
    memo_lookup(i);          // +200 bytes each: 400,000 bytes
    memo_lookup(i % 10);     // hits
    transient_work();        // nothing left
  }
  const tmc::snapshot after = tmc::take_snapshot();
  const auto diffs = after.compare_to(before, key_type::lineno);
  REQUIRE(diffs.size() >= 2);
  INFO(diffs[0].str() << "\n" << diffs[1].str());
  CHECK(diffs[0].tb.newest().filename == __FILE__);
  CHECK(diffs[0].tb.newest().lineno == g_memo_line);
  CHECK(diffs[0].size_diff == 2000 * 200);
  CHECK(diffs[0].count_diff == 2000);
  CHECK(diffs[1].tb.newest().lineno == g_cache_line);
  CHECK(diffs[1].size == 2010 * 64);
  CHECK(diffs[1].size_diff == 2000 * 64);
  CHECK(diffs[1].count == 2010);
  for (const auto& d : diffs) CHECK(d.tb.newest().lineno != g_temp_line);
  CHECK(diffs[0].str() == std::string(__FILE__) + ":" + std::to_string(g_memo_line) +
                              ": size=391 KiB (+391 KiB), count=2000 (+2000), average=200 B");

  const auto top = after.statistics(key_type::lineno);
  REQUIRE(top.size() == 2);
  CHECK(top[0].tb.newest().lineno == g_memo_line);
  CHECK(top[0].size == 2000 * 200);
  CHECK(top[1].count == 2010);
  const auto by_file = after.statistics(key_type::filename);
  REQUIRE(by_file.size() == 1);
  CHECK(by_file[0].tb.newest().lineno == 0);
  CHECK(by_file[0].size == 2000 * 200 + 2010 * 64);

  // Entries that vanished: the memo is dropped, so it appears with size 0 and a negative diff.
  for (auto& [key, p] : g_memo) lifecycle::object_free(p);
  g_memo.clear();
  const auto gone = tmc::take_snapshot().compare_to(after, key_type::lineno);
  REQUIRE_FALSE(gone.empty());
  CHECK(gone[0].tb.newest().lineno == g_memo_line);
  CHECK(gone[0].size == 0);
  CHECK(gone[0].size_diff == -2000 * 200);
  CHECK(gone[0].count == 0);
  CHECK(gone[0].count_diff == -2000);
  release_leaky_program();
}

TEST_CASE("statistics sort by size, count, traceback, and cumulative counts every frame") {
  const tmc::snapshot snap(
      {fake_trace(30, {fr("a.py", 1), fr("b.py", 2)}), fake_trace(30, {fr("a.py", 1), fr("b.py", 2)}),
       fake_trace(60, {fr("a.py", 5), fr("c.py", 3)}), fake_trace(10, {fr("c.py", 3), fr("c.py", 3)}),
       fake_trace(60, {fr("z.py", 9)})},
      2);
  const auto by_tb = snap.statistics(key_type::traceback);
  REQUIRE(by_tb.size() == 4);
  // Two entries of 60 with count 1 and 2: (60, 2) first, then ties broken by traceback desc.
  CHECK(by_tb[0].size == 60);
  CHECK(by_tb[0].count == 2);
  CHECK(by_tb[0].tb.newest() == fr("b.py", 2));
  CHECK(by_tb[1].tb.newest() == fr("z.py", 9));
  CHECK(by_tb[2].tb.newest() == fr("c.py", 3));
  CHECK(by_tb[3].size == 10);

  const auto by_line = snap.statistics(key_type::lineno);
  REQUIRE(by_line.size() == 3);
  CHECK(by_line[0].tb.newest() == fr("c.py", 3));
  CHECK(by_line[0].size == 70);

  const auto cumulative = snap.statistics(key_type::lineno, true);
  std::map<std::string, std::pair<std::size_t, std::size_t>> got;
  for (const auto& s : cumulative) got[s.tb.str()] = {s.size, s.count};
  CHECK(got["a.py:1"] == std::make_pair<std::size_t, std::size_t>(60, 2));
  CHECK(got["c.py:3"] == std::make_pair<std::size_t, std::size_t>(80, 3));  // 60 + 10 twice
  const auto files = snap.statistics(key_type::filename, true);
  REQUIRE(files.size() == 4);
  CHECK(files[0].tb.str() == "a.py:0");
  CHECK(files[0].size == 120);

  CHECK_THROWS_AS(snap.statistics(key_type::traceback, true), std::invalid_argument);
  CHECK(tmc::parse_key_type("lineno") == key_type::lineno);
  CHECK_THROWS_AS(tmc::parse_key_type("line"), std::invalid_argument);
}

TEST_CASE("filters: inclusive, exclusive, fnmatch, lineno, all_frames, domain") {
  const tmc::snapshot snap({fake_trace(1, {fr("/app/main.py", 10), fr("/lib/json.py", 20)}),
                           fake_trace(2, {fr("/lib/json.py", 30), fr("/app/main.py", 11)}),
                           fake_trace(4, {fr("/app/util.py", 5)}),
                           fake_trace(8, {fr("/app/util.py", 6)}, 7)},
                          2);
  auto total = [](const tmc::snapshot& s) {
    std::size_t t = 0;
    for (const auto& tr : s.traces()) t += tr.size;
    return t;
  };
  using tmc::filter;
  using tmc::domain_filter;
  CHECK(total(snap.filter_traces({})) == 15);
  // Newest frame only.
  CHECK(total(snap.filter_traces({filter{true, "/app/*"}})) == 2 + 4 + 8);
  CHECK(total(snap.filter_traces({filter{true, "*json*"}})) == 1);
  CHECK(total(snap.filter_traces({filter{false, "*json*"}})) == 14);
  // `*` crosses '/', `?` is one character, [] classes, no escapes.
  CHECK(total(snap.filter_traces({filter{true, "*/util.p?"}})) == 12);
  CHECK(total(snap.filter_traces({filter{true, "/app/[mu]*"}})) == 14);
  // Any frame.
  CHECK(total(snap.filter_traces({filter{true, "/app/main.py", {}, true}})) == 3);
  CHECK(total(snap.filter_traces({filter{false, "/app/main.py", {}, true}})) == 12);
  // lineno.
  CHECK(total(snap.filter_traces({filter{true, "/app/util.py", 6}})) == 8);
  CHECK(total(snap.filter_traces({filter{false, "/app/util.py", 6}})) == 7);
  // Inclusive filters are ORed, exclusive ones all apply.
  CHECK(total(snap.filter_traces({filter{true, "*json*"}, filter{true, "/app/util.py", 5}})) == 5);
  CHECK(total(snap.filter_traces({filter{true, "*"}, filter{false, "*util*"},
                                  filter{false, "*json*"}})) == 2);
  // Domains.
  CHECK(total(snap.filter_traces({domain_filter{true, 7}})) == 8);
  CHECK(total(snap.filter_traces({domain_filter{false, 7}})) == 7);
  CHECK(total(snap.filter_traces({filter{true, "/app/*", {}, false, 0}})) == 6);
  CHECK(total(snap.filter_traces({filter{false, "/app/util.py", {}, false, 7}})) == 7);
}

TEST_CASE("tracebacks: allocation site plus scoped frames, truncated to nframe") {
  fresh_tracer(3);
  unsigned outer_line = 0, inner_line = 0, site_line = 0;
  void* p = nullptr;
  {
    lifecycle::scoped_frame outer("outer"); outer_line = __LINE__;
    {
      lifecycle::scoped_frame inner("inner"); inner_line = __LINE__;
      {
        lifecycle::scoped_frame deepest("deepest");
        {
          lifecycle::scoped_frame innermost("innermost");
          p = lifecycle::object_malloc(40); site_line = __LINE__;
        }
      }
    }
  }
  auto tb = tmc::get_object_traceback(p);
  REQUIRE(tb.has_value());
  REQUIRE(tb->size() == 3);
  CHECK(tb->total_nframe() == 5);
  CHECK(tb->newest().lineno == site_line);
  CHECK((*tb)[1].function == "innermost");
  CHECK((*tb)[0].function == "deepest");
  lifecycle::object_free(p);

  fresh_tracer(25);
  {
    lifecycle::scoped_frame outer("outer"); outer_line = __LINE__;
    lifecycle::scoped_frame inner("inner"); inner_line = __LINE__;
    CHECK(lifecycle::current_stack().size() == 2);
    p = lifecycle::object_malloc(700); site_line = __LINE__;  // system-allocated, still traced
  }
  tb = tmc::get_object_traceback(p);
  REQUIRE(tb.has_value());
  REQUIRE(tb->size() == 3);
  CHECK((*tb)[0] == lifecycle::frame{__FILE__, outer_line, {}});
  CHECK((*tb)[0].function == "outer");
  CHECK((*tb)[1] == lifecycle::frame{__FILE__, inner_line, {}});
  CHECK((*tb)[2] == lifecycle::frame{__FILE__, site_line, {}});
  CHECK(tb->str() == std::string(__FILE__) + ":" + std::to_string(outer_line));
  const auto lines = tb->format(1);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "  File \"" + std::string(__FILE__) + "\", line " + std::to_string(site_line));
  CHECK(lines[1].find("p = lifecycle::object_malloc(700);") != std::string::npos);
  lifecycle::object_free(p);
  CHECK_FALSE(tmc::get_object_traceback(p).has_value());

  fresh_tracer(1);
  {
    lifecycle::scoped_frame outer("outer");
    p = lifecycle::object_malloc(40); site_line = __LINE__;
  }
  tb = tmc::get_object_traceback(p);
  REQUIRE(tb.has_value());
  REQUIRE(tb->size() == 1);
  CHECK(tb->newest().lineno == site_line);
  lifecycle::object_free(p);
  tmc::stop();
}

TEST_CASE("snapshots dump to a file and load back") {
  fresh_tracer(4);
  std::vector<void*> blocks;
  {
    lifecycle::scoped_frame frame("dumper");
    for (int i = 0; i < 50; ++i) blocks.push_back(lifecycle::object_malloc(16 + i));
    blocks.push_back(lifecycle::object_malloc(1000));
  }
  CHECK(tmc::track(5, &blocks, 77));
  const tmc::snapshot original = tmc::take_snapshot();
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tracemalloc_" + std::to_string(getpid()) + ".json"))
          .string();
  original.dump(path);
  const tmc::snapshot loaded = tmc::snapshot::load(path);
  std::filesystem::remove(path);

  CHECK(loaded.traceback_limit() == 4);
  REQUIRE(loaded.traces().size() == original.traces().size());
  for (key_type key : {key_type::traceback, key_type::lineno, key_type::filename}) {
    const auto a = original.statistics(key);
    const auto b = loaded.statistics(key);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].str() == b[i].str());
      CHECK(a[i].tb == b[i].tb);
      CHECK(a[i].tb.frames().front().function == b[i].tb.frames().front().function);
    }
  }
  CHECK(loaded.compare_to(original, key_type::traceback).front().size_diff == 0);
  CHECK(loaded.filter_traces({tmc::domain_filter{true, 5}}).traces().at(0).size == 77);

  CHECK_THROWS(tmc::snapshot::load(path));
  {
    std::ofstream bad(path);
    bad << "{\"schema\": \"something else\"}";
  }
  CHECK_THROWS_AS(tmc::snapshot::load(path), std::runtime_error);
  std::filesystem::remove(path);

  CHECK(tmc::untrack(5, &blocks));
  CHECK_FALSE(tmc::untrack(5, &blocks));
  for (void* p : blocks) lifecycle::object_free(p);
  tmc::stop();
}

TEST_CASE("LIFECYCLE_TRACEMALLOC=N starts the tracer with N frames") {
  tmc::stop();
  unsetenv("LIFECYCLE_TRACEMALLOC");
  CHECK_FALSE(tmc::start_from_environment());
  CHECK_FALSE(tmc::is_tracing());
  setenv("LIFECYCLE_TRACEMALLOC", "", 1);
  CHECK_FALSE(tmc::start_from_environment());
  for (const char* bad : {"0", "65536", "abc", "-3", "5x"}) {
    setenv("LIFECYCLE_TRACEMALLOC", bad, 1);
    CHECK_THROWS_AS(tmc::start_from_environment(), std::invalid_argument);
    CHECK_FALSE(tmc::is_tracing());
  }
  setenv("LIFECYCLE_TRACEMALLOC", "7", 1);
  CHECK(tmc::start_from_environment());
  CHECK(tmc::is_tracing());
  CHECK(tmc::traceback_limit() == 7);
  unsetenv("LIFECYCLE_TRACEMALLOC");
  tmc::stop();
}

TEST_CASE("stop(keep_traces) lets allocator_release name each leaked block's site") {
  fresh_tracer(2);
  std::vector<void*> leaked;
  unsigned leak_line = 0;
  {
    lifecycle::scoped_frame frame("leaky_function");
    for (int i = 0; i < 5; ++i) {
      leaked.push_back(lifecycle::object_malloc(33)); leak_line = __LINE__;
    }
    void* freed_after_stop = lifecycle::object_malloc(33);
    tmc::stop(tmc::stop_mode::keep_traces);
    CHECK_FALSE(tmc::is_tracing());
    lifecycle::object_free(freed_after_stop);  // not a leak: its trace goes away
  }
  void* untraced = lifecycle::object_malloc(20);  // after the tracer stopped
  const auto report = lifecycle::allocator_release();
  CHECK(report.blocks_in_use == 6);
  REQUIRE(report.leaks.size() == 6);
  int with_site = 0;
  for (const auto& leak : report.leaks) {
    if (leak.address == untraced) {
      CHECK(leak.traceback.empty());
      CHECK(leak.size == 32);
      continue;
    }
    ++with_site;
    CHECK(leak.size == 33);
    REQUIRE(leak.traceback.size() == 2);
    CHECK(leak.traceback[1].lineno == leak_line);
    CHECK(leak.traceback[1].filename == __FILE__);
    CHECK(leak.traceback[0].function == "leaky_function");
  }
  CHECK(with_site == 5);
  CHECK_FALSE(tmc::is_tracing());
  CHECK(tmc::traced_memory().current == 0);
}

TEST_CASE("threads trace concurrently, and the counts add up once they are done") {
  fresh_tracer(2);
  constexpr int thread_count = 4;
  std::vector<std::vector<void*>> kept(thread_count);
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([t, &kept] {
      lifecycle::scoped_frame frame("worker");
      for (int i = 0; i < 20000; ++i) {
        void* p = lifecycle::object_malloc(16 + (i % 32) * 16);
        if (i % 10 == 0) {
          kept[t].push_back(p);
        } else {
          lifecycle::object_free(p);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::size_t expected = 0;
  for (int i = 0; i < 20000; i += 10) expected += 16 + (i % 32) * 16;
  expected *= thread_count;
  CHECK(tmc::traced_memory().current == expected);
  const auto stats = tmc::take_snapshot().statistics(key_type::traceback);
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].size == expected);
  CHECK(stats[0].count == 2000 * thread_count);
  CHECK(stats[0].tb.frames().front().function == "worker");
  CHECK(tmc::tracemalloc_memory() > 0);
  for (auto& blocks : kept) {
    for (void* p : blocks) lifecycle::object_free(p);
  }
  CHECK(tmc::traced_memory().current == 0);
  tmc::stop();
  CHECK(tmc::tracemalloc_memory() == 0);
}

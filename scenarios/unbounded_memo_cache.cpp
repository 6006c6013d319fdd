// A memo cache without a bound (functools.lru_cache(maxsize=None), or a hand-made memo dict):
// every distinct argument adds an entry that is never evicted, so memory grows with the
// number of distinct calls, not with the work being done. Repeated arguments add nothing.
// The tracer shows it as tracemalloc would: compare_to by line between a snapshot before and
// one after a run of distinct calls; the top entry is the line in this file that allocates the
// memoized results. Printed before checkpoint `ready`, so every mode shows it:
//   memo: 300 distinct calls -> 300 entries, 300 repeated calls -> +0 entries
//   top: .../unbounded_memo_cache.cpp:LINE: size=... (+...), count=300 (+300), average=...
#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "lifecycle/allocator.hpp"
#include "lifecycle/module.hpp"
#include "lifecycle/tracemalloc.hpp"
#include "lifecycle/types.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constexpr int distinct_calls = 300;

// A memoized result: a managed object that owns a table of 48 precomputed values.
struct result_object : object {
  explicit result_object(std::int64_t n) {
    values = static_cast<std::int64_t*>(object_malloc(48 * sizeof(std::int64_t)));  // (catalog)
    for (std::int64_t i = 0; i < 48; ++i) values[i] = n * i;
  }
  ~result_object() { object_free(values); }
  std::int64_t* values = nullptr;
};

constinit type_object result_type = make_type<result_object>("Result", type_flags::none);

// @lru_cache(maxsize=None) def table(n): ... — the memo lives as long as the function's module.
ref table(dict_object& memo, std::int64_t n) {
  std::string key = std::to_string(n);
  if (ref hit = memo.get(key)) return hit;
  ref result = new_object<result_object>(result_type, n);
  memo.set(key, result);
  return result;
}

void show_growth() {
  auto memo = new_dict();
  main_module()->dict->set("_table_memo", memo);
  tracemalloc::start(1);
  auto before = tracemalloc::take_snapshot();
  for (int n = 0; n < distinct_calls; ++n) (void)table(*memo, n);
  std::size_t after_distinct = memo->size();
  auto after = tracemalloc::take_snapshot();
  for (int n = 0; n < distinct_calls; ++n) (void)table(*memo, n);
  runtime_scenario::say(
      fmt::format("memo: {} distinct calls -> {} entries, {} repeated calls -> +{} entries",
                  distinct_calls, after_distinct, distinct_calls, memo->size() - after_distinct));
  auto diff = after.compare_to(before, tracemalloc::key_type::lineno);
  runtime_scenario::say("top: " + diff.at(0).str());
  tracemalloc::stop();
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  register_type(result_type);
  show_growth();
  scenario::ready(opts);
  scenario::finish(opts);
}

// A module-level cache that only ever grows (the articles' "global dict nobody empties"). The
// tracer finds it the way tracemalloc does: a snapshot before a burst of requests, one after,
// compare_to by line — the top entry is the line that allocates the cached payloads, in this
// file. Each cached value is a managed object whose payload comes from object_malloc called
// here (as a C extension's PyObject_Malloc), so the allocation site is this file:line.
// Printed before checkpoint `ready`, so every mode shows it:
//   top: .../growing_global_cache.cpp:LINE: size=... (+...), count=200 (+200), average=...
// At exit the cache dies with __main__ in finalize_modules (its entries' payloads are freed).
#include <fmt/format.h>

#include <cstring>
#include <string>

#include "lifecycle/allocator.hpp"
#include "lifecycle/module.hpp"
#include "lifecycle/tracemalloc.hpp"
#include "lifecycle/types.hpp"
#include "runtime_scenario.hpp"

namespace {

using namespace lifecycle;

constexpr std::size_t payload_size = 256;
constexpr int requests = 200;

// A cached response: a managed object owning a raw payload buffer.
struct response_object : object {
  response_object() {
    payload = static_cast<char*>(object_malloc(payload_size));  // the site (its line: catalog)
    std::memset(payload, 'r', payload_size);
  }
  ~response_object() { object_free(payload); }
  char* payload = nullptr;
};

constinit type_object response_type = make_type<response_object>("Response", type_flags::none);

// handle(request): cache[request] = Response() — every request is new, nothing is evicted.
void serve_requests(dict_object& cache, int first) {
  for (int i = first; i < first + requests; ++i) {
    cache.set(fmt::format("/item/{}", i), new_object<response_object>(response_type));
  }
}

void show_growth() {
  auto cache = new_dict();
  main_module()->dict->set("_cache", cache);
  serve_requests(*cache, 0);  // warm-up: already there in the first snapshot
  tracemalloc::start(1);
  auto before = tracemalloc::take_snapshot();
  serve_requests(*cache, requests);
  auto after = tracemalloc::take_snapshot();
  auto diff = after.compare_to(before, tracemalloc::key_type::lineno);
  runtime_scenario::say(fmt::format("cache entries={}", cache->size()));
  runtime_scenario::say("top: " + diff.at(0).str());
  tracemalloc::stop();
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  register_type(response_type);
  show_growth();
  scenario::ready(opts);
  scenario::finish(opts);
}

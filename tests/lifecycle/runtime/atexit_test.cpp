// atexit callbacks and low-level exit functions, in this process.
#include "lifecycle/atexit.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "lifecycle/phases.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/unraisable.hpp"

namespace {

using namespace lifecycle;

std::vector<std::string> calls;

void record(int n) { calls.push_back("record " + std::to_string(n)); }
void record_pair(int n, std::string word) { calls.push_back(std::to_string(n) + " " + word); }
void other() { calls.push_back("other"); }
void fails() {
  calls.push_back("fails");
  throw std::runtime_error("boom");
}
void unregisters_other() {
  calls.push_back("unregisters_other");
  atexit::unregister(&other);
}
void registers_more() {
  calls.push_back("registers_more");
  atexit::register_callback("record", &record, 99);
}

struct cycle {
  cycle() {
    calls.clear();
    initialize();
  }
  ~cycle() { (void)finalize(); }
};

std::vector<unraisable_event> reported;
void capture(const unraisable_event& event, void*) { reported.push_back(event); }

}  // namespace

TEST_CASE("callbacks run last registered first with their arguments, then are forgotten") {
  cycle c;
  atexit::register_callback("record", &record, 1);
  atexit::register_callback("record_pair", &record_pair, 2, std::string("two"));
  atexit::register_callback("record", &record, 3);
  CHECK(atexit::callback_count() == 3);
  atexit::run_callbacks();
  CHECK(calls == std::vector<std::string>{"record 3", "2 two", "record 1"});
  CHECK(atexit::callback_count() == 0);
  atexit::run_callbacks();
  CHECK(calls.size() == 3);
}

TEST_CASE("unregister removes every registration of the function, whatever its arguments") {
  cycle c;
  atexit::register_callback("record", &record, 1);
  atexit::register_callback("other", &other);
  atexit::register_callback("record", &record, 2);
  atexit::register_callback("record", &record, 3);
  CHECK(atexit::unregister(&record) == 3);
  CHECK(atexit::unregister(&record) == 0);
  CHECK(atexit::callback_count() == 1);
  atexit::run_callbacks();
  CHECK(calls == std::vector<std::string>{"other"});
}

TEST_CASE("a callback may unregister a later one, ones registered while running are dropped") {
  cycle c;
  atexit::register_callback("other", &other);
  atexit::register_callback("registers_more", &registers_more);
  atexit::register_callback("unregisters_other", &unregisters_other);
  atexit::run_callbacks();
  CHECK(calls == std::vector<std::string>{"unregisters_other", "registers_more"});
  CHECK(atexit::callback_count() == 0);
}

TEST_CASE("an exception is reported as unraisable and the other callbacks still run") {
  cycle c;
  reported.clear();
  auto previous = set_unraisable_hook(&capture, nullptr);
  atexit::register_callback("record", &record, 1);
  atexit::register_callback("fails", &fails);
  atexit::register_callback("record", &record, 3);
  atexit::run_callbacks();
  set_unraisable_hook(previous.hook, previous.context);
  CHECK(calls == std::vector<std::string>{"record 3", "fails", "record 1"});
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].message == "Exception ignored in atexit callback: fails");
  CHECK(reported[0].exception_type == "std::runtime_error");
  CHECK(reported[0].exception_value == "boom");
}

TEST_CASE("clear forgets callbacks, registering needs a runtime") {
  {
    cycle c;
    atexit::register_callback("record", &record, 1);
    atexit::clear();
    CHECK(atexit::callback_count() == 0);
  }
  CHECK(calls.empty());
  CHECK_THROWS_AS(atexit::register_callback("record", &record, 1), std::logic_error);
}

namespace {
std::vector<std::string>* order = nullptr;
template <int N>
void low_level() {
  order->push_back("low-level " + std::to_string(N));
}
void order_phase(void* context, phase p, phase_event e) noexcept {
  if (e == phase_event::begin) {
    static_cast<std::vector<std::string>*>(context)->push_back(std::string(phase_name(p)));
  }
}
void atexit_marker() { order->push_back("atexit callback"); }
}  // namespace

TEST_CASE("low-level exit functions: at most 32, LIFO, in the last phase after atexit") {
  std::vector<std::string> seen;
  order = &seen;
  initialize();
  add_phase_observer(&order_phase, &seen);
  atexit::register_callback("atexit_marker", &atexit_marker);
  CHECK(register_low_level_exit(&low_level<1>));
  CHECK(register_low_level_exit(&low_level<2>));
  for (std::size_t i = 2; i < max_low_level_exit_functions; ++i) {
    CHECK(register_low_level_exit(&low_level<3>));
  }
  // The 33rd is refused, as Py_AtExit returns -1.
  CHECK_FALSE(register_low_level_exit(&low_level<4>));
  REQUIRE(finalize() == 0);
  std::vector<std::string> expected = {"wait_for_threads",  "atexit",        "atexit callback",
                                       "mark_finalizing",   "flush_streams", "collect",
                                       "finalize_modules",  "clear_objects", "stop_tracer",
                                       "release_allocator", "low_level_exit"};
  for (std::size_t i = 2; i < max_low_level_exit_functions; ++i) expected.push_back("low-level 3");
  expected.push_back("low-level 2");
  expected.push_back("low-level 1");
  CHECK(seen == expected);
  // They ran and are gone: the next finalization runs none.
  seen.clear();
  initialize();
  REQUIRE(finalize() == 0);
  CHECK(seen.empty());
}

// CPython 3.11's Lib/test/test_atexit.py, ported to lifecycle. Its test_general runs
// Lib/test/_test_atexit.py in a child; those tests are here one by one, named
// GeneralTest::test_NAME as in that file. A runtime cycle (initialize ... finalize) stands in
// for the interpreter (and for SubinterpreterTest's subinterpreter: callbacks belong to one).
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "child_process.hpp"
#include "cpython_support.hpp"
#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "lifecycle/runtime.hpp"

namespace {

using namespace cpython_port;
namespace atexit = lifecycle::atexit;

std::vector<std::string> calls;
int counter = 0;

// GeneralTest.setUp/tearDown: atexit._clear() around a runtime cycle.
struct general_test {
  general_test() {
    calls.clear();
    counter = 0;
    lifecycle::initialize();
    atexit::clear();
  }
  ~general_test() {
    atexit::clear();
    (void)lifecycle::finalize();
  }
  general_test(const general_test&) = delete;
  general_test& operator=(const general_test&) = delete;
};

// assert_raises_unraisable: register func(args...), run the callbacks, one report of exc_type.
template <class... Params, class... Args>
void assert_raises_unraisable(const std::string& exc_type, const std::string& name,
                              void (*func)(Params...), Args&&... args) {
  unraisable_capture cm;
  atexit::register_callback(name, func, std::forward<Args>(args)...);
  atexit::run_callbacks();
  REQUIRE(cm.events.size() == 1);
  // CPython: cm.unraisable.object is func; here the report names it.
  CHECK(cm.events[0].message == "Exception ignored in atexit callback: " + name);
  CHECK(cm.events[0].exception_type == exc_type);
}

void func1(int a, int b) { calls.push_back("func1 (" + std::to_string(a) + ", " + std::to_string(b) + ") {}"); }
void func2() { calls.push_back("func2 () {}"); }
void func2_keyword(int a, std::string key) {
  calls.push_back("func2 (" + std::to_string(a) + ",) {'key': '" + key + "'}");
}
void raise_type_error() { throw lifecycle::python_error("TypeError", ""); }
void div_zero() { throw lifecycle::python_error("ZeroDivisionError", "division by zero"); }
void sys_exit() { throw lifecycle::system_exit{0}; }
void inc() { ++counter; }
void dec() { --counter; }
void append_to(handle<lifecycle::list_object> l, int value) { l->append(lifecycle::new_int(value)); }
void unregisters_itself_then_fails() {
  atexit::unregister(&unregisters_itself_then_fails);
  div_zero();
}

}  // namespace

TEST_CASE("GeneralTest::test_order") {
  // Callbacks are called in reverse order with their arguments.
  general_test t;
  atexit::register_callback("func1", &func1, 1, 2);
  atexit::register_callback("func2", &func2);
  atexit::register_callback("func2", &func2_keyword, 3, std::string("value"));
  atexit::run_callbacks();
  CHECK(calls == std::vector<std::string>{"func2 (3,) {'key': 'value'}", "func2 () {}",
                                          "func1 (1, 2) {}"});
}

TEST_CASE("GeneralTest::test_raise") {
  general_test t;
  assert_raises_unraisable("TypeError", "raise_type_error", &raise_type_error);
}

TEST_CASE("GeneralTest::test_raise_unnormalized") {
  general_test t;
  assert_raises_unraisable("ZeroDivisionError", "div_zero", &div_zero);
}

TEST_CASE("GeneralTest::test_exit") {
  // sys.exit() in a callback is reported like any other exception; the others still run.
  general_test t;
  assert_raises_unraisable("SystemExit", "exit", &sys_exit);
}

TEST_CASE("GeneralTest::test_stress") {
  general_test t;
  for (int i = 0; i < 128; ++i) atexit::register_callback("inc", &inc);
  atexit::run_callbacks();
  CHECK(counter == 128);
}

TEST_CASE("GeneralTest::test_clear") {
  general_test t;
  atexit::register_callback("inc", &inc);
  atexit::clear();
  atexit::run_callbacks();
  CHECK(counter == 0);
}

TEST_CASE("GeneralTest::test_unregister") {
  general_test t;
  for (int i = 0; i < 4; ++i) atexit::register_callback("inc", &inc);
  atexit::register_callback("dec", &dec);
  atexit::unregister(&inc);
  atexit::run_callbacks();
  CHECK(counter == -1);
}

TEST_CASE("GeneralTest::test_bound_methods") {
  // atexit.register(l.append, 5): a callable bound to an object.
  general_test t;
  auto l = lifecycle::new_list();
  atexit::register_callback("append", &append_to, l, 5);
  atexit::run_callbacks();
  REQUIRE(l->size() == 1);
  CHECK(static_cast<lifecycle::int_object*>(l->at(0))->value == 5);
  atexit::unregister(&append_to);
  atexit::run_callbacks();
  CHECK(l->size() == 1);
}

TEST_CASE("GeneralTest::test_atexit_with_unregistered_function") {
  // bpo-46025: a callback that unregisters itself and then raises.
  general_test t;
  atexit::register_callback("func", &unregisters_itself_then_fails);
  unraisable_capture cm;
  atexit::run_callbacks();
  REQUIRE(cm.events.size() == 1);
  CHECK(cm.events[0].message == "Exception ignored in atexit callback: func");
  CHECK(cm.events[0].exception_type == "ZeroDivisionError");
  atexit::unregister(&unregisters_itself_then_fails);
}

TEST_CASE("FunctionalTest::test_shutdown") {
  // The shutdown mechanism itself, in a child: f("two") then f("one"), nothing on stderr.
  afterlife_test::child_options options;
  options.unset_env = {"LIFECYCLE_TRACE", "AFTERLIFE_SOCKET", "LIFECYCLE_SHOWREFCOUNT"};
  auto r = afterlife_test::run_child({CPYTHON_CHILD, "atexit_shutdown"}, options);
  CHECK(r.exit_code() == 0);
  CHECK(r.out == "two\none\n");
  CHECK(r.err.empty());
}

TEST_CASE("SubinterpreterTest::test_callbacks_leak") {
  // Callbacks registered in one runtime cycle are freed with it, not carried into the next.
  lifecycle::initialize();
  const auto n = atexit::callback_count();
  (void)lifecycle::finalize();
  lifecycle::initialize();
  atexit::register_callback("inc", &inc);
  CHECK(atexit::callback_count() == n + 1);
  counter = 0;
  (void)lifecycle::finalize();
  CHECK(counter == 1);
  lifecycle::initialize();
  CHECK(atexit::callback_count() == n);
  (void)lifecycle::finalize();
}

TEST_CASE("SubinterpreterTest::test_callback_on_subinterpreter_teardown") {
  // A callback runs when its runtime cycle is finalized.
  calls.clear();
  lifecycle::initialize();
  atexit::register_callback("callback", +[] { calls.push_back("The test has passed!"); });
  CHECK(calls.empty());
  (void)lifecycle::finalize();
  CHECK(calls == std::vector<std::string>{"The test has passed!"});
}

// The lifecycle twin of each script in tests/differential/twins/: `twins NAME` does on the
// lifecycle runtime what NAME.py does on CPython, printing the same `event ...` lines, and ends
// the same way (returning from main is the end of the script).
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "lifecycle/atexit.hpp"
#include "lifecycle/exit.hpp"
#include "lifecycle/gc.hpp"
#include "lifecycle/module.hpp"
#include "lifecycle/runtime.hpp"
#include "lifecycle/threads.hpp"
#include "lifecycle/types.hpp"
#include "module_teardown.hpp"

namespace {

using namespace lifecycle;

void event_to(int fd, const std::string& text) {
  std::string line = "event " + text + "\n";
  (void)!::write(fd, line.data(), line.size());
}
void event(const std::string& text) { event_to(STDOUT_FILENO, text); }

std::string attr_text(const object* self, std::string_view name) {
  ref value = static_cast<const instance_object*>(self)->get_attr(name);
  return std::string(static_cast<str_object*>(value.get())->view());
}

void say(int n) { event(fmt::format("atexit {}", n)); }
void say_word(int n, std::string word) { event(fmt::format("atexit {} {}", n, word)); }
void fail() {
  event("atexit failing");
  throw python_error("RuntimeError", "boom in atexit");
}
void say_atexit() { event("atexit"); }

int atexit_order() {
  atexit::register_callback("say", &say, 1);
  atexit::register_callback("fail", &fail);
  atexit::register_callback("say_word", &say_word, 2, std::string("two"));
  atexit::register_callback("say", &say, 3);
  event("main done");
  return 0;
}

// kept (held by sys too), dropped (only in sys.modules), and a cycle in __main__: the
// module_teardown_order scenario's modules.
int module_clear_order() {
  module_teardown::build(&event);
  event("main done");
  return 0;
}

void build_cycle_finalizer() {
  auto node = new_class(
      "Node",
      {.del = [](object* self) { event("del " + attr_text(self, "name")); }, .legacy_del = {}});
  auto a = new_instance(node);
  auto b = new_instance(node);
  a->set_attr("name", new_str("a"));
  b->set_attr("name", new_str("b"));
  a->set_attr("peer", b);
  b->set_attr("peer", a);
  auto globals = main_module()->dict;
  globals->set("Node", node);
  globals->set("a", a);
  globals->set("b", b);
}

int cycle_finalizer() {
  build_cycle_finalizer();
  atexit::register_callback("say_atexit", &say_atexit);
  event("main done");
  return 0;
}

int sigint_main() {
  atexit::register_callback("say_atexit", &say_atexit);
  event("main");
  ::kill(::getpid(), SIGINT);
  sleep_for(std::chrono::seconds(20));
  event("not reached");
  return 0;
}

int uncaught_exception() {
  atexit::register_callback("say_atexit", &say_atexit);
  event("main");
  throw python_error("RuntimeError", "boom");
}

std::atomic<bool> daemon_started{false};
std::atomic<bool> daemon_go{false};

void release_daemon() {
  event("atexit releases daemon");
  daemon_go = true;
}

int daemon_thread() {
  start_thread("worker", [] {
    sleep_for(std::chrono::milliseconds(200));
    event("worker done");
  });
  start_thread(
      "daemon",
      [] {
        event("daemon started");
        daemon_started = true;
        while (!daemon_go) sleep_for(std::chrono::milliseconds(5));
        // Running "Python code" again needs the runtime lock, as it needs the GIL.
        runtime_lock_guard lock;
        event("daemon ran after atexit");
      },
      true);
  while (!daemon_started) sleep_for(std::chrono::milliseconds(5));
  atexit::register_callback("release_daemon", &release_daemon);
  event("main done");
  return 0;
}

// gc_list_order.py: `big` and `table` each hold 300 nodes made after them and, last, nodes made
// before them.
int gc_list_order() {
  gc::disable();
  gc::collect();  // as the script: start with everything made so far in the oldest generation
  auto node_class = new_class(
      "Node",
      {.del = [](object* self) { event("del " + attr_text(self, "name")); }, .legacy_del = {}});
  auto globals = main_module()->dict;
  globals->set("Node", node_class);
  auto make_node = [&](const std::string& name) {
    auto n = new_instance(node_class);
    n->set_attr("name", new_str(name));
    return n;
  };
  for (const char* name : {"b0", "b1", "c0", "c1", "c2"}) globals->set(name, make_node(name));
  auto big = new_list();
  auto table = new_dict();
  globals->set("big", big);
  globals->set("table", table);
  for (int i = 0; i < 300; ++i) {
    auto n = make_node(fmt::format("n{}", i));
    if (i % 50 == 0) n->set_attr("me", n);
    big->append(n);
    table->set(fmt::format("t{}", i), make_node(fmt::format("t{}", i)));
    if (i == 150) {
      auto g1 = make_node("g1");
      auto g2 = make_node("g2");
      g1->set_attr("peer", g2);
      g2->set_attr("peer", g1);
    }
  }
  ref tenth = big->get(10);
  big->set(10, big->get(11));
  big->set(11, tenth);
  tenth.reset();
  big->append(globals->get("b0"));
  big->append(globals->get("b1"));
  for (const char* name : {"c2", "c0", "c1"}) table->set(name, globals->get(name));
  for (const char* name : {"b0", "b1", "c0", "c1", "c2"}) globals->erase(name);
  event("collect 1");
  gc::collect();
  event("collect 2");
  big->set(50, none());
  big->set(100, none());
  gc::collect();
  event("collect 3");
  big->append(table);
  table->set("big", big);
  globals->erase("big");
  globals->erase("table");
  big.reset();
  table.reset();
  gc::collect();
  event("done");
  return 0;
}

void say_atexit_stderr() { event_to(STDERR_FILENO, "atexit"); }

int flush_failure() {
  atexit::register_callback("say_atexit_stderr", &say_atexit_stderr);
  std::fputs("buffered output\n", stdout);
  ::close(STDOUT_FILENO);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<int()>> twins = {
      {"atexit_order", atexit_order},
      {"module_clear_order", module_clear_order},
      {"cycle_finalizer", cycle_finalizer},
      {"sigint_main", sigint_main},
      {"uncaught_exception", uncaught_exception},
      {"daemon_thread", daemon_thread},
      {"flush_failure", flush_failure},
      {"gc_list_order", gc_list_order},
  };
  auto found = argc == 2 ? twins.find(argv[1]) : twins.end();
  if (found == twins.end()) {
    std::fprintf(stderr, "usage: twins NAME\n");
    return 2;
  }
  lifecycle::initialize();
  return found->second();
}

// The parts every resource shares: names, the list of open resources and its exit-time
// finalization, close/finalize/unlink, announcements to the harness and the tracker.
#include "lifecycle/resources.hpp"

#include <afterlife/control_client.h>
#include <fmt/format.h>
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <random>
#include <stdexcept>
#include <system_error>

#include "lifecycle/resource_tracker.hpp"
#include "lifecycle/warnings.hpp"
#include "common/pthread_guard.hpp"
#include "resources/resources_detail.hpp"

namespace lifecycle {

// ---- names -------------------------------------------------------------------------------

namespace {

bool is_portable_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

void validate_ipc_name(std::string_view name) {
  if (name.empty()) throw std::invalid_argument("invalid IPC name '': it is empty");
  if (name.front() != '/') {
    throw std::invalid_argument(fmt::format("invalid IPC name '{}': it must start with '/'", name));
  }
  if (name.size() == 1) {
    throw std::invalid_argument("invalid IPC name '/': nothing follows the '/'");
  }
  if (name.size() > max_ipc_name_length) {
    throw std::invalid_argument(
        fmt::format("invalid IPC name '{}': {} characters, but macOS allows at most {}", name,
                    name.size(), max_ipc_name_length));
  }
  for (std::size_t i = 1; i < name.size(); ++i) {
    if (!is_portable_name_char(name[i])) {
      throw std::invalid_argument(
          fmt::format("invalid IPC name '{}': character {} is not one of [A-Za-z0-9._-]", name, i));
    }
  }
}

std::string make_ipc_name(std::string_view prefix) {
  std::random_device entropy;
  std::string name = fmt::format("/{}_{:08x}", prefix, entropy());
  validate_ipc_name(name);
  return name;
}

// ---- the list of open resources ----------------------------------------------------------

// The list is intrusive (the nodes are the resources) and its head and lock are plain data:
// nothing here is constructed or destroyed by the C++ runtime, so it works during exit.
struct resource_list_access {
  static resource*& prev(resource& r) noexcept { return r.prev_; }
  static resource*& next(resource& r) noexcept { return r.next_; }
};

namespace {

constinit pthread_mutex_t open_list_mutex = PTHREAD_MUTEX_INITIALIZER;
constinit resource* open_list_head = nullptr;  // the newest open resource
constinit std::size_t open_list_size = 0;
constinit std::atomic<bool> exit_hook_installed{false};
constinit std::atomic<bool> finalize_at_exit{true};

struct list_lock : detail::pthread_guard {
  list_lock() noexcept : pthread_guard(open_list_mutex) {}
};

void link_open(resource& r) noexcept {
  list_lock lock;
  resource_list_access::prev(r) = nullptr;
  resource_list_access::next(r) = open_list_head;
  if (open_list_head != nullptr) resource_list_access::prev(*open_list_head) = &r;
  open_list_head = &r;
  ++open_list_size;
}

void unlink_open(resource& r) noexcept {
  list_lock lock;
  resource* prev = resource_list_access::prev(r);
  resource* next = resource_list_access::next(r);
  if (prev == nullptr && next == nullptr && open_list_head != &r) return;  // not in the list
  if (prev != nullptr) {
    resource_list_access::next(*prev) = next;
  } else {
    open_list_head = next;
  }
  if (next != nullptr) resource_list_access::prev(*next) = prev;
  resource_list_access::prev(r) = nullptr;
  resource_list_access::next(r) = nullptr;
  --open_list_size;
}

// A fork() while another thread holds the list lock would leave the child's copy locked
// forever: take it around fork so both sides start with it free.
void lock_list_for_fork() { pthread_mutex_lock(&open_list_mutex); }
void unlock_list_after_fork() { pthread_mutex_unlock(&open_list_mutex); }

void finalize_open_resources_at_exit() {
  if (finalize_at_exit.load(std::memory_order_acquire)) finalize_open_resources();
}

// Installed with the first resource rather than by a static object: normal and error exits run
// atexit handlers, _exit/abort/signals do not, exactly the split docs/architecture.md's table
// describes.
void install_exit_hook_once() noexcept {
  if (exit_hook_installed.exchange(true, std::memory_order_acq_rel)) return;
  pthread_atfork(&lock_list_for_fork, &unlock_list_after_fork, &unlock_list_after_fork);
  // Failing to register (32+ handlers already on an old libc) only loses the exit-time
  // finalization; resources still work.
  (void)std::atexit(&finalize_open_resources_at_exit);
}

}  // namespace

void finalize_open_resources() noexcept {
  // Newest first, one at a time, without holding the lock while finalizing: a finalizer takes
  // the lock itself to leave the list.
  for (;;) {
    resource* newest = nullptr;
    {
      list_lock lock;
      newest = open_list_head;
    }
    if (newest == nullptr) return;
    newest->finalize();
  }
}

std::size_t open_resource_count() noexcept {
  list_lock lock;
  return open_list_size;
}

void set_finalize_resources_at_exit(bool enabled) noexcept {
  finalize_at_exit.store(enabled, std::memory_order_release);
}

// ---- resource ----------------------------------------------------------------------------

resource::resource(std::string_view kind, std::string name) : kind_(kind), name_(std::move(name)) {}

resource::~resource() {
  // The derived destructor has finalized; this only guards against a constructor that failed
  // after mark_open().
  if (open_) unlink_open(*this);
}

void resource::mark_open() {
  install_exit_hook_once();
  open_ = true;
  link_open(*this);
}

void resource::close() {
  if (!open_) return;
  // Closed from here on even if releasing fails: there is nothing a second close could retry.
  open_ = false;
  unlink_open(*this);
  do_close();
}

void resource::finalize() noexcept {
  if (!open_) return;
  detail::warn_format(warning_category::resource_warning, "unclosed {} {}", kind_, name_);
  try {
    close();
  } catch (const std::exception& e) {
    detail::warn_format(warning_category::runtime_warning,
                        "Exception ignored while finalizing {} {}: {}", kind_, name_, e.what());
  }
}

// ---- named_resource ----------------------------------------------------------------------

named_resource::named_resource(std::string_view kind, std::string_view leftover, std::string name)
    : resource(kind, std::move(name)), leftover_(leftover) {}

void named_resource::announce_created(bool track) {
  created_ = true;
  // The harness first: it cannot fail in a way that matters (a harness that does not answer
  // just does not attribute the object to us).
  (void)afterlife_register(std::string(leftover_).c_str(), name().c_str());
  if (track) {
    resource_tracker::register_resource(leftover_, name());
    tracked_ = true;
  }
}

void named_resource::finish_creation(bool track) {
  mark_open();
  try {
    announce_created(track);
  } catch (...) {
    // The tracker could not be told: do not leave behind an object nobody will clean up.
    // Called from the derived constructor's body, so do_unlink/do_close are the derived ones.
    try {
      do_unlink();
      unlinked_ = true;
      close();
    } catch (...) {
      detail::warn_format(warning_category::runtime_warning,
                          "cannot remove {} {} after a failed creation", kind(), name());
    }
    (void)afterlife_unregister(std::string(leftover_).c_str(), name().c_str());
    throw;
  }
}

void named_resource::announce_unlinked() noexcept {
  (void)afterlife_unregister(std::string(leftover_).c_str(), name().c_str());
  if (!tracked_) return;
  try {
    resource_tracker::unregister_resource(leftover_, name());
  } catch (const std::exception& e) {
    // Unlinked anyway; at worst the tracker finds the name gone at shutdown.
    detail::warn_format(warning_category::runtime_warning,
                        "resource_tracker: cannot unregister {} {}: {}", leftover_, name(),
                        e.what());
  }
  tracked_ = false;
}

void named_resource::unlink() {
  if (unlinked_) return;
  do_unlink();
  unlinked_ = true;
  if (created_) announce_unlinked();
}

// ---- scoped ------------------------------------------------------------------------------

namespace detail {

void close_at_scope_exit(resource& r) noexcept {
  try {
    r.close();
  } catch (const std::exception& e) {
    warn_format(warning_category::runtime_warning, "Exception ignored while closing {} {}: {}",
                r.kind(), r.name(), e.what());
  }
}

void unlink_at_scope_exit(named_resource& r) noexcept {
  try {
    r.unlink();
  } catch (const std::exception& e) {
    warn_format(warning_category::runtime_warning, "Exception ignored while unlinking {} {}: {}",
                r.kind(), r.name(), e.what());
  }
}

}  // namespace detail

}  // namespace lifecycle

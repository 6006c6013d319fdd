// The tracker's side: read registrations until every writer is gone, then unlink what is left.
// Compiled into lifecycle (serve() is callable in-process) and into afterlife-resource-tracker.
#include <afterlife/control_client.h>
#include <semaphore.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <system_error>

#include "lifecycle/resource_tracker.hpp"
#include "resources/resources_detail.hpp"

namespace lifecycle::resource_tracker {

namespace {

struct tracker_books {
  std::map<std::string, std::set<std::string>, std::less<>> registered;  // kind → names
  bool protocol_errors = false;
};

void report_malformed(tracker_books& books, std::string_view line, std::string_view why) {
  books.protocol_errors = true;
  constexpr std::size_t shown = 80;
  detail::warn_format(warning_category::runtime_warning, "resource_tracker: {} in line '{}{}'", why,
                      line.substr(0, shown), line.size() > shown ? "..." : "");
}

// `COMMAND:name:kind` — the command ends at the first ':', the kind starts after the last one,
// so names (file paths) may contain ':'.
void handle_line(tracker_books& books, std::string_view line) {
  if (line.size() + 1 > max_line_length) return report_malformed(books, line, "line too long");
  std::size_t first = line.find(':');
  std::size_t last = line.rfind(':');
  if (first == std::string_view::npos || first == last) {
    return report_malformed(books, line, "expected COMMAND:name:kind");
  }
  std::string_view command = line.substr(0, first);
  std::string_view name = line.substr(first + 1, last - first - 1);
  std::string_view kind = line.substr(last + 1);
  if (!is_known_kind(kind)) return report_malformed(books, line, "unknown kind");
  if (name.empty()) return report_malformed(books, line, "empty name");
  if (command == "REGISTER") {
    books.registered[std::string(kind)].emplace(name);
  } else if (command == "UNREGISTER") {
    // Unregistering an unknown name is not an error: after a restart a process replays only
    // its own registrations, so the books may never have seen it.
    auto it = books.registered.find(kind);
    if (it != books.registered.end()) it->second.erase(std::string(name));
  } else if (command != "PROBE") {
    report_malformed(books, line, "unknown command");
  }
}

// Reads until EOF (every write end closed: every process holding the pipe is gone, however it
// died). EINTR is retried; a read error ends the loop as EOF would.
void read_until_eof(int fd, tracker_books& books) {
  std::string pending;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      detail::warn_format(warning_category::runtime_warning, "resource_tracker: read: {}",
                          std::generic_category().message(errno));
      break;
    }
    if (n == 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
      handle_line(books, std::string_view(pending).substr(start, end - start));
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) report_malformed(books, pending, "unterminated last line");
}

// Removes one object; 0 or the errno. ENOENT means somebody removed it already: not a failure.
int remove_object(std::string_view kind, const std::string& name) {
  int rc = 0;
  if (kind == "posix_shm") {
    rc = ::shm_unlink(name.c_str());
  } else if (kind == "posix_sem") {
    rc = ::sem_unlink(name.c_str());
  } else if (kind == "sysv_shm") {
    unsigned key = 0;
    std::string_view digits = std::string_view(name).substr(name.starts_with("0x") ? 2 : 0);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), key, 16);
    if (ec != std::errc() || end != digits.data() + digits.size()) return EINVAL;
    int id = ::shmget(static_cast<key_t>(key), 0, 0);
    rc = id < 0 ? -1 : ::shmctl(id, IPC_RMID, nullptr);
  } else {  // file, socket
    rc = ::unlink(name.c_str());
  }
  if (rc == 0 || errno == ENOENT) return 0;
  return errno;
}

std::string quoted_set(const std::set<std::string>& names) {
  std::string out = "{";
  for (const auto& name : names) {
    if (out.size() > 1) out += ", ";
    out += "'" + name + "'";
  }
  return out + "}";
}

// CPython's shutdown warning, one per kind, then the unlinks. Returns whether any failed.
bool clean_up(const tracker_books& books, bool& leaks) {
  bool failed = false;
  for (const auto& [kind, names] : books.registered) {
    if (names.empty()) continue;
    leaks = true;
    detail::warn_format(warning_category::user_warning,
                        "resource_tracker: There appear to be {} leaked {} objects to clean up at "
                        "shutdown: {}",
                        names.size(), kind, quoted_set(names));
    for (const auto& name : names) {
      if (int error = remove_object(kind, name); error != 0) {
        failed = true;
        detail::warn_format(warning_category::user_warning, "resource_tracker: '{}': {}", name,
                            std::generic_category().message(error));
        continue;
      }
      (void)afterlife_unregister(kind.c_str(), name.c_str());
    }
  }
  return failed;
}

}  // namespace

bool is_known_kind(std::string_view kind) noexcept {
  return kind == "posix_shm" || kind == "posix_sem" || kind == "sysv_shm" || kind == "file" ||
         kind == "socket";
}

int serve(int fd) noexcept {
  try {
    tracker_books books;
    read_until_eof(fd, books);
    bool leaks = false;
    bool failed = clean_up(books, leaks);
    if (books.protocol_errors) return protocol_error;
    if (failed) return cleanup_failed;
    return leaks ? leaks_found : clean;
  } catch (const std::exception& e) {
    detail::warn_format(warning_category::runtime_warning, "resource_tracker: {}", e.what());
    return cleanup_failed;
  }
}

}  // namespace lifecycle::resource_tracker

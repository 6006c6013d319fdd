// The resources that live in the file system: file, temp_file, unix_listener.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "lifecycle/resources.hpp"
#include "resources/resources_detail.hpp"

namespace lifecycle {

namespace detail {

std::string absolute_path(std::string_view path) {
  return std::filesystem::absolute(std::filesystem::path(path)).lexically_normal().string();
}

void write_all(int fd, std::string_view data, const char* what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(what);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace detail

namespace {

void set_close_on_exec(int fd) { (void)fcntl(fd, F_SETFD, FD_CLOEXEC); }

void close_fd(int fd, const std::string& what) {
  // POSIX leaves the fd state unspecified after EINTR from close; Linux and macOS always
  // release it, so retrying could close someone else's fd.
  if (::close(fd) != 0 && errno != EINTR) detail::throw_errno(what);
}

void require_open(const resource& r, const char* operation) {
  if (r.closed()) {
    throw std::logic_error(fmt::format("{} on closed {} {}", operation, r.kind(), r.name()));
  }
}

}  // namespace

// ---- file ------------------------------------------------------------------------------------

file::file(std::string_view path, std::size_t buffer_size)
    : named_resource("file", leftover_kind::file, detail::absolute_path(path)),
      capacity_(buffer_size == 0 ? 1 : buffer_size) {
  // O_EXCL first, to know whether we create the file (and so announce it) or truncate one that
  // somebody else created.
  fd_ = ::open(name().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  bool creating = fd_ >= 0;
  if (fd_ < 0 && errno == EEXIST) fd_ = ::open(name().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd_ < 0) detail::throw_errno("open " + name());
  buffer_.reserve(capacity_);
  if (creating) {
    finish_creation(false);
  } else {
    mark_open();
  }
}

file::~file() { finalize(); }

void file::write(std::string_view data) {
  require_open(*this, "write");
  if (buffer_.size() + data.size() > capacity_) flush();
  if (data.size() >= capacity_) {
    detail::write_all(fd_, data, "write");
    return;
  }
  buffer_.append(data);
}

void file::flush() {
  require_open(*this, "flush");
  detail::write_all(fd_, buffer_, "write");
  buffer_.clear();
}

void file::do_close() {
  // The buffer goes out before the fd closes; the fd closes even if that write fails.
  int fd = fd_;
  fd_ = -1;
  std::string pending;
  pending.swap(buffer_);
  try {
    detail::write_all(fd, pending, "flush");
  } catch (...) {
    ::close(fd);
    throw;
  }
  close_fd(fd, "close " + name());
}

void file::do_unlink() {
  if (::unlink(name().c_str()) != 0) detail::throw_errno("unlink " + name());
}

// ---- temp_file -------------------------------------------------------------------------------

namespace {

// mkstemp in $TMPDIR (else /tmp): the fd and the path it chose.
std::pair<int, std::string> make_temp(std::string_view prefix) {
  // getenv races only with setenv, which lifecycle never calls.
  const char* dir = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe)
  std::string base = (dir != nullptr && dir[0] != '\0') ? dir : "/tmp";
  std::string path = detail::absolute_path(base) + "/" + std::string(prefix) + "-XXXXXX";
  int fd = ::mkstemp(path.data());
  if (fd < 0) detail::throw_errno("mkstemp " + path);
  set_close_on_exec(fd);
  return {fd, std::move(path)};
}

}  // namespace

temp_file::temp_file(std::string_view prefix, bool track) : temp_file(make_temp(prefix), track) {}

temp_file::temp_file(std::pair<int, std::string> created, bool track)
    : named_resource("temp_file", leftover_kind::file, std::move(created.second)),
      fd_(created.first) {
  finish_creation(track);
}

temp_file::~temp_file() { finalize(); }

void temp_file::write(std::string_view data) {
  require_open(*this, "write");
  detail::write_all(fd_, data, "write");
}

void temp_file::do_close() {
  int fd = fd_;
  fd_ = -1;
  close_fd(fd, "close " + name());
}

void temp_file::do_unlink() {
  if (::unlink(name().c_str()) != 0) detail::throw_errno("unlink " + name());
}

// ---- unix_listener ---------------------------------------------------------------------------

namespace {

sockaddr_un socket_address(const std::string& path) {
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path) {
    throw std::invalid_argument(fmt::format("socket path '{}' is {} bytes; at most {} fit", path,
                                            path.size(), sizeof address.sun_path - 1));
  }
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  return address;
}

}  // namespace

unix_listener::unix_listener(std::string_view path, int backlog, bool track)
    : named_resource("socket", leftover_kind::socket, detail::absolute_path(path)) {
  sockaddr_un address = socket_address(name());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd_ < 0) detail::throw_errno("socket");
  set_close_on_exec(fd_);
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    int saved = errno;
    ::close(fd_);
    errno = saved;
    detail::throw_errno("bind " + name());
  }
  // From here the path exists: a failing listen must not leave it behind.
  if (::listen(fd_, backlog) != 0) {
    int saved = errno;
    ::close(fd_);
    ::unlink(name().c_str());
    errno = saved;
    detail::throw_errno("listen " + name());
  }
  finish_creation(track);
}

unix_listener::~unix_listener() { finalize(); }

int unix_listener::accept() {
  require_open(*this, "accept");
  for (;;) {
    int fd = ::accept(fd_, nullptr, nullptr);
    if (fd >= 0) {
      set_close_on_exec(fd);
      return fd;
    }
    if (errno != EINTR) detail::throw_errno("accept " + name());
  }
}

void unix_listener::do_close() {
  int fd = fd_;
  fd_ = -1;
  close_fd(fd, "close " + name());
}

void unix_listener::do_unlink() {
  if (::unlink(name().c_str()) != 0) detail::throw_errno("unlink " + name());
}

}  // namespace lifecycle

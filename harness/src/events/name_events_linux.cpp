// Linux name events: fanotify with FAN_REPORT_DFID_NAME (Linux >= 5.9), an inode mark on each
// directory for FAN_CREATE and FAN_MOVED_TO (FAN_ONDIR: directories too). The event carries
// the directory's file handle and the entry's name; the directory is found by comparing that
// handle (with its file system id) to the handles taken when the marks were placed, so no
// path is ever resolved from an event. The kernel gives an unprivileged group (Linux >= 5.13)
// pid 0 for every other process: names, but no creators, without CAP_SYS_ADMIN.
#include "events/name_events.hpp"

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

namespace afterlife::detail {

namespace {

constexpr std::uint64_t watched_events = FAN_CREATE | FAN_MOVED_TO | FAN_ONDIR;

// Whether this process has CAP_SYS_ADMIN in its effective set (/proc/self/status CapEff):
// what fanotify needs to name the process behind an event.
bool has_sys_admin() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("CapEff:")) continue;
    std::uint64_t caps = std::stoull(line.substr(7), nullptr, 16);
    return (caps >> 21) & 1U;  // CAP_SYS_ADMIN
  }
  return false;
}

// A directory's identity as fanotify reports it: file system id, then the file handle (type
// and bytes).
std::string identity_key(const __kernel_fsid_t& fsid, const file_handle& handle) {
  std::string key(reinterpret_cast<const char*>(&fsid), sizeof fsid);
  key.append(reinterpret_cast<const char*>(&handle.handle_type), sizeof handle.handle_type);
  key.append(reinterpret_cast<const char*>(handle.f_handle), handle.handle_bytes);
  return key;
}

std::optional<std::string> directory_key(const std::filesystem::path& dir) {
  struct statfs fs {};
  if (statfs(dir.c_str(), &fs) != 0) return std::nullopt;
  alignas(file_handle) unsigned char buffer[sizeof(file_handle) + MAX_HANDLE_SZ];
  auto* handle = reinterpret_cast<file_handle*>(buffer);
  handle->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (name_to_handle_at(AT_FDCWD, dir.c_str(), handle, &mount_id, 0) != 0) return std::nullopt;
  __kernel_fsid_t fsid{};
  static_assert(sizeof fsid == sizeof fs.f_fsid);
  std::memcpy(&fsid, &fs.f_fsid, sizeof fsid);
  return identity_key(fsid, *handle);
}

class fanotify_watch final : public name_watch {
 public:
  fanotify_watch(int fd, bool privileged, std::function<bool(int)> is_run)
      : fd_(fd), privileged_(privileged), is_run_(std::move(is_run)) {}

  ~fanotify_watch() override {
    stop();
    close(fd_);
  }

  // Marks one directory; false with the reason in limitations_ when it cannot.
  void mark(const std::filesystem::path& dir) {
    auto key = directory_key(dir);
    if (!key || fanotify_mark(fd_, FAN_MARK_ADD | FAN_MARK_ONLYDIR, watched_events, AT_FDCWD,
                              dir.c_str()) != 0) {
      limitations_.push_back(fmt::format("fanotify cannot watch {}: {}", dir.string(),
                                         std::generic_category().message(errno)));
      return;
    }
    dirs_.push_back({*key, dir});
  }

  bool watching() const { return !dirs_.empty(); }

  void run_reader() {
    stop_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_ < 0) {
      limitations_.push_back("fanotify: no eventfd; events read at the end only");
      return;
    }
    reader_ = std::thread([this] { read_until_stopped(); });
  }

  std::string source() const override { return watching() ? "fanotify" : ""; }
  bool names_creators() const override { return watching() && privileged_; }
  std::string limitation() const override {
    std::string text;
    for (const auto& l : limitations_) text += (text.empty() ? "" : "; ") + l;
    if (!privileged_)
      text += std::string(text.empty() ? "" : "; ") +
              "fanotify without CAP_SYS_ADMIN names no creator (pid 0): names made past the "
              "interposer are seen, not attributed";
    std::lock_guard lock(mutex_);
    if (overflowed_) text += std::string(text.empty() ? "" : "; ") + "fanotify queue overflowed: events lost";
    return text;
  }

  std::vector<name_event> finish() override {
    stop();
    read_available();  // what is still queued (the reader thread is gone)
    std::lock_guard lock(mutex_);
    return std::move(events_);
  }

 private:
  struct watched_dir {
    std::string key;
    std::filesystem::path path;
  };

  void stop() {
    if (!reader_.joinable()) return;
    std::uint64_t one = 1;
    (void)!write(stop_, &one, sizeof one);
    reader_.join();
    close(stop_);
  }

  void read_until_stopped() noexcept {
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[0].revents != 0) read_available();
      if (fds[1].revents != 0) return;
    }
  }

  // Reads every queued event (the descriptor is non-blocking).
  void read_available() noexcept {
    alignas(fanotify_event_metadata) char buffer[16384];
    for (;;) {
      ssize_t n = read(fd_, buffer, sizeof buffer);
      if (n <= 0) return;
      auto* event = reinterpret_cast<const fanotify_event_metadata*>(buffer);
      for (; FAN_EVENT_OK(event, n); event = FAN_EVENT_NEXT(event, n)) take(*event);
    }
  }

  void take(const fanotify_event_metadata& event) noexcept {
    try {
      if (event.vers != FANOTIFY_METADATA_VERSION) return;
      if ((event.mask & FAN_Q_OVERFLOW) != 0) {
        std::lock_guard lock(mutex_);
        overflowed_ = true;
        return;
      }
      // The harness's own (its run directory's journal, a probe): never the run's.
      if (event.pid == getpid()) return;
      const char* at = reinterpret_cast<const char*>(&event) + event.metadata_len;
      const char* end = reinterpret_cast<const char*>(&event) + event.event_len;
      while (at + sizeof(fanotify_event_info_header) <= end) {
        const auto* header = reinterpret_cast<const fanotify_event_info_header*>(at);
        if (header->len == 0 || at + header->len > end) break;
        if (header->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
          const auto* info = reinterpret_cast<const fanotify_event_info_fid*>(at);
          const auto* handle = reinterpret_cast<const file_handle*>(info->handle);
          const char* name = reinterpret_cast<const char*>(handle->f_handle) + handle->handle_bytes;
          std::string key = identity_key(info->fsid, *handle);
          for (const auto& dir : dirs_) {
            if (dir.key != key) continue;
            name_event found;
            found.path = dir.path / name;
            found.pid = event.pid;
            found.directory = (event.mask & FAN_ONDIR) != 0;
            // At once: the creator may be gone in a moment (a `touch`).
            found.by_run = event.pid > 0 && is_run_(event.pid);
            std::lock_guard lock(mutex_);
            events_.push_back(std::move(found));
          }
        }
        at += header->len;
      }
    } catch (...) {  // out of memory: the event is lost, the run is not
    }
  }

  int fd_;
  int stop_ = -1;
  bool privileged_;
  std::function<bool(int)> is_run_;
  std::vector<watched_dir> dirs_;
  std::vector<std::string> limitations_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::vector<name_event> events_;
  bool overflowed_ = false;
};

class no_name_watch final : public name_watch {
 public:
  explicit no_name_watch(std::string why) : why_(std::move(why)) {}
  std::string source() const override { return {}; }
  bool names_creators() const override { return false; }
  std::string limitation() const override { return why_; }
  std::vector<name_event> finish() override { return {}; }

 private:
  std::string why_;
};

}  // namespace

std::unique_ptr<name_watch> name_watch::start(const std::vector<std::filesystem::path>& dirs,
                                              std::function<bool(int)> is_run,
                                              const std::string& off_because) {
  if (!off_because.empty()) return std::make_unique<no_name_watch>(off_because);
  int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
                         O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::make_unique<no_name_watch>(fmt::format(
        "fanotify unavailable ({}): names made past the interposer are found by the listing "
        "diff only", std::generic_category().message(errno)));
  auto watch = std::make_unique<fanotify_watch>(fd, has_sys_admin(), std::move(is_run));
  for (const auto& dir : dirs) watch->mark(dir);
  if (watch->watching()) watch->run_reader();
  return watch;
}

bool dynamically_linked(const std::filesystem::path& executable) {
  std::ifstream in(executable, std::ios::binary);
  Elf64_Ehdr header{};
  if (!in.read(reinterpret_cast<char*>(&header), sizeof header)) return true;
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) return true;  // a script: its interpreter runs
  if (header.e_ident[EI_CLASS] != ELFCLASS64) return true;             // cannot tell: assume so
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr program{};
    in.seekg(static_cast<std::streamoff>(header.e_phoff + i * sizeof program));
    if (!in.read(reinterpret_cast<char*>(&program), sizeof program)) return true;
    if (program.p_type == PT_INTERP) return true;
  }
  return false;
}

}  // namespace afterlife::detail

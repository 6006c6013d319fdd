// Resources that the operating system does not take back at exit, or takes back while losing
// data: named shared memory, semaphores and message queues stay until unlinked, files lose the
// tail of their buffer, socket paths stay on disk. Each type models the CPython object that
// wraps it:
//
//   close()     releases what this process holds (fd, mapping); idempotent.
//   unlink()    removes the name from the system (named types only); idempotent per object.
//   finalize()  what the garbage collector calls for an object that dies open (the destructor
//               calls it too): warns `ResourceWarning: unclosed <kind> <name>` and closes.
//               It never unlinks: a segment another process attached to must outlive us.
//   scoped<R>   the `with` statement: closes (and optionally unlinks) at the end of the scope,
//               without a warning.
//
// Creators announce what they create to the harness (`register KIND NAME` when AFTERLIFE_SOCKET
// is set) and, when asked with `track`, to the resource tracker (resource_tracker.hpp), which
// unlinks it if every process holding the tracker's pipe dies first. Attachers announce nothing
// and are never tracked: they must not unlink what they did not create (CPython gh-82300).
//
// Every resource still open at exit is finalized by finalize_open_resources(): normal and error
// exits run it (an atexit handler installed with the first resource; the runtime takes that job
// over in its `clear_objects` phase), _exit, abort and signals do not, which is what the exit
// mode table of docs/architecture.md describes.
#pragma once

#include <afterlife/protocol.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace lifecycle {

// ---- names -------------------------------------------------------------------------------

// POSIX names (shm, semaphores, message queues) that work on Linux and macOS: a leading '/',
// then 1..30 characters from [A-Za-z0-9._-] (macOS limits the whole name to 31 characters).
inline constexpr std::size_t max_ipc_name_length = 31;

// Throws std::invalid_argument saying what is wrong with `name`.
void validate_ipc_name(std::string_view name);

// A fresh valid name: "/" + prefix + "_" + 8 random hex digits (CPython's "psm_" names).
// Throws std::invalid_argument if the prefix makes the name too long or has invalid characters.
std::string make_ipc_name(std::string_view prefix);

// ---- the leftover kinds the harness reports (afterlife/protocol.h) ------------------------
// The kinds lifecycle's resources register; each is checked against the protocol's table.

namespace leftover_kind {
inline constexpr std::string_view posix_shm = AFTERLIFE_KIND(posix_shm);
inline constexpr std::string_view posix_sem = AFTERLIFE_KIND(posix_sem);
inline constexpr std::string_view sysv_shm = AFTERLIFE_KIND(sysv_shm);
inline constexpr std::string_view file = AFTERLIFE_KIND(file);
inline constexpr std::string_view socket = AFTERLIFE_KIND(socket);
}  // namespace leftover_kind

// ---- the base classes --------------------------------------------------------------------

inline constexpr struct create_t { explicit create_t() = default; } create{};
inline constexpr struct attach_t { explicit attach_t() = default; } attach{};

// Something this process holds open. Not copyable, not movable: the list of open resources
// (for finalize_open_resources) points at it. Like a CPython object under the GIL, one resource
// is used by one thread at a time; the list itself is thread-safe.
class resource {
 public:
  resource(const resource&) = delete;
  resource& operator=(const resource&) = delete;
  virtual ~resource();

  // Releases what this process holds. Idempotent. Throws std::system_error if releasing fails
  // (the resource counts as closed anyway: there is nothing left to retry).
  void close();
  bool closed() const noexcept { return !open_; }

  // The finalizer: if still open, warns `ResourceWarning: unclosed <kind> <name>` and closes.
  // An error while closing becomes a RuntimeWarning ("Exception ignored in ..."). Never unlinks.
  void finalize() noexcept;

  // What the warning calls it ("file", "shared_memory", ...) and its name or path.
  std::string_view kind() const noexcept { return kind_; }
  const std::string& name() const noexcept { return name_; }

 protected:
  resource(std::string_view kind, std::string name);
  // Called by the derived constructor once it holds the resource: from here it is "open".
  void mark_open();
  // For a constructor that learns its name only while creating (a SysV key); before mark_open.
  void set_name(std::string name) { name_ = std::move(name); }
  // Releases the OS resource. Called at most once, only while open.
  virtual void do_close() = 0;

 private:
  friend struct resource_list_access;
  std::string_view kind_;
  std::string name_;
  bool open_ = false;
  resource* prev_ = nullptr;  // the list of open resources, guarded by its mutex
  resource* next_ = nullptr;
};

// A resource with a name in a system namespace (shm, semaphores, the file system).
class named_resource : public resource {
 public:
  // Removes the name. Idempotent per object; allowed on attachers too (explicitly asked for).
  // Unregisters from the tracker and the harness. Throws std::system_error on failure.
  void unlink();
  bool unlinked() const noexcept { return unlinked_; }

  // The kind the harness reports when it is left behind (leftover_kind).
  std::string_view leftover() const noexcept { return leftover_; }
  bool created() const noexcept { return created_; }  // false: attached to an existing one
  bool tracked() const noexcept { return tracked_; }

 protected:
  named_resource(std::string_view kind, std::string_view leftover, std::string name);
  // Called by a creating constructor once it holds the new object: marks it open and tells the
  // harness and, if `track`, the resource tracker. If the tracker cannot be told, the object
  // is unlinked and closed again and the exception propagates.
  void finish_creation(bool track);
  virtual void do_unlink() = 0;

 private:
  void announce_created(bool track);
  void announce_unlinked() noexcept;

  std::string_view leftover_;
  bool created_ = false;
  bool tracked_ = false;
  bool unlinked_ = false;
};

// ---- the resource types -----------------------------------------------------------------

// A file opened for writing with a user-space buffer (CPython's BufferedWriter): write() fills
// the buffer, a full buffer, flush() and close() write it out. What is still buffered when the
// process dies without finalization (_exit, SIGKILL) is lost.
class file final : public named_resource {
 public:
  // Creates or truncates `path` (mode 0644); buffer_size 0 acts as 1 (every write goes
  // through). Throws std::system_error.
  explicit file(std::string_view path, std::size_t buffer_size = 8192);
  ~file() override;

  void write(std::string_view data);
  void flush();
  std::size_t buffered() const noexcept { return buffer_.size(); }
  int fd() const noexcept { return fd_; }

 protected:
  void do_close() override;
  void do_unlink() override;

 private:
  int fd_ = -1;
  std::size_t capacity_;
  std::string buffer_;
};

// A temporary file (mkstemp) in $TMPDIR (else /tmp); writes go straight to the file. Unlike
// CPython's NamedTemporaryFile, close() does not delete it: unlink() (or scoped with
// on_scope_exit::close_and_unlink, the `with NamedTemporaryFile()` equivalent) does.
class temp_file final : public named_resource {
 public:
  explicit temp_file(std::string_view prefix = "afterlife", bool track = false);
  ~temp_file() override;

  void write(std::string_view data);
  int fd() const noexcept { return fd_; }

 protected:
  void do_close() override;
  void do_unlink() override;

 private:
  temp_file(std::pair<int, std::string> created, bool track);  // fd and path from mkstemp
  int fd_ = -1;
};

// POSIX shared memory (Boost.Interprocess shared_memory_object + mapped_region): on Linux
// /dev/shm/NAME without the slash. The mapping is read-write and shared.
class shared_memory final : public named_resource {
 public:
  // Creates a new segment of `size` bytes (fails with EEXIST if the name is taken).
  shared_memory(create_t, std::string name, std::size_t size, bool track = false);
  // Attaches to an existing segment; its size is the segment's. Never tracked.
  shared_memory(attach_t, std::string name);
  ~shared_memory() override;

  std::span<std::byte> data();  // throws std::logic_error once closed
  std::size_t size() const noexcept { return size_; }

 protected:
  void do_close() override;
  void do_unlink() override;

 private:
  struct impl;
  impl* impl_ = nullptr;
  std::size_t size_ = 0;
};

// System V shared memory (Boost.Interprocess xsi_shared_memory), named by its key, shown as
// "0x%08x" like ipcs. unlink() is shmctl(IPC_RMID); the segment goes when the last attach does.
class sysv_shared_memory final : public named_resource {
 public:
  // key 0: pick a fresh key (retrying on EEXIST).
  sysv_shared_memory(create_t, std::size_t size, key_t key = 0, bool track = false);
  sysv_shared_memory(attach_t, key_t key);
  ~sysv_shared_memory() override;

  std::span<std::byte> data();
  std::size_t size() const noexcept { return size_; }
  key_t key() const noexcept { return key_; }
  int id() const noexcept { return id_; }

 protected:
  void do_close() override;
  void do_unlink() override;

 private:
  struct impl;
  impl* impl_ = nullptr;
  std::size_t size_ = 0;
  key_t key_ = 0;
  int id_ = -1;
};

// A file-backed mapping of a whole existing file (Boost.Interprocess file_mapping +
// mapped_region). shared: stores reach the file (through the page cache, even if the process
// is killed); private: copy-on-write, never written back. It names no object of its own (the
// file belongs to whoever created it), so it has no unlink().
class mapping final : public resource {
 public:
  enum class sharing { shared, private_copy };
  mapping(std::string_view path, sharing how);
  ~mapping() override;

  std::span<std::byte> data();
  std::size_t size() const noexcept { return size_; }
  void flush();  // msync of a shared mapping

 protected:
  void do_close() override;

 private:
  struct impl;
  impl* impl_ = nullptr;
  std::size_t size_ = 0;
};

// A POSIX named semaphore (Boost.Interprocess named_semaphore): on Linux /dev/shm/sem.NAME.
class named_semaphore final : public named_resource {
 public:
  named_semaphore(create_t, std::string name, unsigned initial, bool track = false);
  named_semaphore(attach_t, std::string name);
  ~named_semaphore() override;

  void post();
  void wait();
  bool try_wait();

 protected:
  void do_close() override;
  void do_unlink() override;

 private:
  struct impl;
  impl* impl_ = nullptr;
};

// A message queue: Boost.Interprocess message_queue, which is NOT a POSIX mqueue but a shared
// memory segment holding the queue (/dev/shm/NAME on Linux), so it is left behind as posix_shm.
class message_queue final : public named_resource {
 public:
  message_queue(create_t, std::string name, std::size_t max_messages, std::size_t max_message_size,
                bool track = false);
  message_queue(attach_t, std::string name);
  ~message_queue() override;

  void send(std::string_view message, unsigned priority = 0);
  std::string receive();                     // blocks
  std::optional<std::string> try_receive();  // nullopt when empty
  std::size_t messages() const;              // currently queued

 protected:
  void do_close() override;
  void do_unlink() override;

 private:
  struct impl;
  impl* impl_ = nullptr;
};

// A listening Unix stream socket bound to a path. close() closes the socket; the path stays on
// disk until unlink().
class unix_listener final : public named_resource {
 public:
  explicit unix_listener(std::string_view path, int backlog = 16, bool track = false);
  ~unix_listener() override;

  int fd() const noexcept { return fd_; }
  int accept();  // a connected fd (close-on-exec); the caller owns it

 protected:
  void do_close() override;
  void do_unlink() override;

 private:
  int fd_ = -1;
};

// ---- the `with` statement ------------------------------------------------------------------

enum class on_scope_exit { close, close_and_unlink };

namespace detail {
// The scope-exit steps of scoped<>: errors become RuntimeWarnings (a destructor cannot throw).
void close_at_scope_exit(resource& r) noexcept;
void unlink_at_scope_exit(named_resource& r) noexcept;
}  // namespace detail

// Holds a resource for one scope and closes it at the end of the scope without a warning, even
// when the scope is left by an exception; with close_and_unlink it unlinks the name first.
template <class R, on_scope_exit Action = on_scope_exit::close>
class scoped {
 public:
  template <class... Args>
  explicit scoped(Args&&... args) : resource_(std::forward<Args>(args)...) {}
  scoped(const scoped&) = delete;
  scoped& operator=(const scoped&) = delete;
  ~scoped() {
    if constexpr (Action == on_scope_exit::close_and_unlink) {
      detail::unlink_at_scope_exit(resource_);
    }
    detail::close_at_scope_exit(resource_);
  }

  R& get() noexcept { return resource_; }
  R* operator->() noexcept { return &resource_; }
  R& operator*() noexcept { return resource_; }

 private:
  R resource_;
};

// ---- resources still open at exit ----------------------------------------------------------

// Finalizes every open resource, newest first (each warns "unclosed ..." and closes; a File
// flushes). Safe to call more than once; noexcept because it runs on exit paths.
void finalize_open_resources() noexcept;

// How many resources are open in this process right now.
std::size_t open_resource_count() noexcept;

// Whether the atexit handler installed with the first resource runs finalize_open_resources()
// (default: yes). The runtime turns it off when its own finalization sequence does that step.
void set_finalize_resources_at_exit(bool enabled) noexcept;

}  // namespace lifecycle

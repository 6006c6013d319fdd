// The resources Boost.Interprocess provides: POSIX and System V shared memory, file mappings,
// named semaphores and message queues.
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <boost/interprocess/sync/named_semaphore.hpp>
#include <boost/interprocess/xsi_shared_memory.hpp>
#include <random>
#include <stdexcept>

#include "lifecycle/resources.hpp"
#include "resources/resources_detail.hpp"

namespace lifecycle {

namespace bip = boost::interprocess;

namespace {

// Boost reports errors as interprocess_exception carrying the native errno; callers get the
// std::system_error every lifecycle API throws.
[[noreturn]] void rethrow_as_system_error(const bip::interprocess_exception& e,
                                          const std::string& what) {
  int code = e.get_native_error();
  throw std::system_error(code != 0 ? code : EIO, std::generic_category(), what);
}

template <class F>
auto boost_call(const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const bip::interprocess_exception& e) {
    rethrow_as_system_error(e, what);
  }
}

// Boost's remove() functions return false and leave errno set by the failing call.
void remove_or_throw(bool removed, const std::string& what) {
  if (!removed) detail::throw_errno(what);
}

void require_open(const resource& r, const char* operation) {
  if (r.closed()) {
    throw std::logic_error(fmt::format("{} on closed {} {}", operation, r.kind(), r.name()));
  }
}

std::string validated(std::string name) {
  validate_ipc_name(name);
  return name;
}

}  // namespace

// ---- shared_memory ---------------------------------------------------------------------------

struct shared_memory::impl {
  bip::shared_memory_object object;
  bip::mapped_region region;
};

shared_memory::shared_memory(create_t, std::string name, std::size_t size, bool track)
    : named_resource("shared_memory", leftover_kind::posix_shm, validated(std::move(name))),
      size_(size) {
  if (size == 0) throw std::invalid_argument("shared memory size must be > 0");
  boost_call("create shared memory " + this->name(), [&] {
    bip::shared_memory_object object(bip::create_only, this->name().c_str(), bip::read_write);
    try {
      object.truncate(static_cast<bip::offset_t>(size));
      bip::mapped_region region(object, bip::read_write);
      impl_ = new impl{std::move(object), std::move(region)};
    } catch (...) {
      // Created but unusable: it must not stay behind.
      bip::shared_memory_object::remove(this->name().c_str());
      throw;
    }
  });
  finish_creation(track);
}

shared_memory::shared_memory(attach_t, std::string name)
    : named_resource("shared_memory", leftover_kind::posix_shm, validated(std::move(name))) {
  boost_call("attach shared memory " + this->name(), [&] {
    bip::shared_memory_object object(bip::open_only, this->name().c_str(), bip::read_write);
    bip::mapped_region region(object, bip::read_write);
    size_ = region.get_size();
    impl_ = new impl{std::move(object), std::move(region)};
  });
  mark_open();
}

shared_memory::~shared_memory() { finalize(); }

std::span<std::byte> shared_memory::data() {
  require_open(*this, "data");
  return {static_cast<std::byte*>(impl_->region.get_address()), size_};
}

void shared_memory::do_close() {
  // Unmapping and closing the fd cannot fail in Boost (errors are ignored there).
  delete impl_;
  impl_ = nullptr;
}

void shared_memory::do_unlink() {
  remove_or_throw(bip::shared_memory_object::remove(name().c_str()), "shm_unlink " + name());
}

// ---- sysv_shared_memory ----------------------------------------------------------------------

namespace {

std::string key_name(key_t key) { return fmt::format("0x{:08x}", static_cast<unsigned>(key)); }

// A key nobody uses yet is found by trying: random keys, EEXIST means taken.
key_t random_key() {
  std::random_device entropy;
  key_t key = 0;
  while (key == 0 || key == IPC_PRIVATE) key = static_cast<key_t>(entropy() & 0x7fffffff);
  return key;
}

}  // namespace

struct sysv_shared_memory::impl {
  bip::xsi_shared_memory object;
  bip::mapped_region region;
};

sysv_shared_memory::sysv_shared_memory(create_t, std::size_t size, key_t key, bool track)
    : named_resource("sysv_shared_memory", leftover_kind::sysv_shm, ""), size_(size) {
  if (size == 0) throw std::invalid_argument("shared memory size must be > 0");
  bool pick = key == 0;
  for (int attempt = 0;; ++attempt) {
    key_ = pick ? random_key() : key;
    try {
      bip::xsi_shared_memory object(bip::create_only, bip::xsi_key(key_), size,
                                    bip::permissions(0600));
      id_ = object.get_shmid();
      try {
        bip::mapped_region region(object, bip::read_write);
        impl_ = new impl{std::move(object), std::move(region)};
      } catch (...) {
        bip::xsi_shared_memory::remove(id_);
        throw;
      }
      break;
    } catch (const bip::interprocess_exception& e) {
      if (pick && e.get_native_error() == EEXIST && attempt < 100) continue;
      rethrow_as_system_error(e, "create SysV shared memory " + key_name(key_));
    }
  }
  set_name(key_name(key_));
  finish_creation(track);
}

sysv_shared_memory::sysv_shared_memory(attach_t, key_t key)
    : named_resource("sysv_shared_memory", leftover_kind::sysv_shm, key_name(key)), key_(key) {
  boost_call("attach SysV shared memory " + name(), [&] {
    bip::xsi_shared_memory object(bip::open_only, bip::xsi_key(key));
    id_ = object.get_shmid();
    bip::mapped_region region(object, bip::read_write);
    size_ = region.get_size();
    impl_ = new impl{std::move(object), std::move(region)};
  });
  mark_open();
}

sysv_shared_memory::~sysv_shared_memory() { finalize(); }

std::span<std::byte> sysv_shared_memory::data() {
  require_open(*this, "data");
  return {static_cast<std::byte*>(impl_->region.get_address()), size_};
}

void sysv_shared_memory::do_close() {
  delete impl_;  // shmdt; the segment itself stays until IPC_RMID
  impl_ = nullptr;
}

void sysv_shared_memory::do_unlink() {
  remove_or_throw(bip::xsi_shared_memory::remove(id_), "shmctl(IPC_RMID) " + name());
}

// ---- mapping ---------------------------------------------------------------------------------

struct mapping::impl {
  bip::file_mapping file;
  bip::mapped_region region;
  sharing how;
};

mapping::mapping(std::string_view path, sharing how)
    : resource("mapping", detail::absolute_path(path)) {
  boost_call("map " + name(), [&] {
    bip::file_mapping file(name().c_str(), bip::read_write);
    bip::mapped_region region(file, how == sharing::shared ? bip::read_write : bip::copy_on_write);
    size_ = region.get_size();
    impl_ = new impl{std::move(file), std::move(region), how};
  });
  mark_open();
}

mapping::~mapping() { finalize(); }

std::span<std::byte> mapping::data() {
  require_open(*this, "data");
  return {static_cast<std::byte*>(impl_->region.get_address()), size_};
}

void mapping::flush() {
  require_open(*this, "flush");
  if (impl_->how == sharing::shared && !impl_->region.flush(0, 0, false)) {
    detail::throw_errno("msync " + name());
  }
}

void mapping::do_close() {
  delete impl_;  // munmap, then the file's fd
  impl_ = nullptr;
}

// ---- named_semaphore -------------------------------------------------------------------------

struct named_semaphore::impl {
  bip::named_semaphore semaphore;
};

named_semaphore::named_semaphore(create_t, std::string name, unsigned initial, bool track)
    : named_resource("semaphore", leftover_kind::posix_sem, validated(std::move(name))) {
  boost_call("create semaphore " + this->name(), [&] {
    impl_ = new impl{bip::named_semaphore(bip::create_only, this->name().c_str(), initial)};
  });
  finish_creation(track);
}

named_semaphore::named_semaphore(attach_t, std::string name)
    : named_resource("semaphore", leftover_kind::posix_sem, validated(std::move(name))) {
  boost_call("attach semaphore " + this->name(),
             [&] { impl_ = new impl{bip::named_semaphore(bip::open_only, this->name().c_str())}; });
  mark_open();
}

named_semaphore::~named_semaphore() { finalize(); }

void named_semaphore::post() {
  require_open(*this, "post");
  boost_call("sem_post " + name(), [&] { impl_->semaphore.post(); });
}

void named_semaphore::wait() {
  require_open(*this, "wait");
  boost_call("sem_wait " + name(), [&] { impl_->semaphore.wait(); });
}

bool named_semaphore::try_wait() {
  require_open(*this, "try_wait");
  return boost_call("sem_trywait " + name(), [&] { return impl_->semaphore.try_wait(); });
}

void named_semaphore::do_close() {
  delete impl_;  // sem_close
  impl_ = nullptr;
}

void named_semaphore::do_unlink() {
  remove_or_throw(bip::named_semaphore::remove(name().c_str()), "sem_unlink " + name());
}

// ---- message_queue ---------------------------------------------------------------------------

struct message_queue::impl {
  bip::message_queue queue;
};

message_queue::message_queue(create_t, std::string name, std::size_t max_messages,
                             std::size_t max_message_size, bool track)
    : named_resource("message_queue", leftover_kind::posix_shm, validated(std::move(name))) {
  boost_call("create message queue " + this->name(), [&] {
    impl_ = new impl{
        bip::message_queue(bip::create_only, this->name().c_str(), max_messages, max_message_size)};
  });
  finish_creation(track);
}

message_queue::message_queue(attach_t, std::string name)
    : named_resource("message_queue", leftover_kind::posix_shm, validated(std::move(name))) {
  boost_call("attach message queue " + this->name(),
             [&] { impl_ = new impl{bip::message_queue(bip::open_only, this->name().c_str())}; });
  mark_open();
}

message_queue::~message_queue() { finalize(); }

void message_queue::send(std::string_view message, unsigned priority) {
  require_open(*this, "send");
  boost_call("send to " + name(),
             [&] { impl_->queue.send(message.data(), message.size(), priority); });
}

std::string message_queue::receive() {
  require_open(*this, "receive");
  return boost_call("receive from " + name(), [&] {
    std::string message(impl_->queue.get_max_msg_size(), '\0');
    bip::message_queue::size_type received = 0;
    unsigned priority = 0;
    impl_->queue.receive(message.data(), message.size(), received, priority);
    message.resize(received);
    return message;
  });
}

std::optional<std::string> message_queue::try_receive() {
  require_open(*this, "try_receive");
  return boost_call("receive from " + name(), [&]() -> std::optional<std::string> {
    std::string message(impl_->queue.get_max_msg_size(), '\0');
    bip::message_queue::size_type received = 0;
    unsigned priority = 0;
    if (!impl_->queue.try_receive(message.data(), message.size(), received, priority)) {
      return std::nullopt;
    }
    message.resize(received);
    return message;
  });
}

std::size_t message_queue::messages() const {
  require_open(*this, "messages");
  return impl_->queue.get_num_msg();
}

void message_queue::do_close() {
  delete impl_;  // unmaps the queue's segment
  impl_ = nullptr;
}

void message_queue::do_unlink() {
  remove_or_throw(bip::message_queue::remove(name().c_str()), "remove message queue " + name());
}

}  // namespace lifecycle

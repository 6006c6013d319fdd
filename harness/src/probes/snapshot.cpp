// Snapshots and their difference, on top of each OS's list_objects(): the same on every
// platform.
#include "probes/probes.hpp"

#include <cstring>
#include <unordered_set>

namespace afterlife::probes {

namespace {

// The first arena block; later ones grow geometrically. A /dev/shm of 1,000 entries needs
// about 40 KiB of keys.
constexpr std::size_t first_key_block = 16 * 1024;

}  // namespace

void make_key(std::string_view kind, std::string_view name, std::string& into) {
  into.assign(kind);
  into += ':';
  into += name;
}

snapshot::snapshot()
    : keys_(std::make_unique<std::pmr::monotonic_buffer_resource>(first_key_block)) {}

void snapshot::add(const listed_object& object) {
  std::size_t size = object.kind.size() + 1 + object.name.size();
  auto* key = static_cast<char*>(keys_->allocate(size, 1));
  std::memcpy(key, object.kind.data(), object.kind.size());
  key[object.kind.size()] = ':';
  std::memcpy(key + object.kind.size() + 1, object.name.data(), object.name.size());
  // The first listing of a key wins (overlapping watched directories list a file twice).
  inodes_.emplace(std::string_view(key, size), object.inode);
}

bool snapshot::has(std::string_view key, std::uint64_t inode) const {
  auto found = inodes_.find(key);
  return found != inodes_.end() && found->second == inode;
}

snapshot take_snapshot(const std::vector<std::filesystem::path>& watch_dirs) {
  snapshot result;
  // Before listing: a change made while the listing runs must show in the stamps.
  result.keep_stamps(stamp_directories());
  listing out([&](const listed_object& object) { result.add(object); });
  list_objects(watch_dirs, out);
  result.notes = std::move(out.notes);
  return result;
}

changes new_since(const snapshot& before, const std::vector<std::filesystem::path>& watch_dirs,
                  const std::function<bool(std::string_view, std::string_view)>& renewed) {
  changes result;
  std::string key;  // reused: an unchanged entry costs a lookup, no allocation
  std::unordered_set<std::string> kept;
  listing out([&](const listed_object& object) {
    make_key(object.kind, object.name, key);
    if (before.has(key, object.inode) && !(renewed && renewed(object.kind, object.name))) return;
    if (!kept.insert(key).second) return;
    object_entry entry{std::string(object.kind), std::string(object.name),
                       std::string(object.path), object.inode, object.size, object.creator_pid};
    entry.change_ns = object.change_ns;
    entry.uid = object.uid;
    result.objects.push_back(std::move(entry));
  });
  list_objects(watch_dirs, out, before.stamps());
  result.notes = std::move(out.notes);
  return result;
}

}  // namespace afterlife::probes

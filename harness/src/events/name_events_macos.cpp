// macOS: no kernel name events a process can attribute (FSEvents names no process): the
// watch is inactive, and the listing diff and the interposer do the work.
#include "events/name_events.hpp"

namespace afterlife::detail {

namespace {

class no_name_watch final : public name_watch {
 public:
  std::string source() const override { return {}; }
  bool names_creators() const override { return false; }
  std::string limitation() const override {
    return "no kernel name events on macOS (FSEvents does not name the creating process)";
  }
  std::vector<name_event> finish() override { return {}; }
};

}  // namespace

std::unique_ptr<name_watch> name_watch::start(const std::vector<std::filesystem::path>&,
                                              std::function<bool(int)>, const std::string&) {
  return std::make_unique<no_name_watch>();
}

// Every macOS executable loads dyld (the kernel refuses static executables on arm64).
bool dynamically_linked(const std::filesystem::path&) { return true; }

}  // namespace afterlife::detail

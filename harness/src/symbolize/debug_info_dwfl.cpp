// debug_info through elfutils' libdwfl: the module's symbol table (.symtab, else .dynsym) for
// the function and its DWARF line table for file and line, from the file itself or its separate
// debug file (build-id or .gnu_debuglink, e.g. Debian's -dbgsym packages under /usr/lib/debug).
#include <elfutils/libdwfl.h>

#include <map>

#include "symbolize.hpp"

namespace afterlife::detail {

namespace {

char* no_debuginfo_path = nullptr;
const Dwfl_Callbacks offline_callbacks = {
    dwfl_build_id_find_elf, dwfl_standard_find_debuginfo, dwfl_offline_section_address,
    &no_debuginfo_path};

}  // namespace

// One Dwfl per file, each at the addresses the file was linked at (base 0 plus its segments'
// own addresses): the recorded addresses are in those terms, and the files would overlap in a
// single Dwfl.
struct debug_info::impl {
  std::map<std::string, Dwfl*, std::less<>> sessions;  // nullptr: the file could not be read
  ~impl() {
    for (auto& [path, session] : sessions)
      if (session != nullptr) dwfl_end(session);
  }
  Dwfl* session_for(const std::string& path) {
    auto found = sessions.find(path);
    if (found != sessions.end()) return found->second;
    Dwfl* session = dwfl_begin(&offline_callbacks);
    if (session != nullptr &&
        dwfl_report_elf(session, path.c_str(), path.c_str(), -1, 0, true) == nullptr) {
      dwfl_end(session);
      session = nullptr;
    }
    if (session != nullptr) dwfl_report_end(session, nullptr, nullptr);
    sessions.emplace(path, session);
    return session;
  }
};

debug_info::debug_info() : impl_(std::make_unique<impl>()) {}
debug_info::~debug_info() = default;
bool debug_info::available() noexcept { return true; }

std::optional<source_location> debug_info::lookup(const std::string& module,
                                                  std::uint64_t address) {
  Dwfl* session = impl_->session_for(module);
  if (session == nullptr) return std::nullopt;
  Dwfl_Module* found = dwfl_addrmodule(session, address);
  if (found == nullptr) return std::nullopt;
  source_location where;
  GElf_Off offset = 0;
  GElf_Sym symbol;
  if (const char* name = dwfl_module_addrinfo(found, address, &offset, &symbol, nullptr, nullptr,
                                              nullptr)) {
    where.function = name;
    where.function_offset = offset;
  }
  if (Dwfl_Line* line = dwfl_module_getsrc(found, address)) {
    int number = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &number, nullptr, nullptr, nullptr)) {
      where.file = file;
      where.line = number;
    }
  }
  if (where.function.empty() && where.file.empty()) return std::nullopt;
  return where;
}

}  // namespace afterlife::detail

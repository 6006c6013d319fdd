// Call sites as a user reads them. The interposer records each frame as
// `FILE+0xADDRESS(symbol+0xOFF)` (interposer_posix.c, describe_site): the loaded file, the address
// in that file's terms, and dladdr's nearest exported symbol. After the run the harness looks the
// address up in the file's DWARF and symbol table (debug_info; elfutils' libdwfl on Linux) and
// writes `function (file.c:LINE)`, as valgrind does; where that is unknown (no debug
// information, no libdw in the build, macOS) `module(symbol+0xOFF)` or `module+0xADDRESS`,
// module the file's name (never the program's argv[0]).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace afterlife::detail {

struct recorded_frame {
  std::string module;                  // the loaded file (a path), or the text before '('
  std::optional<std::uint64_t> address;  // in the module's own terms
  std::string symbol;                  // dladdr's, as the linker sees it (maybe mangled)
  std::string symbol_offset;           // "0x47" after the symbol
};
recorded_frame parse_frame(std::string_view text);

struct source_location {
  std::string function;  // as the symbol table has it (maybe mangled)
  std::uint64_t function_offset = 0;  // of the address looked up, from the function's start
  std::string file;      // empty without line information
  int line = 0;
};

// What a module's debug information says about an address in it. One per run (files are
// opened once, on first use); not shared between threads.
class debug_info {
 public:
  debug_info();
  ~debug_info();
  debug_info(const debug_info&) = delete;
  debug_info& operator=(const debug_info&) = delete;
  std::optional<source_location> lookup(const std::string& module, std::uint64_t address);
  // False in a build without a symbolizer (the fallback keeps module+offset).
  static bool available() noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// A C++ symbol demangled without its outermost parameter list (`ns::f(…)`); others unchanged.
std::string readable_symbol(const std::string& symbol);

// One recorded frame as the report shows it (see the top of this file).
std::string describe_frame(std::string_view text, debug_info& symbols);

}  // namespace afterlife::detail

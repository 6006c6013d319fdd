#include "symbolize.hpp"

#include <cxxabi.h>
#include <fmt/core.h>

#include <charconv>
#include <cstdlib>

namespace afterlife::detail {

recorded_frame parse_frame(std::string_view text) {
  recorded_frame frame;
  std::string_view head = text;
  // Mangled and plain symbols have no '(': the last one opens the symbol part.
  if (!text.empty() && text.back() == ')') {
    auto open = text.rfind('(');
    std::string_view inside =
        open == std::string_view::npos ? std::string_view{} : text.substr(open + 1, text.size() - open - 2);
    auto plus = inside.rfind("+0x");
    if (plus != std::string_view::npos && plus > 0) {
      frame.symbol = std::string(inside.substr(0, plus));
      frame.symbol_offset = std::string(inside.substr(plus + 1));
      head = text.substr(0, open);
    }
  }
  auto plus = head.rfind("+0x");
  if (plus != std::string_view::npos) {
    std::uint64_t address = 0;
    const char* first = head.data() + plus + 3;
    const char* last = head.data() + head.size();
    auto [end, ec] = std::from_chars(first, last, address, 16);
    if (ec == std::errc{} && end == last && first != last) {
      frame.address = address;
      head = head.substr(0, plus);
    }
  }
  frame.module = std::string(head);
  return frame;
}

std::string readable_symbol(const std::string& symbol) {
  if (symbol.rfind("_Z", 0) != 0) return symbol;
  int status = 0;
  char* demangled = abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) {
    std::free(demangled);
    return symbol;
  }
  std::string name = demangled;
  std::free(demangled);
  // Drop the outermost parameter list: the last ')' (before any qualifier) and its '('.
  auto close = name.rfind(')');
  int depth = 0;
  for (auto i = close; close != std::string::npos && i != std::string::npos; --i) {
    if (name[i] == ')') ++depth;
    if (name[i] == '(' && --depth == 0) {
      name = name.substr(0, i) + "(…)" + name.substr(close + 1);
      break;
    }
    if (i == 0) break;
  }
  return name;
}

namespace {

std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string describe_frame(std::string_view text, debug_info& symbols) {
  recorded_frame frame = parse_frame(text);
  std::string_view module = base_name(frame.module);
  // Every recorded frame is a return address: the call is the instruction before it.
  if (frame.address && *frame.address > 0 && frame.module.starts_with('/')) {
    if (auto where = symbols.lookup(frame.module, *frame.address - 1)) {
      std::string function = where->function.empty() ? frame.symbol : where->function;
      // A versioned symbol's version (__libc_start_main@@GLIBC_2.34) says nothing about the site.
      function = readable_symbol(function.substr(0, function.find('@')));
      if (!where->file.empty() && !function.empty())
        return fmt::format("{} ({}:{})", function, base_name(where->file), where->line);
      // The symbol table alone (a program without -g): its name for the function, which
      // dladdr knows only when exported. The offset is of the return address, as dladdr's.
      if (!where->function.empty())
        return fmt::format("{}({}+0x{:x})", module, function, where->function_offset + 1);
      if (!where->file.empty())
        return fmt::format("{}+0x{:x} ({}:{})", module, *frame.address, base_name(where->file),
                           where->line);
    }
  }
  if (!frame.symbol.empty())
    return fmt::format("{}({}+{})", module, readable_symbol(frame.symbol), frame.symbol_offset);
  if (frame.address) return fmt::format("{}+0x{:x}", module, *frame.address);
  return std::string(text);
}

}  // namespace afterlife::detail

#include "claims.hpp"

#include <fmt/core.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace afterlife::detail {

std::string unescape_name(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      unsigned value = 0;
      auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec == std::errc{} && end == text.data() + i + 3) {
        out += static_cast<char>(value);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::string escape_name(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '%') out += "%25";
    else if (c == '\n') out += "%0A";
    else if (c == '\t') out += "%09";
    else out += c;
  }
  return out;
}

namespace {

template <typename T>
bool parse_number(std::string_view text, T& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size();
}

// The interposer writes the site and its callers as one field, `SITE <- CALLER <- ...`.
constexpr std::string_view caller_separator = " <- ";

}  // namespace

std::optional<claim> parse_record(std::string_view body) {
  std::string_view rest = body;
  std::string_view fields[3];
  for (auto& field : fields) {
    auto tab = rest.find('\t');
    if (tab == std::string_view::npos) return std::nullopt;
    field = rest.substr(0, tab);
    rest.remove_prefix(tab + 1);
  }
  claim record;
  if (fields[0].empty() || !parse_number(fields[1], record.inode) || rest.empty())
    return std::nullopt;
  record.kind = std::string(fields[0]);
  std::string_view frames = fields[2];
  auto end = frames.find(caller_separator);
  record.site = std::string(frames.substr(0, end));
  while (end != std::string_view::npos) {
    frames.remove_prefix(end + caller_separator.size());
    end = frames.find(caller_separator);
    record.callers.emplace_back(frames.substr(0, end));
  }
  record.name = unescape_name(rest);
  return record;
}

std::string format_record(const claim& record) {
  std::string frames = record.site;
  for (const auto& caller : record.callers) frames += fmt::format("{}{}", caller_separator, caller);
  return fmt::format("{}\t{}\t{}\t{}", record.kind, record.inode, frames, escape_name(record.name));
}

}  // namespace afterlife::detail

#include "journal.hpp"

#include "claims.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <charconv>
#include <system_error>

namespace afterlife::detail {

namespace {

constexpr std::string_view journal_name = "journal";
constexpr std::string_view first_line = "afterlife.journal/1";

template <typename T>
bool parse_number(std::string_view text, T& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size();
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  for (;;) {
    auto tab = line.find('\t');
    fields.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return fields;
    line.remove_prefix(tab + 1);
  }
}

}  // namespace

journal::journal(int run_dirfd) {
  fd_ = openat(run_dirfd, std::string(journal_name).c_str(),
               O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0 || flock(fd_, LOCK_EX) != 0) {
    int saved = errno;
    if (fd_ >= 0) close(fd_);
    throw std::system_error(saved, std::generic_category(), "journal");
  }
}

journal::~journal() {
  if (fd_ >= 0) close(fd_);
}

bool journal::write_line(const std::string& line) {
  ssize_t written = write(fd_, line.data(), line.size());
  if (written > 0) bytes_ += static_cast<std::size_t>(written);
  return written == static_cast<ssize_t>(line.size());
}

void journal::begin(const std::string& run_id, reap_policy policy,
                    const std::filesystem::path& tmpdir,
                    const std::vector<std::filesystem::path>& watched) {
  std::string text = fmt::format("{}\nrun\t{}\t{}\ntmpdir\t{}\n", first_line, escape_name(run_id),
                                 to_string(policy), escape_name(tmpdir.string()));
  for (const auto& dir : watched) text += fmt::format("watch\t{}\n", escape_name(dir.string()));
  text += "begun\n";
  if (!write_line(text)) throw std::system_error(errno, std::generic_category(), "journal");
}

bool journal::seen(const probes::object_entry& o) {
  if (full_) return false;
  auto line = fmt::format("seen\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", o.kind, o.inode, o.birth_ns,
                          o.change_ns, o.uid, o.creator_pid, escape_name(o.path), escape_name(o.name));
  // Room kept for the note below and `finished`.
  if (objects_ >= journal_objects_max || bytes_ + line.size() > journal_bytes_max - 4096) {
    full_ = true;
    note(fmt::format("journal full: more than {} objects or {} MiB", journal_objects_max,
                     journal_bytes_max >> 20));
    return false;
  }
  ++objects_;
  return write_line(line);
}

void journal::note(const std::string& text) { (void)write_line("note\t" + escape_name(text) + "\n"); }

void journal::finish() { (void)write_line("finished\n"); }

namespace {

std::string read_bounded(int fd) {
  std::string data;
  char buf[65536];
  while (data.size() <= journal_bytes_max) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

std::optional<probes::object_entry> parse_seen(const std::vector<std::string_view>& f) {
  if (f.size() != 9 || f[1].empty() || (f[7].empty() && f[8].empty())) return std::nullopt;
  probes::object_entry o;
  o.kind = std::string(f[1]);
  if (!parse_number(f[2], o.inode) || !parse_number(f[3], o.birth_ns) ||
      !parse_number(f[4], o.change_ns) || !parse_number(f[5], o.uid) ||
      !parse_number(f[6], o.creator_pid))
    return std::nullopt;
  o.path = unescape_name(f[7]);
  o.name = unescape_name(f[8]);
  return o;
}

}  // namespace

std::optional<journal_contents> read_journal(int fd) {
  std::string data = read_bounded(fd);
  journal_contents contents;
  if (data.size() > journal_bytes_max) {
    data.resize(journal_bytes_max);
    contents.foreign.push_back(fmt::format("larger than {} MiB", journal_bytes_max >> 20));
  }
  // A last line without its newline: a write cut short (the harness's are whole lines).
  data.resize(data.rfind('\n') == std::string::npos ? 0 : data.rfind('\n') + 1);
  std::string_view rest = data;
  auto next_line = [&rest](std::string_view& line) {
    if (rest.empty()) return false;
    auto end = rest.find('\n');
    line = rest.substr(0, end);
    rest.remove_prefix(end + 1);
    return true;
  };
  std::string_view line;
  if (!next_line(line) || line != first_line) return std::nullopt;
  // The header, as begin() writes it in one write(2).
  if (!next_line(line)) return std::nullopt;
  auto f = split_tabs(line);
  if (f[0] != "run" || f.size() != 3) return std::nullopt;
  auto policy = parse_reap_policy(f[2]);
  if (!policy) return std::nullopt;
  contents.run_id = unescape_name(f[1]);
  contents.policy = *policy;
  if (!next_line(line)) return std::nullopt;
  f = split_tabs(line);
  if (f[0] != "tmpdir" || f.size() != 2) return std::nullopt;
  contents.tmpdir = unescape_name(f[1]);
  for (;;) {
    if (!next_line(line)) return std::nullopt;
    if (line == "begun") break;
    f = split_tabs(line);
    if (f[0] != "watch" || f.size() != 2) return std::nullopt;
    contents.watched.emplace_back(unescape_name(f[1]));
  }
  // The records.
  std::size_t line_number = 3 + contents.watched.size() + 1;
  while (next_line(line)) {
    ++line_number;
    f = split_tabs(line);
    if (f[0] == "seen") {
      auto object = parse_seen(f);
      if (object && contents.seen.size() < journal_objects_max) {
        contents.seen.push_back(std::move(*object));
        continue;
      }
    } else if (f[0] == "note" && f.size() == 2) {
      contents.notes.push_back(unescape_name(f[1]));
      continue;
    } else if (line == "finished") {
      contents.finished = true;
      continue;
    }
    contents.foreign.push_back(
        fmt::format("line {} is not one the harness writes: {}", line_number,
                    escape_name(std::string(line.substr(0, 80)))));
  }
  return contents;
}

}  // namespace afterlife::detail

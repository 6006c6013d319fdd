#include "journal.hpp"

#include "claims.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <charconv>
#include <sstream>
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
  return written == static_cast<ssize_t>(line.size());
}

void journal::begin(const std::string& run_id, reap_policy policy,
                    const std::filesystem::path& tmpdir,
                    const std::vector<std::filesystem::path>& watched) {
  std::string text = fmt::format("{}\nrun\t{}\t{}\ntmpdir\t{}\n", first_line, escape_name(run_id),
                                 to_string(policy), escape_name(tmpdir.string()));
  for (const auto& dir : watched) text += fmt::format("watch\t{}\n", escape_name(dir.string()));
  if (!write_line(text)) throw std::system_error(errno, std::generic_category(), "journal");
}

bool journal::seen(const probes::object_entry& o) {
  if (full_) return false;
  if (objects_ >= journal_objects_max) {
    full_ = true;
    note(fmt::format("journal full: more than {} objects", journal_objects_max));
    return false;
  }
  ++objects_;
  return write_line(fmt::format("seen\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", o.kind, o.inode, o.birth_ns,
                                o.change_ns, o.uid, o.creator_pid, escape_name(o.path),
                                escape_name(o.name)));
}

void journal::note(const std::string& text) { (void)write_line("note\t" + escape_name(text) + "\n"); }

std::optional<journal_contents> read_journal(int fd) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  std::istringstream lines(data);
  std::string line;
  if (!std::getline(lines, line) || line != first_line) return std::nullopt;
  journal_contents contents;
  bool have_run = false;
  while (std::getline(lines, line)) {
    auto f = split_tabs(line);
    if (f[0] == "run" && f.size() == 3) {
      auto policy = parse_reap_policy(f[2]);
      if (!policy) return std::nullopt;
      contents.run_id = unescape_name(f[1]);
      contents.policy = *policy;
      have_run = true;
    } else if (f[0] == "tmpdir" && f.size() == 2) {
      contents.tmpdir = unescape_name(f[1]);
    } else if (f[0] == "watch" && f.size() == 2) {
      contents.watched.emplace_back(unescape_name(f[1]));
    } else if (f[0] == "note" && f.size() == 2) {
      contents.notes.push_back(unescape_name(f[1]));
    } else if (f[0] == "seen" && f.size() == 9) {
      probes::object_entry o;
      o.kind = std::string(f[1]);
      if (!parse_number(f[2], o.inode) || !parse_number(f[3], o.birth_ns) ||
          !parse_number(f[4], o.change_ns) || !parse_number(f[5], o.uid) ||
          !parse_number(f[6], o.creator_pid))
        continue;  // cut short by a crash
      o.path = unescape_name(f[7]);
      o.name = unescape_name(f[8]);
      contents.seen.push_back(std::move(o));
    }
  }
  if (!have_run) return std::nullopt;
  return contents;
}

}  // namespace afterlife::detail

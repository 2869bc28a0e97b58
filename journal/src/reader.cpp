#include "journal/reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/strings.hpp"

namespace dropcheck::journal {
namespace {

// The complete lines of JSON Lines text; what follows the last LF is the torn tail.
class TextLines {
 public:
  explicit TextLines(std::string_view text) : text_(text) {}
  bool next(std::string_view& line) {
    const auto nl = text_.find('\n', pos_);
    if (nl == std::string_view::npos) return false;
    line = text_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return true;
  }
  std::size_t torn() const { return text_.size() - pos_; }
  bool failed() const { return false; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// The same from a file, read in blocks of kBlock octets into one buffer; a line is handed out
// where it lies in the buffer (no copy), valid until the next call. A line that does not fit
// grows the buffer (to twice its size, as often as needed), so memory is bounded by the longest
// line, not the file.
class FileLines {
 public:
  static constexpr std::size_t kBlock = std::size_t{1} << 20;

  explicit FileLines(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~FileLines() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLines(const FileLines&) = delete;
  FileLines& operator=(const FileLines&) = delete;

  bool is_open() const { return fd_ >= 0; }
  bool next(std::string_view& line) {
    for (;;) {
      const std::size_t avail = end_ - begin_;
      const void* nl = avail == 0 ? nullptr : std::memchr(buf_.data() + begin_, '\n', avail);
      if (nl != nullptr) {
        const auto len =
            static_cast<std::size_t>(static_cast<const char*>(nl) - buf_.data()) - begin_;
        line = std::string_view(buf_.data() + begin_, len);
        begin_ += len + 1;
        return true;
      }
      if (eof_ || failed_ || !refill()) {
        if (!failed_) torn_ = end_ - begin_;
        return false;
      }
    }
  }
  std::size_t torn() const { return torn_; }
  bool failed() const { return failed_; }

 private:
  // Moves the partial line to the front and reads more after it; false at the end of the file
  // or on a read error (failed_).
  bool refill() {
    if (begin_ > 0 && end_ > begin_)  // (an empty buffer's data() may be null)
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (buf_.size() - end_ < kBlock / 2) buf_.resize(std::max(kBlock, buf_.size() * 2));
    for (;;) {
      const ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
      if (n > 0) {
        end_ += static_cast<std::size_t>(n);
        return true;
      }
      if (n == 0) {
        eof_ = true;
        return false;
      }
      if (errno != EINTR) {
        failed_ = true;
        return false;
      }
    }
  }

  int fd_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;  // the octets read and not yet handed out
  std::size_t torn_ = 0;
  bool eof_ = false, failed_ = false;
};

// Every complete line parsed by `parse(line, lineno)` and handed to `each`; a torn tail is
// reported, not parsed.
template <typename Lines, typename Parse, typename Each>
base::Result<Tail> each_line(Lines& lines, std::string_view source, Parse parse, Each&& each) {
  std::string_view line;
  std::size_t lineno = 0;
  while (lines.next(line)) {
    auto rec = parse(line, ++lineno);
    if (!rec) return rec.error();
    each(*rec);
  }
  if (lines.failed()) return base::make_error("journal-io", "cannot read " + std::string(source));
  Tail t;
  t.torn_bytes = lines.torn();
  t.torn_tail = t.torn_bytes != 0;
  return t;
}

std::string where(std::string_view source, std::size_t lineno) {
  return std::string(source) + ":" + std::to_string(lineno) + ": ";
}

base::Result<SessionRecord> session_at(std::string_view line, std::string_view source,
                                       std::size_t lineno) {
  auto rec = session_from_json_line(line);
  if (!rec)
    return base::make_error("journal-bad-line", where(source, lineno) + rec.error().message);
  return rec;
}

// True when `hex` is the lower-case hex of SHA-256(data), exactly as base::sha256_hex writes
// it. The digest is compared in place (no hex string per record), and one hashing context per
// thread is reused (the reader thread checks every message of the journal).
bool sha256_is(std::string_view data, std::string_view hex) {
  thread_local base::Sha256 hasher;
  static constexpr char kHex[] = "0123456789abcdef";
  hasher.reset();
  hasher.update(data);
  const auto md = hasher.digest();
  if (hex.size() != 2 * md.size()) return false;
  for (std::size_t i = 0; i < md.size(); ++i)
    if (hex[2 * i] != kHex[md[i] >> 4] || hex[2 * i + 1] != kHex[md[i] & 0xf]) return false;
  return true;
}

bool matches(const TransactionRecord& rec) {
  return rec.message.size() == rec.size && sha256_is(rec.message, rec.sha256);
}

// What is checked of a record's message: nothing, inline bytes only, or also a message file
// in `dir` (loaded).
enum class Messages { unchecked, inline_only, load };

// The record of line `lineno` with its message checked as `check` says.
base::Result<TransactionRecord> transaction_at(std::string_view line, std::string_view source,
                                               std::size_t lineno, Messages check,
                                               const std::filesystem::path& dir,
                                               Fields fields = Fields::all) {
  auto rec = from_json_line(line, fields);
  if (!rec)
    return base::make_error("journal-bad-line", where(source, lineno) + rec.error().message);
  if (check == Messages::unchecked) return rec;
  if (rec->message_inline) {
    if (!matches(*rec))
      return base::make_error("message-corrupt",
                              where(source, lineno) + "message does not match its SHA-256");
  } else if (check == Messages::load && !rec->sha256.empty()) {
    const auto mpath = message_file(dir, rec->sha256);
    std::ifstream m(mpath, std::ios::binary);
    if (!m)
      return base::make_error("message-missing",
                              where(source, lineno) + "cannot open " + mpath.string());
    std::ostringstream ms;
    ms << m.rdbuf();
    rec->message = std::move(ms).str();
    if (!matches(*rec))
      return base::make_error("message-corrupt", mpath.string() + " does not match its SHA-256");
  }
  return rec;
}

template <typename Contents>
Contents with_tail(Contents c, const Tail& t) {
  c.torn_tail = t.torn_tail;
  c.torn_bytes = t.torn_bytes;
  return c;
}

template <typename Lines>
base::Result<SessionContents> collect_sessions(Lines& lines, std::string_view source) {
  SessionContents c;
  auto tail = each_line(
      lines, source,
      [&](std::string_view line, std::size_t lineno) { return session_at(line, source, lineno); },
      [&](SessionRecord& r) { c.records.push_back(std::move(r)); });
  if (!tail) return tail.error();
  return with_tail(std::move(c), *tail);
}

base::Result<Tail> each_transaction(const std::filesystem::path& dir, Messages check,
                                    const TransactionSink& each, Fields fields) {
  const auto path = journal_file(dir);
  FileLines lines(path);
  if (!lines.is_open()) return base::make_error("journal-missing", "cannot open " + path.string());
  const std::string source = path.string();
  return each_line(
      lines, source,
      [&](std::string_view line, std::size_t lineno) {
        return transaction_at(line, source, lineno, check, dir, fields);
      },
      each);
}

}  // namespace

base::Result<Tail> for_each_transaction(const std::filesystem::path& dir, bool load_messages,
                                        const TransactionSink& each, Fields fields) {
  return each_transaction(dir, load_messages ? Messages::load : Messages::unchecked, each, fields);
}

base::Result<Tail> for_each_transaction_in(std::string_view text, std::string_view source,
                                           const TransactionSink& each) {
  TextLines lines(text);
  return each_line(
      lines, source,
      [&](std::string_view line, std::size_t lineno) {
        return transaction_at(line, source, lineno, Messages::inline_only, {});
      },
      each);
}

base::Result<JournalContents> parse_journal(std::string_view text, std::string_view source) {
  JournalContents c;
  auto tail = for_each_transaction_in(
      text, source, [&](TransactionRecord& r) { c.records.push_back(std::move(r)); });
  if (!tail) return tail.error();
  return with_tail(std::move(c), *tail);
}

base::Result<JournalContents> read_journal_contents(const std::filesystem::path& dir,
                                                    bool load_messages) {
  JournalContents c;
  auto tail = for_each_transaction(
      dir, load_messages, [&](TransactionRecord& r) { c.records.push_back(std::move(r)); });
  if (!tail) return tail.error();
  return with_tail(std::move(c), *tail);
}

base::Result<SessionContents> parse_sessions(std::string_view text, std::string_view source) {
  TextLines lines(text);
  return collect_sessions(lines, source);
}

base::Result<SessionContents> read_sessions(const std::filesystem::path& dir) {
  const auto path = sessions_file(dir);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return SessionContents{};
  FileLines lines(path);
  if (!lines.is_open()) return base::make_error("journal-io", "cannot open " + path.string());
  return collect_sessions(lines, path.string());
}

base::Result<std::vector<TransactionRecord>> read_journal(const std::filesystem::path& dir) {
  auto c = read_journal_contents(dir, true);
  if (!c) return c.error();
  if (c->torn_tail)
    return base::make_error("journal-torn", journal_file(dir).string() +
                                                ": last line is incomplete (" +
                                                std::to_string(c->torn_bytes) + " octets)");
  return std::move(c->records);
}

}  // namespace dropcheck::journal

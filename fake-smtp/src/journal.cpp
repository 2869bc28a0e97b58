#include "fake_smtp/journal.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "base/strings.hpp"

namespace dropcheck::fake_smtp {
namespace {

constexpr std::size_t kKeepLineCapacity = 1 << 20;

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& p) {
  const int e = errno;
  const std::string text = "journal: " + what + " " + p.string() + ": " + std::strerror(e);
  if (e == EMFILE || e == ENFILE) throw JournalBusy(text);  // comes back: 4xx, not fatal
  throw std::runtime_error(text);
}

// `path_of()` names the file in the error; called only on failure (a path is built per call).
template <typename PathOf>
void write_all(int fd, std::string_view data, PathOf&& path_of) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path_of());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void fsync_dir(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", p);
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("cannot fsync", p);
  }
  ::close(fd);
}

void store_message(const std::filesystem::path& dir, const TransactionRecord& rec, bool sync,
                   unsigned mode) {
  const auto path = message_file(dir, rec.sha256);
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) == rec.size && !ec)
    return;                                      // same bytes already stored (content-addressed)
  static std::atomic<unsigned long> counter{0};  // unique among threads of this process
  const auto tmp =
      dir / "messages" / fmt::format(".tmp-{}-{}-{}", rec.sha256, ::getpid(), ++counter);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("cannot create", tmp);
  try {
    write_all(fd, rec.message, [&] { return tmp; });
    if (sync && ::fsync(fd) != 0) fail("cannot fsync", tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail("cannot close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename to", path);
  if (sync) fsync_dir(dir / "messages");
}

// Opens an append-only JSON Lines file, continuing it: counts its complete lines into `lines`,
// cuts a torn tail (a crash mid-write) and returns its length in `torn`.
int open_lines_file(const std::filesystem::path& path, unsigned mode, std::uint64_t& lines,
                    std::size_t& torn) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, mode);
  if (fd < 0) fail("cannot open", path);
  if (::fchmod(fd, mode) != 0) {  // an existing journal, written before with another mode
    const int e = errno;
    ::close(fd);
    errno = e;
    fail("cannot chmod", path);
  }
  std::string content;
  {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    content = ss.str();
  }
  const auto last_nl = content.rfind('\n');
  const std::size_t complete = last_nl == std::string::npos ? 0 : last_nl + 1;
  lines = 0;
  for (std::size_t i = 0; i < complete; ++i)
    if (content[i] == '\n') ++lines;
  torn = content.size() - complete;
  if (torn != 0 && ::ftruncate(fd, static_cast<off_t>(complete)) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    fail("cannot truncate torn tail of", path);
  }
  return fd;
}

}  // namespace

Journal::Journal(std::filesystem::path dir, bool fsync, MessageStore store, unsigned file_mode)
    : dir_(std::move(dir)), fsync_(fsync), store_(store), file_mode_(file_mode) {
  std::error_code ec;
  for (const auto& made :
       {store_ == MessageStore::files ? dir_ / "messages" : dir_, spool_dir(dir_)}) {
    std::filesystem::create_directories(made, ec);
    if (ec)
      throw std::runtime_error("journal: cannot create " + made.string() + ": " + ec.message());
  }
  // Spools left by a crash: their messages were never acknowledged.
  for (const auto& e : std::filesystem::directory_iterator(spool_dir(dir_), ec))
    std::filesystem::remove(e.path(), ec);
  // Continue existing files: count complete lines, cut a torn tail.
  std::uint64_t lines = 0;
  std::size_t torn = 0;
  fd_ = open_lines_file(journal_path(), file_mode_, lines, torn);
  seq_ = lines;
  torn_bytes_ = torn;
  try {
    session_fd_ = open_lines_file(sessions_file(dir_), file_mode_, lines, torn);
  } catch (...) {
    ::close(fd_);
    throw;
  }
  session_seq_ = lines;
  torn_bytes_ += torn;
  synced_ = seq_.load();
}

Journal::~Journal() {
  if (fsync_) {
    // Session records (and, with group commit, anything not yet synced): best effort.
    if (fd_ >= 0) ::fdatasync(fd_);
    if (session_fd_ >= 0) ::fdatasync(session_fd_);
  }
  if (fd_ >= 0) ::close(fd_);
  if (session_fd_ >= 0) ::close(session_fd_);
}

void Journal::sync() {
  const std::lock_guard lock(sync_mutex_);
  // Everything written before fdatasync starts is covered by it.
  const std::uint64_t written = seq_.load();
  if (synced_.load() >= written) return;
  if (datasync_(fd_) != 0) fail("cannot fsync", journal_path());
  synced_ = written;
}

void Journal::append_session(SessionRecord& rec) {
  const std::lock_guard lock(mutex_);
  rec.seq = session_seq_ + 1;
  std::string line = to_json_line(rec);
  line.push_back('\n');
  write_all(session_fd_, line, [this] { return sessions_file(dir_); });
  ++session_seq_;
}

std::filesystem::path Journal::journal_path() const { return journal_file(dir_); }

std::unique_ptr<MessageSpool> Journal::open_spool() const {
  return std::make_unique<MessageSpool>(spool_dir(dir_), file_mode_);
}

void Journal::store_spooled(TransactionRecord& rec, MessageSpool& spool, bool load_message) {
  rec.size = spool.size();
  rec.sha256 = spool.sha256_hex();
  if (store_ == MessageStore::inline_bytes || load_message) rec.message = spool.read_all();
  if (store_ == MessageStore::inline_bytes) return;
  const auto path = message_file(dir_, rec.sha256);
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) == rec.size && !ec)
    return;  // same bytes already stored (content-addressed); the spool goes
  if (fsync_) spool.sync();
  spool.commit(path);
  if (fsync_) fsync_dir(dir_ / "messages");
}

void Journal::append(TransactionRecord& rec, MessageSpool* spool, bool load_message) {
  if (rec.data_complete && !rec.too_large && spool) {
    store_spooled(rec, *spool, load_message);
  } else if (rec.data_complete && !rec.too_large) {
    rec.size = rec.message.size();
    rec.sha256 = base::sha256_hex(rec.message);
    if (store_ == MessageStore::files) store_message(dir_, rec, fsync_, file_mode_);
  } else {
    rec.sha256.clear();
  }
  const std::lock_guard lock(mutex_);
  rec.seq = seq_ + 1;
  line_.clear();  // keeps its capacity from record to record
  journal::append_json_line(rec, store_ == MessageStore::inline_bytes, line_);
  line_.push_back('\n');
  if (spool && !load_message) rec.message.clear();  // read back only for the line
  write_all(fd_, line_, [this] { return journal_path(); });
  // Keep the buffer for typical records, not the last large message's worth.
  if (line_.capacity() > kKeepLineCapacity) line_ = std::string();
  if (fsync_ && !group_commit_) {
    if (datasync_(fd_) != 0) fail("cannot fsync", journal_path());
    synced_ = seq_ + 1;
  }
  ++seq_;
}

}  // namespace dropcheck::fake_smtp

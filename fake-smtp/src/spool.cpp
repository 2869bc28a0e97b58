#include "fake_smtp/spool.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace dropcheck::fake_smtp {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& p) {
  const int e = errno;
  const std::string text = "journal: " + what + " " + p.string() + ": " + std::strerror(e);
  if (e == EMFILE || e == ENFILE) throw JournalBusy(text);
  throw std::runtime_error(text);
}

}  // namespace

std::filesystem::path spool_dir(const std::filesystem::path& journal_dir) {
  return journal_dir / "spool";
}

MessageSpool::MessageSpool(const std::filesystem::path& dir, unsigned mode) {
  static std::atomic<unsigned long> counter{0};  // unique among threads of this process
  path_ = dir / fmt::format("{}-{}.eml", ::getpid(), ++counter);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd_ < 0) fail("cannot create", path_);
}

MessageSpool::~MessageSpool() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
}

void MessageSpool::write(std::string_view piece) {
  sha_.update(piece);
  size_ += piece.size();
  while (!piece.empty()) {
    const ssize_t n = ::write(fd_, piece.data(), piece.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path_);
    }
    piece.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string MessageSpool::read_all() const {
  std::string out(size_, '\0');
  std::size_t got = 0;
  while (got < size_) {
    const ssize_t n = ::pread(fd_, out.data() + got, size_ - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot read back", path_);
    got += static_cast<std::size_t>(n);
  }
  return out;
}

void MessageSpool::sync() const {
  if (::fsync(fd_) != 0) fail("cannot fsync", path_);
}

void MessageSpool::commit(const std::filesystem::path& to) {
  if (::rename(path_.c_str(), to.c_str()) != 0) fail("cannot rename to", to);
  committed_ = true;
}

}  // namespace dropcheck::fake_smtp

#pragma once
// A message on its way into the journal. fake-smtp streams DATA/BDAT here as it arrives instead
// of holding the message in memory: a temporary file in DIR/spool/ (created 0600 or the
// journal's file mode), its size and SHA-256 computed on the way. Journal::append(rec, &spool)
// stores it (renamed into DIR/messages/, or copied into the record inline); a spool dropped
// unused (an aborted transaction) removes its file.
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/strings.hpp"

namespace dropcheck::fake_smtp {

// Storing failed for want of a resource that comes back (EMFILE, ENFILE: out of descriptors):
// the transaction is answered with a 4xx, the server goes on. Other I/O failures are fatal.
struct JournalBusy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class MessageSpool {
 public:
  // Creates a file in `dir`. Throws JournalBusy when out of descriptors, std::runtime_error
  // naming the path on other failures.
  MessageSpool(const std::filesystem::path& dir, unsigned mode);
  ~MessageSpool();
  MessageSpool(const MessageSpool&) = delete;
  MessageSpool& operator=(const MessageSpool&) = delete;

  void write(std::string_view piece);  // throws std::runtime_error naming the path
  std::size_t size() const { return size_; }
  // Once, after the last write().
  std::string sha256_hex() { return sha_.hex(); }
  // The bytes written so far, read back (an inline journal copies them into its record).
  std::string read_all() const;
  void sync() const;
  // Moves the file to `to` (same file system); the spool no longer removes it.
  void commit(const std::filesystem::path& to);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool committed_ = false;
  std::size_t size_ = 0;
  base::Sha256 sha_;
};

// DIR/spool: where spools live; leftovers of a crash are removed when a journal opens.
std::filesystem::path spool_dir(const std::filesystem::path& journal_dir);

}  // namespace dropcheck::fake_smtp

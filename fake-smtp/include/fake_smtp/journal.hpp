#pragma once
// fake-smtp's journal writer: appends journal/'s records (journal/records.hpp: the record
// types, one description from which the line writer and the readers derive) to DIR. Message
// bytes go inline (the default: record and bytes are one write(2) of one line, so a crash can
// only tear the last line, which the reader detects), or as files DIR/messages/<sha256>.eml
// (written to a temporary name and renamed before the record that names it is appended).
#include <unistd.h>  // fdatasync

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fake_smtp/spool.hpp"
#include "journal/codec.hpp"
#include "journal/reader.hpp"
#include "journal/records.hpp"

namespace dropcheck::fake_smtp {

// The records and readers are journal/'s; fake-smtp's code and tests name them here too.
using journal::CommandRecord;
using journal::from_json_line;
using journal::journal_file;
using journal::JournalContents;
using journal::kJournalFileMode;
using journal::kJournalVersion;
using journal::message_file;
using journal::parse_journal;
using journal::parse_sessions;
using journal::RcptRecord;
using journal::read_journal;
using journal::read_journal_contents;
using journal::read_sessions;
using journal::session_from_json_line;
using journal::SessionContents;
using journal::SessionRecord;
using journal::sessions_file;
using journal::to_json_line;
using journal::TransactionRecord;

enum class MessageStore { inline_bytes, files };

class Journal {
 public:
  // Creates DIR and DIR/messages if needed and opens DIR/journal.jsonl for appending. An
  // existing journal is continued (seq goes on); a torn last line (a crash mid-write, the
  // reply was never sent) is cut off and reported by recovered_torn_bytes(). Throws
  // std::runtime_error naming the path on any I/O failure.
  // Files are created with `file_mode` (and an existing journal's files set to it).
  explicit Journal(std::filesystem::path dir, bool fsync = false,
                   MessageStore store = MessageStore::inline_bytes,
                   unsigned file_mode = kJournalFileMode);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Thread-safe (one journal may serve several I/O threads). Assigns rec.seq (and size/sha256 when
  // a complete message is present), writes the message file (MessageStore::files), then the record
  // line. With fsync, both are on disk when append returns (one fdatasync for inline bytes). Throws
  // std::runtime_error naming the path on I/O failure.
  //
  // With a spool (the message streamed to disk as it arrived, rec.message empty) the message is
  // the spool's: files are renamed into DIR/messages/, inline bytes are read back for the
  // record (one message at a time per thread). load_message: rec.message holds the bytes
  // afterwards in either store. Throws JournalBusy (a std::runtime_error) when out of
  // descriptors: nothing is recorded, the caller answers 4xx and goes on.
  void append(TransactionRecord& rec, MessageSpool* spool = nullptr, bool load_message = false);
  // A spool for a message about to arrive. Throws JournalBusy when out of descriptors.
  std::unique_ptr<MessageSpool> open_spool() const;
  // Assigns rec.seq and appends the session's line to DIR/sessions.jsonl. Never synced on
  // its own (no reply waits for it; a second fdatasync per transaction would halve --fsync
  // throughput): with fsync it is synced when the journal is closed.
  void append_session(SessionRecord& rec);

  // Group commit (with fsync): append() no longer syncs; the caller holds each reply until
  // synced() >= the record's seq, calling sync() (one fdatasync for every record appended so
  // far, from any thread). fake-smtp --fsync uses it so concurrent sessions share syncs.
  void set_group_commit(bool on) { group_commit_ = on; }
  bool group_commit() const { return group_commit_ && fsync_; }
  void sync();
  std::uint64_t synced() const { return synced_.load(); }
  // The call that makes the journal durable, ::fdatasync by default. A fault hook: tests make
  // it fail (EIO) to check that no reply promises a record that is not on disk.
  using DatasyncFn = int (*)(int fd);
  void set_datasync(DatasyncFn fn) { datasync_ = fn; }

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path journal_path() const;
  std::uint64_t records() const { return seq_.load(); }
  std::uint64_t session_records() const { return session_seq_.load(); }
  std::size_t recovered_torn_bytes() const { return torn_bytes_; }  // both files

 private:
  std::filesystem::path dir_;
  void store_spooled(TransactionRecord& rec, MessageSpool& spool, bool load_message);

  bool fsync_;
  MessageStore store_;
  unsigned file_mode_;
  int fd_ = -1;
  std::string line_;  // reused output buffer
  std::mutex mutex_;  // append
  std::atomic<std::uint64_t> seq_ = 0;
  int session_fd_ = -1;
  std::atomic<std::uint64_t> session_seq_ = 0;
  bool group_commit_ = false;
  std::mutex sync_mutex_;  // sync
  std::atomic<std::uint64_t> synced_ = 0;
  DatasyncFn datasync_ = &::fdatasync;
  std::size_t torn_bytes_ = 0;
};

}  // namespace dropcheck::fake_smtp

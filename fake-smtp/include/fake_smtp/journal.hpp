#pragma once
// The journal: one JSON Lines record per SMTP transaction (journal.jsonl in DIR), including
// transactions that never reached DATA (all recipients refused: the evidence of relay attempts).
// Message bytes are stored
//   - inline (the default): in the record's "message" field, a JSON string when the bytes are
//     valid UTF-8, else {"base64": "..."}. Record and bytes are one write(2) of one line, so a
//     crash can only tear the last line, which the reader detects;
//   - or as files: DIR/messages/<sha256>.eml (written to a temporary name and renamed before
//     the record that names it is appended), for opening copies in a mail program.
// Either way the record carries size and SHA-256, which the reader checks. Other strings that
// are not valid UTF-8 (8-bit addresses, raw command lines) are stored as {"hex": "..."}.
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

#include "base/result.hpp"
#include "fake_smtp/spool.hpp"

namespace dropcheck::fake_smtp {

inline constexpr int kJournalVersion = 1;
// Journal files (records, sessions, messages, spools): the messages and commands of other
// people, so readable by the owner only unless asked otherwise (fake-smtp --journal-mode).
inline constexpr unsigned kJournalFileMode = 0600;

struct CommandRecord {
  std::int64_t virtual_ms = 0;
  std::int64_t real_ms = 0;
  std::string line;  // without line ending; AUTH arguments redacted
  int code = 0;
};

struct RcptRecord {
  std::string address;  // forward-path without <>
  std::string params;   // NOTIFY=, ORCPT= as written
  int code = 0;
  std::string reply;     // reply text (lines joined by " / ")
  bool local = false;    // the domain is a local domain
  bool relayed = false;  // accepted for a non-local domain (open relay): would leave the site
  std::string mailbox;   // accepted: the mailbox it reaches (the catch-all for unknown users)
  // LMTP (RFC 2033): the per-recipient reply after the message; 0 when not applicable.
  int data_code = 0;
  std::string data_reply;
};

struct TransactionRecord {
  int version = kJournalVersion;
  std::uint64_t seq = 0;  // 1, 2, ... in the journal (assigned by Journal::append)
  std::string session_id;
  std::int64_t virtual_ms = 0;  // the MAIL command, scenario clock
  std::int64_t real_ms = 0;     // the MAIL command, system clock (Unix ms)
  std::string client;           // "127.0.0.1:40000"
  bool tls = false;
  bool lmtp = false;
  std::string helo_verb;  // HELO / EHLO / LHLO
  std::string helo;
  bool mail_from_null = false;  // MAIL FROM:<>
  std::string mail_from;        // reverse-path without <>
  std::string mail_params;      // SIZE=, BODY=, SMTPUTF8, RET=, ENVID= as written
  int mail_code = 0;
  std::string mail_reply;
  bool smtputf8 = false;
  std::string body_type;          // "7BIT", "8BITMIME", "" when not given
  std::vector<RcptRecord> rcpts;  // every RCPT command, in order
  bool data_attempted = false;    // DATA or BDAT was sent
  bool bdat = false;
  int data_start_code = 0;     // 354, or the refusal of DATA (554 no valid recipients ...)
  bool data_complete = false;  // the whole message was received
  int data_code = 0;           // reply after the message (LMTP: the first recipient's)
  std::string data_reply;
  bool accepted = false;  // some recipient got the message (positive final reply)
  std::int64_t data_end_virtual_ms = 0;
  std::int64_t data_end_real_ms = 0;
  std::size_t size = 0;  // message octets (as received, stuffing removed)
  std::string sha256;    // of the message; empty when no complete message was stored
  std::string message;   // the bytes (read_journal loads them, inline or from the file)
  bool message_inline = false;  // read from the record itself (MessageStore::inline_bytes)
  bool too_large = false;
  bool bare_lf_in_data = false;  // deviations, recorded not normalised
  bool bare_lf_in_commands = false;
  bool relayed_out = false;         // accepted for a non-local recipient (open relay mode)
  std::string end_reason;           // "data", "rset", "quit", "mail", "helo", "peer-closed", ...
  std::vector<std::string> faults;  // injected faults that fired
  std::vector<CommandRecord> commands;  // MAIL .. end
};

// One record per connection, written when it ends (DIR/sessions.jsonl): the greeting, what
// happened outside transactions (EHLO, STARTTLS, NOOP, garbage, QUIT; the first
// protocol::kSmtpMaxSessionCommands of them) and the totals. Connections that never sent MAIL
// (a refused greeting, a client that only says EHLO and QUIT) are visible only here.
struct SessionRecord {
  int version = kJournalVersion;
  std::uint64_t seq = 0;  // 1, 2, ... in sessions.jsonl
  std::string session_id;
  std::string client;
  bool tls = false;  // TLS at the end (STARTTLS done, or implicit)
  bool lmtp = false;
  std::int64_t connected_virtual_ms = 0;
  std::int64_t connected_real_ms = 0;
  std::int64_t ended_virtual_ms = 0;
  std::int64_t ended_real_ms = 0;
  int greeting_code = 0;
  std::string helo_verb;  // the last HELO/EHLO/LHLO
  std::string helo;
  std::string end_reason;  // "closed" (after QUIT), "peer-closed", "timeout", "shutdown", ...
  std::size_t transactions = 0;
  std::size_t messages = 0;
  std::size_t rcpts_accepted = 0;
  std::size_t rcpts_refused = 0;
  std::size_t errors = 0;
  std::size_t bare_lf = 0;
  std::vector<CommandRecord> commands;  // outside transactions
  std::size_t commands_dropped = 0;     // beyond the kept ones
  std::vector<std::string> faults;      // session-level faults (connect-421, delay-greeting-...)
};

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

  // Thread-safe (one journal may serve several I/O threads). Assigns rec.seq (and size/sha256 when a complete message is present), writes the message
  // file (MessageStore::files), then the record line. With fsync, both are on disk when append
  // returns (one fdatasync for inline bytes). Throws
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

std::filesystem::path journal_file(const std::filesystem::path& dir);
std::filesystem::path sessions_file(const std::filesystem::path& dir);
std::filesystem::path message_file(const std::filesystem::path& dir, const std::string& sha256);

// One record as its JSON line (no newline) and back. With inline_message the bytes are in the
// line ("message"); from_json_line fills rec.message from such a field.
std::string to_json_line(const TransactionRecord& rec, bool inline_message = false);
base::Result<TransactionRecord> from_json_line(std::string_view line);
std::string to_json_line(const SessionRecord& rec);
base::Result<SessionRecord> session_from_json_line(std::string_view line);

struct JournalContents {
  std::vector<TransactionRecord> records;
  bool torn_tail = false;  // the file ends in an incomplete line (not returned as a record)
  std::size_t torn_bytes = 0;
};

// Reads every record and (with load_messages) its message bytes, inline or from the message
// file, checking size and SHA-256.
// Errors: "journal-missing", "journal-io", "journal-bad-line" (names the line number),
// "message-missing", "message-corrupt". A torn last line is not an error here: torn_tail.
base::Result<JournalContents> read_journal_contents(const std::filesystem::path& dir,
                                                    bool load_messages = true);
struct SessionContents {
  std::vector<SessionRecord> records;
  bool torn_tail = false;
  std::size_t torn_bytes = 0;
};
// DIR/sessions.jsonl; a journal without it (older, or no session ended yet) has none.
// Errors: "journal-io", "journal-bad-line" (names the line number).
base::Result<SessionContents> read_sessions(const std::filesystem::path& dir);

// The same from the text of a journal.jsonl or sessions.jsonl (`source` names it in errors):
// what the two readers above do once the file is read, except that a message stored as a
// file is not loaded (an inline one is checked). Total on any text (the fuzz targets' entry).
base::Result<JournalContents> parse_journal(std::string_view text, std::string_view source);
base::Result<SessionContents> parse_sessions(std::string_view text, std::string_view source);

// As above, but a torn last line is the error "journal-torn" (never misread as a record).
base::Result<std::vector<TransactionRecord>> read_journal(const std::filesystem::path& dir);

}  // namespace dropcheck::fake_smtp

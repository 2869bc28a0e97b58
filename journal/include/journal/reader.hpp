#pragma once
// Reading a journal directory: DIR/journal.jsonl (transactions, with their messages inline or
// in DIR/messages/) and DIR/sessions.jsonl. The streaming readers hold one line at a time, so
// memory is bounded by the longest record, not the journal; the collecting readers are built
// on them.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "journal/codec.hpp"
#include "journal/records.hpp"

namespace dropcheck::journal {

struct Tail {
  bool torn_tail = false;  // the file ends in an incomplete line (not returned as a record)
  std::size_t torn_bytes = 0;
};

// Every record of DIR/journal.jsonl in order, one at a time, handed to `each` (which may move
// from it), with (load_messages) its message bytes, inline or from the message file, checked
// against size and SHA-256; `fields` says which members are stored. Stops at the first error.
// Errors: "journal-missing", "journal-io", "journal-bad-line" (names the line number),
// "message-missing", "message-corrupt". A torn last line is not an error here: see Tail.
using TransactionSink = std::function<void(TransactionRecord&)>;
base::Result<Tail> for_each_transaction(const std::filesystem::path& dir, bool load_messages,
                                        const TransactionSink& each, Fields fields = Fields::all);
// The same over the text of a journal.jsonl (`source` names it in errors); a message stored as
// a file is not loaded (an inline one is checked). Total on any text.
base::Result<Tail> for_each_transaction_in(std::string_view text, std::string_view source,
                                           const TransactionSink& each);

struct JournalContents {
  std::vector<TransactionRecord> records;
  bool torn_tail = false;
  std::size_t torn_bytes = 0;
};
struct SessionContents {
  std::vector<SessionRecord> records;
  bool torn_tail = false;
  std::size_t torn_bytes = 0;
};

// All records at once (for small journals: tests, the web view, the runner's fault events).
base::Result<JournalContents> read_journal_contents(const std::filesystem::path& dir,
                                                    bool load_messages = true);
// DIR/sessions.jsonl; a journal without it (older, or no session ended yet) has none.
// Errors: "journal-io", "journal-bad-line" (names the line number).
base::Result<SessionContents> read_sessions(const std::filesystem::path& dir);

// From the text of a journal.jsonl or sessions.jsonl (the fuzz targets' entry).
base::Result<JournalContents> parse_journal(std::string_view text, std::string_view source);
base::Result<SessionContents> parse_sessions(std::string_view text, std::string_view source);

// As read_journal_contents, but a torn last line is the error "journal-torn" (never misread as
// a record).
base::Result<std::vector<TransactionRecord>> read_journal(const std::filesystem::path& dir);

}  // namespace dropcheck::journal

#pragma once
// One record as its JSON line (no newline) and back, both derived from journal/fields.hpp.
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "journal/records.hpp"

namespace dropcheck::journal {

// With inline_message (and a stored message: sha256 not empty) the bytes are in the line
// ("message"). Appends to `out` (a buffer reused from record to record).
void append_json_line(const TransactionRecord& rec, bool inline_message, std::string& out);
std::string to_json_line(const TransactionRecord& rec, bool inline_message = false);
std::string to_json_line(const SessionRecord& rec);

// Which members a reader stores: all, or (analysis) what analyzer::delivery_of reads; the
// others (reply texts, HELO, client, faults, ...) are checked as always but left empty.
enum class Fields { all, analysis };

// Total on any text. Errors: "journal-version" (a version this reader does not know),
// "journal-bad-line". from_json_line fills rec.message from an inline "message" field (not
// checked against size and SHA-256 here: the readers do that).
// A line in the writer's exact form is read without a JSON tree (journal/src/line_scanner.hpp);
// any other line through a nlohmann tree, which decides what it means and every error.
base::Result<TransactionRecord> from_json_line(std::string_view line, Fields fields = Fields::all);
base::Result<SessionRecord> session_from_json_line(std::string_view line);
// Always through the tree: the reference the fast path is tested against.
base::Result<TransactionRecord> from_json_line_tree(std::string_view line);
base::Result<SessionRecord> session_from_json_line_tree(std::string_view line);

}  // namespace dropcheck::journal

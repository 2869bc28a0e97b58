#pragma once
// The journal's records: one JSON Lines record per SMTP transaction (DIR/journal.jsonl),
// including transactions that never reached DATA (all recipients refused: the evidence of relay
// attempts), and one per connection (DIR/sessions.jsonl). Their fields are described once
// (journal/fields.hpp); the writer and the reader are both derived from that description.
// Message bytes are stored
//   - inline: in the record's "message" field, a JSON string when the bytes are valid UTF-8,
//     else {"base64": "..."};
//   - or as files: DIR/messages/<sha256>.eml.
// Either way the record carries size and SHA-256, which the reader checks. Other strings that
// are not valid UTF-8 (8-bit addresses, raw command lines) are stored as {"hex": "..."}.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dropcheck::journal {

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
  std::uint64_t seq = 0;  // 1, 2, ... in the journal (assigned by the writer)
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
  std::size_t size = 0;         // message octets (as received, stuffing removed)
  std::string sha256;           // of the message; empty when no complete message was stored
  std::string message;          // the bytes (the readers load them, inline or from the file)
  bool message_inline = false;  // read from the record itself
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

std::filesystem::path journal_file(const std::filesystem::path& dir);
std::filesystem::path sessions_file(const std::filesystem::path& dir);
std::filesystem::path message_file(const std::filesystem::path& dir, const std::string& sha256);

}  // namespace dropcheck::journal

#pragma once
// Sans-I/O SMTP (RFC 5321) and LMTP (RFC 2033) server state machine, OpenSMTPD style: an explicit
// state enum and a command table {verb, allowed states, handler}. Bytes in, reply bytes out; the
// policy (who may send, who may receive, what happens to a message) lives behind SmtpHandler, so
// one state machine serves fake-smtp and the fake provider's MX intake.
//
// Extensions: PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES
// (RFC 2034/3463), SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461, recorded, never acted on),
// CHUNKING/BDAT (RFC 3030), STARTTLS (RFC 3207; the handshake is done by the I/O layer).
//
// Bare-LF policy (stated, see STYLE.md "record deviations"): a bare LF ends a command line (as
// Postfix with smtpd_forbid_bare_newline=no), but DATA ends only on "<CRLF>.<CRLF>": "<LF>.<LF>",
// "<CRLF>.<LF>" and "<LF>.<CRLF>" are message content (SMTP smuggling: a receiver that ends DATA
// on them lets a second, forged message through after them). Every bare LF is recorded
// (SmtpTransaction::bare_lf_*), never normalised away: the message bytes handed on keep their
// original line endings. `reject_bare_lf` answers "521 5.5.2" and closes at the first bare LF,
// in a command or in DATA (Postfix smtpd_forbid_bare_newline=yes).
//
// Memory: a command line is bounded by max_line, a partial DATA line by kDotMaxPendingLine, a
// message by max_message; a handler that streams (SmtpHandler::streams_message) receives the
// message in pieces of at most kSmtpDataSlice octets and the session keeps none of it.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/dot.hpp"
#include "protocol/smtp_reply.hpp"

namespace dropcheck::protocol {

// RFC 5321 4.5.3.1.6: a text line, CRLF included, is at most 1000 octets; we apply the same
// bound to command lines (4.5.3.1.4 says 512, but SIZE/DSN/SMTPUTF8 parameters extend them,
// 4.5.3.1.4 last paragraph; Postfix uses 2048).
inline constexpr std::size_t kSmtpMaxLine = 1000;
// RFC 5321 4.5.3.1.8: at least 100 recipients per transaction must be buffered.
inline constexpr std::size_t kSmtpMinRcpts = 100;
// Postfix smtpd_hard_error_limit default: protocol errors tolerated before "421 too many errors".
inline constexpr std::size_t kSmtpMaxErrors = 20;
// Input for DATA is fed to the decoder in slices this big: the size check runs after each one,
// and a streaming handler gets the message in pieces of at most this size.
inline constexpr std::size_t kSmtpDataSlice = 64 * 1024;
// Commands outside transactions (EHLO, STARTTLS, NOOP, garbage, QUIT, ...) kept per session
// for the session's record; later ones are only counted (a NOOP flood stays bounded).
inline constexpr std::size_t kSmtpMaxSessionCommands = 100;

struct SmtpServerConfig {
  std::string hostname = "localhost";
  std::string greeting_text = "ESMTP dropcheck";
  bool lmtp = false;                           // LHLO instead of HELO/EHLO, per-recipient replies
  bool starttls_available = false;             // advertise STARTTLS (the I/O layer must support it)
  std::size_t max_line = kSmtpMaxLine;         // command line incl. CRLF; longer -> 500 5.5.2
  std::size_t max_message = 32 * 1024 * 1024;  // SIZE limit; larger -> 552 5.3.4
  std::size_t max_rcpts = kSmtpMinRcpts;       // accepted RCPTs per transaction; more -> 452 4.5.3
  std::size_t max_errors = kSmtpMaxErrors;     // protocol errors per session; then 421 and close
  // Extensions offered in the EHLO/LHLO reply (parameters of an extension not offered -> 555).
  bool pipelining = true;
  bool eightbitmime = true;
  bool smtputf8 = true;
  bool dsn = true;
  bool chunking = true;
  bool enhanced_status_codes = true;  // false: "x.y.z " prefixes are stripped from every reply
  bool reject_bare_lf = false;        // see the bare-LF policy above
};

enum class SmtpState {
  refused,      // greeting was not 220: only QUIT is accepted (RFC 5321 3.1)
  connected,    // greeting sent, waiting for HELO/EHLO/LHLO
  ready,        // greeted, no transaction
  mail,         // MAIL accepted, no recipient yet
  rcpt,         // at least one recipient accepted
  data,         // reading a dot-terminated message
  bdat,         // reading the octets of a BDAT chunk
  tls_pending,  // 220 to STARTTLS written, waiting for the handshake
  closed,       // QUIT, 421 or an I/O layer finish(): nothing more is read
};
std::string_view to_string(SmtpState s);

// Times as the handler sees them (virtual from the scenario clock, real from the system).
struct SmtpTimestamp {
  std::int64_t virtual_ms = 0;
  std::int64_t real_ms = 0;
};

// One command line and the reply it got. AUTH arguments are never recorded.
struct SmtpCommandRecord {
  SmtpTimestamp at;
  std::string line;  // without the line ending, at most max_line octets
  int code = 0;      // reply code; 0 when the command got no reply (BDAT chunk in progress)
};

struct SmtpRcptResult {
  std::string forward_path;  // without <>
  std::string params;        // as written
  SmtpReply reply;
};

// Everything that happened from a MAIL command to the end of that transaction, including
// transactions that never reached DATA (refused recipients: the evidence of relay attempts).
struct SmtpTransaction {
  std::string helo_verb;  // "HELO", "EHLO", "LHLO"
  std::string helo;       // its argument
  bool tls = false;
  SmtpTimestamp started;  // the MAIL command

  std::string reverse_path;  // without <>, empty for the null sender
  bool null_sender = false;  // MAIL FROM:<> (parsed); false when MAIL had a syntax error
  std::string mail_params;   // as written
  SmtpReply mail_reply;
  bool smtputf8 = false;              // SMTPUTF8 parameter given
  std::string body_type;              // BODY= value upper-cased, empty when not given
  std::vector<SmtpRcptResult> rcpts;  // every RCPT in order, accepted or not

  bool data_attempted = false;          // DATA or BDAT was sent
  bool bdat = false;                    // the message came by BDAT (RFC 3030)
  SmtpReply data_start_reply;           // 354 to DATA, or the error; code 0 for BDAT
  bool data_complete = false;           // the message was received up to its end
  std::vector<SmtpReply> data_replies;  // SMTP: one; LMTP: one per accepted recipient, in order
  SmtpTimestamp data_end;
  std::string message;  // the message bytes as received (stuffing removed); empty when streamed
  std::size_t message_size = 0;    // octets of the message (stuffing removed), streamed or not
  std::size_t message_octets = 0;  // octets received (also when discarded as too large)
  bool too_large = false;          // exceeded max_message; the bytes were discarded
  bool bare_lf_in_data = false;    // a DATA line ended in LF without CR
  bool bare_lf_in_commands = false;

  std::vector<SmtpCommandRecord> commands;  // MAIL .. end, with the reply codes
  // Why the transaction ended: "data" (message answered), "rset", "mail" (a new MAIL),
  // "helo", "quit", "too-many-errors", or the I/O layer's finish() reason ("peer-closed", ...).
  std::string end_reason;

  std::size_t accepted_rcpts() const;
  // At least one positive reply to the message.
  bool accepted() const;
};

struct SmtpSessionStats {
  std::size_t commands = 0;
  std::size_t errors = 0;        // protocol errors (counted against max_errors)
  std::size_t transactions = 0;  // MAIL commands
  std::size_t messages = 0;      // messages answered positively
  std::size_t rcpts_accepted = 0;
  std::size_t rcpts_refused = 0;
  std::size_t bare_lf = 0;                   // lines (command or DATA) ending in a bare LF
  std::size_t discarded_after_starttls = 0;  // octets pipelined after STARTTLS (RFC 3207 4.2)
  bool tls = false;
};

// The policy. Replies with code 0 mean "the default" where documented.
class SmtpHandler {
 public:
  virtual ~SmtpHandler() = default;
  virtual SmtpTimestamp now() const { return {}; }
  // Greeting: code 0 -> "220 <hostname> <greeting_text>". 421 closes after sending it; any
  // other non-220 code refuses service until QUIT (RFC 5321 3.1).
  virtual SmtpReply on_connect() { return {}; }
  // reverse_path without <>, "" for the null sender.
  virtual SmtpReply on_mail(std::string_view reverse_path, std::string_view params) = 0;
  virtual SmtpReply on_rcpt(std::string_view forward_path, std::string_view params) = 0;
  // Before "354": code 0 -> proceed; anything else is the reply to DATA/BDAT (faults).
  virtual SmtpReply on_data_start() { return {}; }
  // The complete message for the accepted recipients: exactly those RCPTs that on_rcpt()
  // answered positively since the last on_mail() (the session never overrides a positive
  // handler reply; its own refusals -- syntax, limits -- happen before on_rcpt is called).
  // SMTP: one reply; LMTP: one reply per accepted recipient in RCPT order (RFC 2033 4.2). A
  // shorter vector is padded with its last reply; an empty one means "451 4.3.0".
  virtual std::vector<SmtpReply> on_data(std::string_view message) = 0;
  // Streaming: when true (asked at each MAIL), the message goes to on_message_bytes() in pieces
  // as it arrives (stuffing removed, at most kSmtpDataSlice octets each) and the session keeps
  // none of it: on_data() gets an empty view and SmtpTransaction::message stays empty. Pieces
  // stop once the message exceeds max_message (the transaction is then too_large).
  virtual bool streams_message() const { return false; }
  virtual void on_message_bytes(std::string_view /*piece*/) {}
  // Every transaction, once, when it ends (also aborted ones). Called before the reply that
  // ends it is handed to the I/O layer, so a journal written here precedes the reply. The
  // session discards txn afterwards: the handler may move from it (the message bytes).
  virtual void on_transaction_end(SmtpTransaction&& txn) = 0;
  // Once, from finish() (the I/O layer calls it for every connection, also after QUIT).
  virtual void on_session_end(const SmtpSessionStats& /*stats*/, std::string_view /*reason*/) {}
};

// "250 2.1.0 Ok" style reply: one line of text.
SmtpReply smtp_reply(int code, std::string_view text);

class SmtpServerSession {
 public:
  SmtpServerSession(SmtpServerConfig config, SmtpHandler& handler);

  // The greeting to send first (asks the handler, see SmtpHandler::on_connect).
  std::string greeting();
  // Feed received bytes in any split; replies are appended to `out` (several when pipelined).
  void receive(std::string_view in, std::string& out);
  // After `out` is written: close the connection.
  bool closing() const { return state_ == SmtpState::closed; }
  // After `out` is written: do the server TLS handshake. True once per STARTTLS.
  bool take_tls_request();
  // Handshake done: the session restarts at "connected" (RFC 3207 4.2: forget everything).
  void on_tls_started();
  // The connection ends for `reason` ("peer-closed", "timeout", "shutdown", ...): ends an open
  // transaction with that reason. Returns bytes to try to send (421 on timeout/shutdown).
  std::string finish(std::string_view reason);

  SmtpState state() const { return state_; }
  const SmtpSessionStats& stats() const { return stats_; }
  // The session outside its transactions: when the greeting was sent and its code, the last
  // HELO/EHLO/LHLO, and the commands (at most kSmtpMaxSessionCommands, then only counted).
  SmtpTimestamp connected_at() const { return connected_at_; }
  int greeting_code() const { return greeting_code_; }
  const std::string& helo_verb() const { return helo_verb_; }
  const std::string& helo() const { return helo_; }
  const std::deque<SmtpCommandRecord>& session_commands() const { return session_commands_; }
  std::size_t session_commands_dropped() const { return session_commands_dropped_; }
  const SmtpServerConfig& config() const { return config_; }
  // Octets of the current DATA/BDAT message received so far (for faults in the I/O adapter).
  std::size_t data_octets() const;
  // For deadlines in the I/O adapter: part of a command line has arrived (not yet its end);
  // a transaction is open (from MAIL to the end of its message).
  bool partial_command() const { return !line_.empty(); }
  bool in_transaction() const { return txn_open_; }

 private:
  using Handler = void (SmtpServerSession::*)(std::string_view args, std::string& out);
  struct Command {
    std::string_view verb;
    unsigned states;  // bit mask of SmtpState
    Handler handler;
  };
  static const Command kCommands[];

  // A piece of a command line (up to its LF, if any): kept while within max_line.
  void append_line(std::string_view part);
  // A complete command line; too_long: longer than max_line, `line` holds its first octets.
  void process_line(std::string_view line, bool bare_lf, bool too_long, std::string& out);
  void cmd_helo(std::string_view args, std::string& out);
  void cmd_ehlo(std::string_view args, std::string& out);
  void cmd_lhlo(std::string_view args, std::string& out);
  void cmd_mail(std::string_view args, std::string& out);
  void cmd_rcpt(std::string_view args, std::string& out);
  void cmd_data(std::string_view args, std::string& out);
  void cmd_bdat(std::string_view args, std::string& out);
  void cmd_rset(std::string_view args, std::string& out);
  void cmd_noop(std::string_view args, std::string& out);
  void cmd_quit(std::string_view args, std::string& out);
  void cmd_vrfy(std::string_view args, std::string& out);
  void cmd_expn(std::string_view args, std::string& out);
  void cmd_help(std::string_view args, std::string& out);
  void cmd_starttls(std::string_view args, std::string& out);
  void cmd_auth(std::string_view args, std::string& out);

  void greet(std::string_view verb, std::string_view args, bool extended, std::string& out);
  void feed_data(std::string_view& in, std::string& out);
  void feed_bdat(std::string_view& in, std::string& out);
  void take_decoded();
  void refuse_bare_lf(std::string& out);
  void finish_message(std::string& out);
  void end_transaction(std::string_view reason);
  void format(const SmtpReply& r, std::string& out) const;  // with or without enhanced codes
  void open_transaction();
  // Writes `r` (stripping enhanced codes if disabled), records its code on the last command.
  void reply(const SmtpReply& r, std::string& out);
  void reply(int code, std::string_view text, std::string& out);
  // A protocol error: counts against max_errors; over budget -> 421 and close.
  void error(int code, std::string_view text, std::string& out);
  void record_command(std::string_view line);
  // The line as recorded: AUTH arguments and SASL responses never reach a record; of AUTH,
  // only a mechanism name (RFC 4422 3.1: at most 20 octets) is kept.
  std::string redact(std::string_view line);

  SmtpServerConfig config_;
  SmtpHandler& handler_;
  SmtpState state_ = SmtpState::connected;
  SmtpSessionStats stats_;
  bool tls_ = false;
  bool tls_requested_ = false;
  bool session_ended_ = false;
  std::string helo_verb_;
  std::string helo_;

  // Command line assembly.
  std::string line_;
  bool line_too_long_ = false;
  bool line_cr_ = false;  // the last octet of the line so far was CR

  // The open transaction (from MAIL to its end), if any.
  bool txn_open_ = false;
  bool mail_ok_ = false;  // the MAIL of the open transaction was accepted
  SmtpTransaction txn_;
  SmtpCommandRecord* last_command_ = nullptr;       // where reply() records the code
  SmtpCommandRecord scratch_command_;               // a reply tied to no recorded command
  std::deque<SmtpCommandRecord> session_commands_;  // outside transactions (stable addresses)
  std::size_t session_commands_dropped_ = 0;
  bool sasl_pending_ = false;  // after AUTH: lines that are no command are SASL responses
  SmtpTimestamp connected_at_;
  int greeting_code_ = 0;

  // DATA: only "<CRLF>.<CRLF>" ends it (see the bare-LF policy above).
  DotDecoder decoder_{DotDecoder::Terminator::crlf_only};
  bool streaming_ = false;  // handler_.streams_message() for the open transaction
  // BDAT
  std::size_t bdat_remaining_ = 0;
  std::size_t bdat_chunk_ = 0;
  bool bdat_last_ = false;
  bool bdat_failed_ = false;  // an earlier chunk failed: consume, answer, and drop
  std::string bdat_body_;
};

}  // namespace dropcheck::protocol

#pragma once
// The judge: ground truth (the envelope the world used) + the receiving server's journal ->
// findings. It deliberately does not use mail/ (the parser the fetcher routes on): it checks
// in a simpler, independent way (raw-byte searches, line scans), so it cannot share the
// fetcher's blind spots.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace dropcheck::analyzer {

// What the judge needs of a message's bytes as sent, so that a truth need not hold the bytes
// (load_truth with TruthBytes::summarized). summarize() makes it from TruthMessage::raw.
struct SentSummary {
  // Of the body (after the first empty line), every bare LF made CRLF: copies are compared by it.
  std::array<unsigned char, 32> body_sha256{};
  // Envelope recipients (normalised) in no To/Cc/From/Reply-To/Sender line, and per each how
  // often the message shows it (raw, unfolded header section, decoded encoded-words).
  std::vector<std::string> envelope_only;
  std::vector<std::array<std::size_t, 3>> envelope_only_mentions;
  // The unfolded header lines (as split at LF) that name one of them or hold an encoded-word:
  // the only lines a copy's header line naming one of them can be a part of.
  std::vector<std::string> quoting_lines;
};

struct TruthMessage {
  std::string id;                        // scenario-unique; also stamped as X-Dropcheck-Id
  std::string envelope_from;             // "" = null sender <>
  std::vector<std::string> envelope_to;  // what the provider's MX received
  std::string raw;                       // the message as the world sent it (no Bcc line)
  std::int64_t injected_ms = 0;          // virtual time it reached the provider
  // Byte-identical copies (a resend) carry one X-Dropcheck-Id, this tag ("" = the id). They
  // are judged as a group: a recipient reached by any of them is not lost, and the group may
  // bring each recipient as many copies as it has members.
  std::string tag;
};

SentSummary summarize(const TruthMessage& m);

class SentMessages;  // analyzer/src/sent_messages.hpp

// What the provider saw of one POP3 session (from fake-pop3's session log).
struct Pop3SessionFact {
  std::uint64_t id = 0;
  std::int64_t started_ms = 0;  // virtual clock
  bool tls = false;
  bool cleartext_while_stls = false;   // a password went in clear although STLS was offered
  std::string auth_result;             // "ok", "login-delay", "in-use", "bad-credentials", ""
  std::vector<std::string> retrieved;  // UIDLs RETR'd
  std::vector<std::string> deleted;    // TruthMessage ids deleted (DELE, then QUIT committed)
  std::string user;                    // the POP3 account it logged in to or tried ("": unknown)
  // Whether the fetcher under test reported (alert, exit status) this session's refused login;
  // the runner fills it. Only read when auth_result is "bad-credentials".
  bool reported = true;
};

struct Truth {
  std::string scenario;
  std::vector<std::string> local_domains;
  std::vector<std::string> users;              // empty: any address at a local domain
  std::map<std::string, std::string> aliases;  // address -> mailbox
  std::string fallback;                        // where unknown local users' mail should go
  std::vector<TruthMessage> messages;
  // Set by load_truth(path, TruthBytes::summarized) instead of `messages`: every message as the
  // judge keeps it (id, tag, envelope, SentSummary; no bytes) in a few flat tables. When set,
  // the judge reads it and not `messages`; else it makes it from `messages`.
  std::shared_ptr<const SentMessages> summarized;
  std::int64_t login_delay_ms = 0;             // the provider's LOGIN-DELAY (0: none)
  std::vector<Pop3SessionFact> pop3_sessions;  // in connection order
  std::int64_t end_ms = 0;                     // virtual time the run ended
  std::int64_t interval_ms = 0;                // the fetch interval (stuck-queue judgement)
  // Longest acceptable injection -> delivery time per recipient (virtual clock); a later first
  // accepted copy is `delayed`. 0: no budget.
  std::int64_t latency_budget_ms = 0;
};

// One journal transaction as the analyzer sees it (converted from journal/'s records by
// analyzer/journal_input.hpp).
struct Delivery {
  std::uint64_t seq = 0;
  std::string session;
  std::int64_t virtual_ms = 0;
  std::int64_t real_ms = 0;
  std::string mail_from;  // "" = <>
  struct Rcpt {
    std::string address;
    int code = 0;
  };
  std::vector<Rcpt> rcpts;
  int data_code = 0;                   // 0: no DATA
  std::vector<int> lmtp_codes;         // LMTP: per accepted recipient, in order
  std::string message;                 // bytes as received
  bool relayed_out = false;            // accepted for a foreign domain (open-relay mode)
  std::int64_t data_real_ms = -1;      // real time of the DATA command (-1: unknown)
  std::int64_t data_end_real_ms = -1;  // real time the end of DATA was received
};

// A DATA phase slower than this for a message under kStallSizeLimit is a stall (Nagle +
// delayed ACK costs ~40 ms per message; a healthy loopback transfer takes well under 5 ms).
inline constexpr std::int64_t kStallMs = 30;
inline constexpr std::size_t kStallSizeLimit = 256 * 1024;
inline constexpr std::size_t kStallMinCopies = 3;

struct Finding {
  std::string type;     // lost-message, lost-recipient, duplicate, envelope-header-leak, ...
  std::string message;  // TruthMessage::id ("" when none)
  // The address concerned ("" when none). For login-refused and silent-login-failure: the POP3
  // account (Pop3SessionFact::user).
  std::string recipient;
  std::string evidence;  // header line, journal record, reply...
  std::int64_t journal_seq = -1;
  // lost-recipient: the recipient was in the envelope only (a blind copy, not in To/Cc).
  bool blind_copy = false;
};

// One accepted delivery of a message to a local mailbox: a journal transaction whose RCPT for
// the mailbox (and with LMTP its final reply) was positive and whose DATA was accepted. A
// transaction accepted for three mailboxes is three deliveries.
struct AcceptedDelivery {
  std::string mailbox;  // normalised (lower case, no brackets), as RCPT named it
  std::uint64_t journal_seq = 0;
  std::int64_t virtual_ms = 0;  // end of DATA on the virtual clock
};

// Per message the report lists at most this many deliveries (and counts the rest): a message
// a broken fetcher delivers 10,000 times must not make a report of 10,000 entries per message.
inline constexpr std::size_t kMaxDeliveriesListed = 64;

struct MessageStats {
  std::string id;
  std::int64_t injected_ms = -1;  // virtual time it reached the provider (TruthMessage)
  std::size_t copies = 0;         // accepted deliveries
  std::int64_t latency_ms = -1;   // injection -> first accepted delivery (virtual clock)
  // Per recipient the message was for (local mailbox, after aliases and fallback): injection ->
  // its first accepted copy (virtual clock). Recipients that got none are absent.
  std::map<std::string, std::int64_t> recipient_latency_ms;
  std::int64_t data_ms = -1;  // slowest DATA phase of its copies (real time)
  // Accepted deliveries to local mailboxes, in journal order: the first kMaxDeliveriesListed,
  // then only counted in deliveries_total.
  std::vector<AcceptedDelivery> deliveries;
  std::size_t deliveries_total = 0;
};

struct Report {
  std::string scenario;
  std::vector<Finding> findings;
  std::vector<MessageStats> messages;
  std::size_t transactions = 0;
};

// The known finding types, in report order.
const std::vector<std::string>& finding_types();

// Where Judge::finish(ReportSink&) hands the report, so that no Report of every message need
// exist: the report without its messages (scenario, findings, transactions) first, then each
// message's statistics, in truth order.
class ReportSink {
 public:
  virtual ~ReportSink() = default;
  virtual void head(const Report& report) = 0;  // report.messages is empty
  virtual void message(const MessageStats& m) = 0;
};

namespace detail {
struct Context;
}

// The judge fed one journal transaction at a time, in journal order: what it keeps grows with
// the scenario messages and the findings, not with the journal's bytes (a copy is judged when
// it arrives, then dropped). `truth` must outlive it.
class Judge {
 public:
  explicit Judge(const Truth& truth);
  ~Judge();
  Judge(const Judge&) = delete;
  Judge& operator=(const Judge&) = delete;
  void add(const Delivery& d);
  // Once, after the last add(): the whole report, or the same handed to `sink` a message at a
  // time (each message's state freed as its statistics are handed over).
  Report finish();
  void finish(ReportSink& sink);

 private:
  std::unique_ptr<detail::Context> ctx_;
};

// The same over a journal in memory.
Report analyze(const Truth& truth, const std::vector<Delivery>& journal);

// Truth files (JSON) for offline re-analysis.
// With TruthBytes::summarized the messages go to Truth::summarized as they are read, each with
// its SentSummary instead of its bytes (what the judge needs; such a truth cannot be saved
// again, and its `messages` is empty).
enum class TruthBytes { kept, summarized };
base::Status save_truth(const std::string& path, const Truth& truth);
base::Result<Truth> load_truth(const std::string& path, TruthBytes bytes = TruthBytes::kept);

// Independent checks, exposed for tests.
// Addresses (lower-cased) found by a plain scan of To/Cc/From lines of a header section.
std::vector<std::string> visible_addresses(const std::string& raw);
// Whether `addr` occurs in `raw`: plain, unfolded, or inside RFC 2047 encoded-words.
bool mentions_address(const std::string& raw, const std::string& addr);
// Header lines (unfolded) whose name equals `name`, case-insensitive.
std::vector<std::string> header_lines(const std::string& raw, const std::string& name);

}  // namespace dropcheck::analyzer

#pragma once
// What the receiving server accepts: local domains and users, relay mode, and injected faults.
// Defaults follow a Postfix that is not an open relay: a non-local RCPT gets
// "550 5.7.1 ... relaying denied", an unknown local user "550 5.1.1" unless a catch-all is set.
#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::fake_smtp {

enum class RelayMode { deny, open };

// The replies a slow server can be slow with. data_end is the reply after the message (where
// real servers scan content and stall); other is every remaining command (EHLO, RSET, ...).
enum class ReplyStage : std::size_t { greeting, mail, rcpt, data, data_end, other };
inline constexpr std::array<std::string_view, 6> kReplyStageNames = {
    "greeting", "mail", "rcpt", "data", "data-end", "other"};
inline std::optional<ReplyStage> reply_stage_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kReplyStageNames.size(); ++i)
    if (kReplyStageNames[i] == name) return static_cast<ReplyStage>(i);
  return std::nullopt;
}

// Faults, each off by default. Replies carry "(injected)" nowhere: they look like a real
// server's; the journal lists the faults that fired (TransactionRecord::faults).
struct Faults {
  int connect_code = 0;          // greeting code instead of 220: 421 closes, 554 refuses
  std::size_t rcpt_fail_at = 0;  // the k-th RCPT of each transaction (1-based) fails ...
  int rcpt_fail_code = 451;      // ... with this code (451, 452, 550, 421)
  // RCPTs for these addresses (case-insensitive) fail with the code, in every transaction;
  // journaled as "rcpt-to-<address>-<code>".
  struct RcptFailFor {
    std::string address;
    int code = 451;
  };
  std::vector<RcptFailFor> rcpt_fail_for;
  int data_fail_code = 0;      // reply to DATA/BDAT instead of 354 (451, 452, 554, 421)
  int data_end_fail_code = 0;  // reply after the message instead of 250 (451, 452, 554)
  // Close the connection, without a reply, after this many octets of a DATA/BDAT message.
  std::optional<std::size_t> disconnect_after_data_octets;
  std::size_t reply_rate = 0;  // reply bytes per second (slow server); 0 = unlimited
  // Wait this long before the reply of each stage (slow server); 0 = no delay. The MAIL,
  // RCPT, DATA and data-end delays follow only_transaction like the other faults.
  std::array<std::chrono::milliseconds, kReplyStageNames.size()> reply_delay{};
  std::size_t only_transaction = 0;  // apply rcpt/data faults only to the n-th transaction
                                     // of the receiver (1-based); 0 = every transaction
};

struct Policy {
  std::vector<std::string> local_domains;  // lower-case compared
  // Known users: "local" (at every local domain) or "local@domain". Empty = any user at a
  // local domain. Local parts compare case-insensitively (as Postfix lookup tables do).
  std::vector<std::string> users;
  std::string catch_all;  // mailbox for unknown local users; empty = 550 5.1.1
  bool lmtp = false;
  RelayMode relay = RelayMode::deny;
  bool reject_null_sender = false;  // MAIL FROM:<> -> 550 5.7.1 (a broken but real setup)
  // Postfix local(8)-style loop check: 554 5.4.6 when a Delivered-To field of the message
  // already names the recipient (or its catch-all mailbox).
  bool loop_check = false;
  // RFC 5321 4.5.3.2.7: the server waits at least 5 minutes for the next command. The same
  // bound applies to a whole command line from its first octet (a client trickling one octet
  // at a time does not move it; net::InputDeadlines) and to each wait for message data
  // (4.5.3.2.5 asks 3 minutes per data block of the client).
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
  // A transaction, from MAIL to the reply to its message. Not an RFC figure: 4.5.3.2 gives the
  // client's waits per step, the longest 10 minutes (4.5.3.2.6, the reply to the end of DATA);
  // a transaction here gets that long in all, far more than a 32 MiB message takes on loopback.
  std::chrono::milliseconds transaction_timeout = std::chrono::minutes(10);
  Faults faults;
};

}  // namespace dropcheck::fake_smtp

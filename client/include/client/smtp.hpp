#pragma once
// The one SMTP/LMTP client (RFC 5321, RFC 2033), used by the fetcher core and the probe:
// EHLO/LHLO (HELO when refused), PIPELINING (RFC 2920), BODY=8BITMIME (RFC 6152), SMTPUTF8
// (RFC 6531), per-recipient LMTP replies, and "452 too many recipients" answered with further
// transactions (RFC 5321 4.5.3.1.10).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/connect.hpp"
#include "client/limits.hpp"
#include "net/connection.hpp"
#include "protocol/smtp_reply.hpp"

namespace dropcheck::client {

struct SmtpOptions {
  Endpoint server;
  bool lmtp = false;
  std::string helo = "dropcheck";
  std::chrono::milliseconds timeout = kDefaultTimeout;
  // Asked before each command is sent; false (with a reason) refuses it. The probe's budget.
  std::function<bool(std::string& why)> before_command;
};

// What became of one recipient: 2xx delivered, 4xx try later, 5xx refused.
struct RcptResult {
  std::string rcpt;
  int code = 0;
  std::string text;
};

struct Transaction {
  std::vector<RcptResult> rcpts;  // in the order given
  // The reply that decided the transaction: MAIL when refused, the first refused RCPT when
  // none was accepted, DATA when refused, else the (first) final reply.
  protocol::SmtpReply decisive;
  std::string error;  // non-empty: the connection failed (results then say 451)
};

// One transaction begun and not yet finished (SmtpClient::begin / finish).
using Ticket = std::uint64_t;

class SmtpClient {
 public:
  SmtpClient(net::asio::any_io_executor ex, SmtpOptions options);

  // Connects by name and says EHLO/LHLO; reuses an open session. False with error().
  net::awaitable<bool> open();
  // One transaction. A lost connection makes every unsettled recipient 451 (unknown outcome:
  // at least once, never lost).
  net::awaitable<Transaction> transaction(const std::string& mail_from,
                                          const std::vector<std::string>& rcpts,
                                          const std::string& message);
  // Every recipient gets a final answer: those refused with 452 while others in the same
  // transaction were accepted are sent again in a further transaction, until no progress.
  net::awaitable<std::vector<RcptResult>> deliver(const std::string& mail_from,
                                                  const std::vector<std::string>& rcpts,
                                                  const std::string& message);

  // A transaction in two steps, for one round trip per message (RFC 2920 3.1: the end of
  // data may be followed by the next transaction's commands without waiting for its reply).
  // begin() sends the envelope and reads its replies; after DATA's 354 the content is queued
  // and the final reply left unread. The next begin() writes that content and its own
  // envelope together and only then reads the earlier final reply, so both wait on one round
  // trip; finish() (or quit) writes queued content before reading. Replies are read strictly in
  // order and each transaction is judged by its own. Without PIPELINING the earlier final
  // reply is read before anything else is sent (the plain lock-step of RFC 5321).
  // Every ticket is finished exactly once; finish() reads what is still unread.
  net::awaitable<Ticket> begin(const std::string& mail_from, const std::vector<std::string>& rcpts,
                               const std::string& message);
  net::awaitable<Transaction> finish(Ticket t);
  // deliver() for a transaction begun with the same arguments: the first transaction's
  // results, then further transactions for recipients refused with 452.
  net::awaitable<std::vector<RcptResult>> finish_delivery(Ticket t, const std::string& mail_from,
                                                          const std::vector<std::string>& rcpts,
                                                          const std::string& message);
  net::awaitable<void> quit();

  bool is_open() const { return open_; }
  const std::string& error() const { return error_; }
  const protocol::SmtpReply& greeting() const { return greeting_; }
  const protocol::SmtpReply& ehlo() const { return ehlo_; }

 private:
  net::awaitable<bool> send(std::string_view s);
  net::awaitable<std::optional<protocol::SmtpReply>> reply();
  net::awaitable<std::optional<protocol::SmtpReply>> command(std::string_view line);
  // After DATA's 354 the content is queued in unsent_ (`content_queued`: the final replies are
  // owed once it is sent).
  net::awaitable<bool> data_phase(const std::string& message, std::size_t accepted, Transaction& t,
                                  bool& content_queued);
  // The replies to MAIL, RCPT and DATA, then the content; false: the connection failed.
  net::awaitable<bool> envelope(const std::string& message, Transaction& t, bool& content_queued);
  net::awaitable<bool> final_replies(Transaction& t);
  // Reads the final replies of the transaction in flight (its results then wait in done_);
  // when the connection is gone, its recipients get 451 (unknown outcome).
  net::awaitable<void> settle_in_flight();
  void lost(Transaction& t);
  std::string mail_params(const std::string& from, const std::vector<std::string>& rcpts,
                          const std::string& message) const;

  net::Connection conn_;
  SmtpOptions options_;
  protocol::SmtpReply greeting_;
  protocol::SmtpReply ehlo_;
  bool open_ = false;
  bool pipelining_ = false;
  bool smtputf8_ = false;
  bool eightbit_ = false;
  std::string error_;
  // The transaction whose end of data is sent and whose final replies are unread (at most one)
  // and the finished transactions not yet collected by finish().
  std::optional<std::pair<Ticket, Transaction>> in_flight_;
  std::string unsent_;  // its content (dot-stuffed, with the final "."), not yet written
  std::map<Ticket, Transaction> done_;
  Ticket next_ticket_ = 1;
};

}  // namespace dropcheck::client

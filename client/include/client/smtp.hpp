#pragma once
// The one SMTP/LMTP client (RFC 5321, RFC 2033), used by the fetcher core and the probe:
// EHLO/LHLO (HELO when refused), PIPELINING (RFC 2920), BODY=8BITMIME (RFC 6152), SMTPUTF8
// (RFC 6531), per-recipient LMTP replies, and "452 too many recipients" answered with further
// transactions (RFC 5321 4.5.3.1.10).
#include <chrono>
#include <functional>
#include <optional>
#include <string>
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
  net::awaitable<void> quit();

  bool is_open() const { return open_; }
  const std::string& error() const { return error_; }
  const protocol::SmtpReply& greeting() const { return greeting_; }
  const protocol::SmtpReply& ehlo() const { return ehlo_; }

 private:
  net::awaitable<bool> send(std::string_view s);
  net::awaitable<std::optional<protocol::SmtpReply>> reply();
  net::awaitable<std::optional<protocol::SmtpReply>> command(std::string_view line);
  net::awaitable<bool> data_phase(const std::string& message, std::size_t accepted, Transaction& t);
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
};

}  // namespace dropcheck::client

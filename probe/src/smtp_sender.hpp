#pragma once
// The probe's SMTP client for active mode: one connection to the provider's MX,
// one transaction per test mail (no pipelining, no AUTH: mail to a domain's MX
// needs neither).
#include <chrono>
#include <string>
#include <vector>

#include "net/connection.hpp"
#include "probe/pop3_client.hpp"
#include "protocol/smtp_reply.hpp"

namespace dropcheck::probe {

class SmtpSender {
public:
  SmtpSender(net::asio::any_io_executor ex, Budget &budget,
             std::chrono::milliseconds timeout)
      : conn_(ex), budget_(budget), timeout_(timeout) {}

  // Connect, 220 greeting, EHLO (HELO when refused). False with error() on
  // failure.
  net::awaitable<bool> open(const Endpoint &ep, const std::string &helo);
  // One transaction; the result is the reply that decided it (MAIL, the first
  // refused RCPT when none was accepted, DATA, or the final reply after the
  // message).
  net::awaitable<protocol::SmtpReply>
  send(const std::string &mail_from, const std::vector<std::string> &rcpts,
       const std::string &message);
  net::awaitable<void> quit();
  const std::string &error() const { return error_; }

private:
  net::awaitable<std::optional<protocol::SmtpReply>>
  command(const std::string &line);
  net::awaitable<std::optional<protocol::SmtpReply>> reply();

  net::Connection conn_;
  Budget &budget_;
  std::chrono::milliseconds timeout_;
  std::string error_;
  bool open_ = false;
};

} // namespace dropcheck::probe

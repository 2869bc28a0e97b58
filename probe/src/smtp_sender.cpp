#include "smtp_sender.hpp"

#include <fmt/format.h>

#include "protocol/dot.hpp"

namespace dropcheck::probe {

namespace {
// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets; allow sloppy servers
// more.
constexpr std::size_t kMaxReplyLine = 4096;
// A multi-line reply (EHLO) with more lines than this is broken.
constexpr int kMaxReplyLines = 100;

protocol::SmtpReply failed(int code, std::string text) {
  protocol::SmtpReply r;
  r.code = code;
  r.lines.push_back(std::move(text));
  return r;
}
} // namespace

net::awaitable<std::optional<protocol::SmtpReply>> SmtpSender::reply() {
  protocol::SmtpReplyParser p;
  for (int i = 0; i < kMaxReplyLines; ++i) {
    net::error_code ec;
    std::string line = co_await conn_.read_line(kMaxReplyLine, timeout_, ec);
    if (ec) {
      error_ = ec.message();
      open_ = false;
      co_return std::nullopt;
    }
    if (auto r = p.feed_line(line)) {
      if (r->code == 0) {
        error_ = "malformed SMTP reply";
        open_ = false;
        co_return std::nullopt;
      }
      co_return r;
    }
  }
  error_ = "SMTP reply too long";
  open_ = false;
  co_return std::nullopt;
}

net::awaitable<std::optional<protocol::SmtpReply>>
SmtpSender::command(const std::string &line) {
  std::string why;
  if (!open_ || !budget_.take(why)) {
    if (error_.empty())
      error_ = open_ ? why : "connection closed";
    co_return std::nullopt;
  }
  net::error_code ec;
  co_await conn_.write_all(line + "\r\n", timeout_, ec);
  if (ec) {
    error_ = ec.message();
    open_ = false;
    co_return std::nullopt;
  }
  co_return co_await reply();
}

net::awaitable<bool> SmtpSender::open(const Endpoint &ep,
                                      const std::string &helo) {
  if (!co_await connect_to(conn_, ep, timeout_, error_))
    co_return false;
  open_ = true;
  auto greet = co_await reply();
  if (!greet || greet->code != 220) {
    error_ = "SMTP greeting: " + (greet ? greet->text() : error_);
    co_return false;
  }
  auto ehlo = co_await command("EHLO " + helo);
  if (ehlo && ehlo->code >= 500)
    ehlo = co_await command("HELO " + helo);
  if (!ehlo || ehlo->code != 250) {
    error_ = "EHLO: " + (ehlo ? ehlo->text() : error_);
    co_return false;
  }
  co_return true;
}

net::awaitable<protocol::SmtpReply>
SmtpSender::send(const std::string &mail_from,
                 const std::vector<std::string> &rcpts,
                 const std::string &message) {
  auto mail = co_await command(fmt::format("MAIL FROM:<{}>", mail_from));
  if (!mail)
    co_return failed(0, error_);
  if (!mail->positive()) {
    co_await command("RSET");
    co_return *mail;
  }
  std::optional<protocol::SmtpReply> refused;
  std::size_t accepted = 0;
  for (const auto &r : rcpts) {
    auto rr = co_await command(fmt::format("RCPT TO:<{}>", r));
    if (!rr)
      co_return failed(0, error_);
    if (rr->positive()) {
      ++accepted;
    } else if (!refused) {
      refused = rr;
    }
  }
  if (accepted == 0 || refused) {
    // All or nothing: a partly accepted test mail would mislead the
    // classification.
    co_await command("RSET");
    co_return refused ? *refused : failed(0, "no recipient");
  }
  auto data = co_await command("DATA");
  if (!data)
    co_return failed(0, error_);
  if (data->code != 354)
    co_return *data;
  std::string wire;
  protocol::dot_stuff(message, wire);
  net::error_code ec;
  co_await conn_.write_all(wire, timeout_, ec);
  if (ec) {
    error_ = ec.message();
    open_ = false;
    co_return failed(0, error_);
  }
  auto final_reply = co_await reply();
  if (!final_reply)
    co_return failed(0, error_);
  co_return *final_reply;
}

net::awaitable<void> SmtpSender::quit() {
  if (open_)
    co_await command("QUIT");
  open_ = false;
  conn_.close();
}

} // namespace dropcheck::probe

#include "client/smtp.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "base/strings.hpp"
#include "protocol/dot.hpp"

namespace dropcheck::client {

namespace asio = net::asio;

namespace {

bool non_ascii(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

protocol::SmtpReply synthetic(int code, std::string text) {
  protocol::SmtpReply r;
  r.code = code;
  r.lines.push_back(std::move(text));
  return r;
}

bool positive(int code) { return code >= 200 && code < 300; }

}  // namespace

SmtpClient::SmtpClient(asio::any_io_executor ex, SmtpOptions options)
    : conn_(ex), options_(std::move(options)) {}

net::awaitable<bool> SmtpClient::send(std::string_view s) {
  net::error_code ec;
  co_await conn_.write_all(s, options_.timeout, ec);
  if (ec) {
    error_ = ec.message();
    open_ = false;
  }
  co_return !ec;
}

net::awaitable<std::optional<protocol::SmtpReply>> SmtpClient::reply() {
  protocol::SmtpReplyParser p;
  for (std::size_t i = 0; i < kMaxSmtpReplyLines; ++i) {
    net::error_code ec;
    std::string line = co_await conn_.read_line(kMaxSmtpReplyLine, options_.timeout, ec);
    if (ec) {
      error_ = ec == asio::error::message_size
                   ? fmt::format("reply line longer than {} octets", kMaxSmtpReplyLine)
                   : ec.message();
      open_ = false;
      co_return std::nullopt;
    }
    if (auto r = p.feed_line(line)) {
      if (r->code == 0) {
        error_ = "malformed reply: " + r->text();
        open_ = false;
        co_return std::nullopt;
      }
      co_return r;
    }
  }
  error_ = fmt::format("reply longer than {} lines", kMaxSmtpReplyLines);
  open_ = false;
  co_return std::nullopt;
}

net::awaitable<std::optional<protocol::SmtpReply>> SmtpClient::command(std::string_view line) {
  std::string why;
  if (options_.before_command && !options_.before_command(why)) {
    error_ = why;
    co_return std::nullopt;
  }
  if (!co_await send(std::string(line) + "\r\n")) co_return std::nullopt;
  co_return co_await reply();
}

net::awaitable<bool> SmtpClient::open() {
  if (open_) co_return true;
  co_await settle_in_flight();  // the connection is gone: its outcome is unknown (451)
  conn_.close();
  if (!co_await client::connect(conn_, options_.server, options_.timeout, error_)) co_return false;
  open_ = true;
  auto greet = co_await reply();
  if (!greet || greet->code != 220) {
    error_ = "greeting: " + (greet ? greet->text() : error_);
    open_ = false;
    co_return false;
  }
  greeting_ = *greet;
  auto ehlo =
      co_await command(fmt::format("{} {}", options_.lmtp ? "LHLO" : "EHLO", options_.helo));
  if (ehlo && !options_.lmtp && ehlo->code >= 500) ehlo = co_await command("HELO " + options_.helo);
  if (!ehlo || ehlo->code != 250) {
    error_ = "EHLO: " + (ehlo ? ehlo->text() : error_);
    open_ = false;
    co_return false;
  }
  ehlo_ = *ehlo;
  for (const auto& l : ehlo_.lines) {
    const auto kw = base::trim(l);
    pipelining_ = pipelining_ || base::iequals(kw, "PIPELINING");
    smtputf8_ = smtputf8_ || base::iequals(kw, "SMTPUTF8");
    eightbit_ = eightbit_ || base::iequals(kw, "8BITMIME");
  }
  co_return true;
}

std::string SmtpClient::mail_params(const std::string& from, const std::vector<std::string>& rcpts,
                                    const std::string& message) const {
  bool utf8_envelope = non_ascii(from);
  for (const auto& r : rcpts) utf8_envelope = utf8_envelope || non_ascii(r);
  std::string params;
  if (eightbit_ && non_ascii(message)) params += " BODY=8BITMIME";
  if (utf8_envelope && smtputf8_) params += " SMTPUTF8";
  return params;
}

void SmtpClient::lost(Transaction& t) {
  t.error = error_;
  open_ = false;
  conn_.close();
  for (auto& r : t.rcpts)
    if (r.code == 0 || positive(r.code)) r = {r.rcpt, 451, "connection lost: " + error_};
  if (t.decisive.code == 0 || positive(t.decisive.code))
    t.decisive = synthetic(451, "connection lost: " + error_);
}

net::awaitable<Transaction> SmtpClient::transaction(const std::string& from,
                                                    const std::vector<std::string>& rcpts,
                                                    const std::string& message) {
  const Ticket id = co_await begin(from, rcpts, message);
  co_return co_await finish(id);
}

net::awaitable<Ticket> SmtpClient::begin(const std::string& from,
                                         const std::vector<std::string>& rcpts,
                                         const std::string& message) {
  const Ticket id = next_ticket_++;
  Transaction t;
  for (const auto& r : rcpts) t.rcpts.push_back({r, 0, ""});
  if (!pipelining_) co_await settle_in_flight();
  std::string why;
  if (!open_ || (options_.before_command && !options_.before_command(why))) {
    co_await settle_in_flight();
    if (!why.empty()) error_ = why;
    lost(t);
    done_.emplace(id, std::move(t));
    co_return id;
  }
  // The earlier transaction's content and this envelope go out in one write: the server reads
  // them together and answers them together (no small reply segment held back by Nagle).
  std::string cmds = std::exchange(unsent_, std::string());
  cmds += fmt::format("MAIL FROM:<{}>{}\r\n", from, mail_params(from, rcpts, message));
  if (pipelining_) {
    for (const auto& r : rcpts) cmds += fmt::format("RCPT TO:<{}>\r\n", r);
    cmds += "DATA\r\n";
  }
  const bool sent = co_await send(cmds);
  // Our envelope is out: the earlier transaction's final reply arrives ahead of its replies.
  co_await settle_in_flight();
  bool content_queued = false;
  bool ok = sent && open_;
  if (ok) ok = co_await envelope(message, t, content_queued);
  if (!ok) lost(t);
  if (ok && content_queued)
    in_flight_.emplace(id, std::move(t));
  else
    done_.emplace(id, std::move(t));
  co_return id;
}

net::awaitable<bool> SmtpClient::envelope(const std::string& message, Transaction& t,
                                          bool& content_queued) {
  auto mail = co_await reply();
  if (!mail) co_return false;
  std::size_t accepted = 0;
  for (auto& r : t.rcpts) {
    if (!pipelining_ && mail->positive()) {
      const bool sent = co_await send(fmt::format("RCPT TO:<{}>\r\n", r.rcpt));
      if (!sent) co_return false;
    }
    std::optional<protocol::SmtpReply> rr;
    if (pipelining_ || mail->positive()) {
      rr = co_await reply();
      if (!rr) co_return false;
    }
    if (!mail->positive()) {
      r.code = mail->code;
      r.text = "MAIL FROM: " + mail->text();
      continue;
    }
    r.code = rr->code;
    r.text = rr->text();
    if (rr->positive())
      ++accepted;
    else if (t.decisive.code == 0)
      t.decisive = *rr;
  }
  if (!mail->positive()) t.decisive = *mail;
  if (mail->positive() && accepted > 0) t.decisive = {};
  co_return co_await data_phase(message, mail->positive() ? accepted : 0, t, content_queued);
}

net::awaitable<Transaction> SmtpClient::finish(Ticket id) {
  if (in_flight_ && in_flight_->first == id) co_await settle_in_flight();
  Transaction t;
  auto it = done_.find(id);
  if (it == done_.end()) {  // not a ticket of ours, or finished twice: nothing is known
    error_ = "no such transaction";
    t.decisive = synthetic(451, error_);
    t.error = error_;
    co_return t;
  }
  t = std::move(it->second);
  done_.erase(it);
  co_return t;
}

net::awaitable<void> SmtpClient::settle_in_flight() {
  if (!in_flight_) co_return;
  auto [id, t] = std::move(*in_flight_);
  in_flight_.reset();
  bool ok = open_;
  const std::string content = std::exchange(unsent_, std::string());
  if (ok && !content.empty()) ok = co_await send(content);
  if (ok) ok = co_await final_replies(t);
  if (!ok) lost(t);
  done_.emplace(id, std::move(t));
}

net::awaitable<bool> SmtpClient::data_phase(const std::string& message, std::size_t accepted,
                                            Transaction& t, bool& content_queued) {
  if (!pipelining_ && accepted > 0) {
    const bool sent = co_await send("DATA\r\n");
    if (!sent) co_return false;
  }
  if (pipelining_ || accepted > 0) {
    auto data = co_await reply();
    if (!data) co_return false;
    if (data->code == 354 && accepted > 0) {
      // Sent with the next transaction's envelope, or when its final reply is awaited.
      protocol::dot_stuff(message, unsent_);
      content_queued = true;
      co_return true;
    }
    if (data->code == 354) {
      // Pipelined DATA accepted though no recipient was: an empty message ends it.
      const bool sent = co_await send(".\r\n");
      if (!sent) co_return false;
      const auto ended = co_await reply();
      if (!ended) co_return false;
    } else {
      for (auto& r : t.rcpts)
        if (positive(r.code)) r = {r.rcpt, data->code, "DATA: " + data->text()};
      if (accepted > 0) t.decisive = *data;
    }
  }
  if (accepted == 0 || t.rcpts.empty()) {
    auto rs = co_await command("RSET");
    if (!rs) co_return false;
  }
  co_return true;
}

net::awaitable<bool> SmtpClient::final_replies(Transaction& t) {
  // SMTP: one reply for all; LMTP (RFC 2033 4.2): one per accepted recipient, in order.
  for (auto& r : t.rcpts) {
    if (!positive(r.code)) continue;
    if (!options_.lmtp && t.decisive.code != 0) {
      r.code = t.decisive.code;
      r.text = t.decisive.text();
      continue;
    }
    auto f = co_await reply();
    if (!f) co_return false;
    if (t.decisive.code == 0) t.decisive = *f;
    r.code = f->code;
    r.text = f->text();
  }
  co_return true;
}

net::awaitable<std::vector<RcptResult>> SmtpClient::deliver(const std::string& from,
                                                            const std::vector<std::string>& rcpts,
                                                            const std::string& message) {
  const Ticket id = co_await begin(from, rcpts, message);
  co_return co_await finish_delivery(id, from, rcpts, message);
}

net::awaitable<std::vector<RcptResult>> SmtpClient::finish_delivery(
    Ticket id, const std::string& from, const std::vector<std::string>& rcpts,
    const std::string& message) {
  std::vector<RcptResult> out;
  for (const auto& r : rcpts) out.push_back({r, 0, ""});
  std::vector<std::size_t> pending(rcpts.size());
  for (std::size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  auto t = co_await finish(id);
  // Bounded: every further transaction settles at least one recipient.
  for (;;) {
    std::vector<std::size_t> again;
    bool progress = false;
    for (std::size_t k = 0; k < pending.size() && k < t.rcpts.size(); ++k) {
      out[pending[k]] = t.rcpts[k];
      progress = progress || positive(t.rcpts[k].code);
      if (t.rcpts[k].code == 452) again.push_back(pending[k]);
    }
    if (again.empty() || !progress || again.size() == pending.size() || !open_) break;
    pending = std::move(again);
    std::vector<std::string> batch;
    for (auto i : pending) batch.push_back(rcpts[i]);
    t = co_await transaction(from, batch, message);
  }
  co_return out;
}

net::awaitable<void> SmtpClient::quit() {
  // One co_await per statement: GCC 12 miscompiles co_await inside conditions.
  co_await settle_in_flight();
  bool sent = false;
  if (open_) sent = co_await send("QUIT\r\n");
  if (sent) (void)co_await reply();
  conn_.close();
  open_ = false;
  co_return;
}

}  // namespace dropcheck::client

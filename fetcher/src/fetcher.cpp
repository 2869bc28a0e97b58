#include "fetcher/fetcher.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "base/strings.hpp"
#include "fetcher/defects.hpp"
#include "fetcher/route.hpp"
#include "fetcher/state.hpp"
#include "mail/header.hpp"
#include "net/connection.hpp"
#include "protocol/dot.hpp"
#include "protocol/pop3_client.hpp"
#include "protocol/smtp_reply.hpp"

namespace dropcheck::fetcher {
namespace asio = net::asio;
namespace ssl = net::ssl;

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::locked: return "locked";
    case Outcome::in_use: return "in-use";
    case Outcome::login_delay: return "login-delay";
    case Outcome::auth_failed: return "auth-failed";
    case Outcome::pop3_error: return "pop3-error";
    case Outcome::smtp_error: return "smtp-error";
    case Outcome::state_error: return "state-error";
  }
  return "?";
}

namespace {

// RFC 2449 4: responses may be up to 512 octets; we allow more from sloppy servers.
constexpr std::size_t kMaxPop3Line = 8192;
// RFC 5321 4.5.3.1.5: reply lines are at most 512 octets.
constexpr std::size_t kMaxSmtpLine = 4096;
// Largest message we retrieve (bounded memory); larger ones are left on the server, logged.
constexpr std::size_t kMaxMessage = 64 * 1024 * 1024;

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

struct Failure {
  Outcome outcome;
  std::string detail;
};

// One SMTP/LMTP delivery connection, opened lazily and reused for the cycle.
class SmtpSession {
 public:
  SmtpSession(asio::any_io_executor ex, const Delivery& d) : conn_(ex), d_(d) {}

  struct RcptResult {
    std::string rcpt;
    int code = 0;
    std::string text;
  };

  net::awaitable<std::optional<Failure>> open() {
    if (open_) co_return std::nullopt;
    net::error_code ec;
    net::tcp::endpoint ep;
    try {
      ep = net::tcp::endpoint(asio::ip::make_address(d_.host), d_.port);
    } catch (const std::exception&) {
      co_return Failure{Outcome::smtp_error, "bad smtp host " + d_.host};
    }
    co_await conn_.connect(ep, d_.timeout, ec);
    if (ec) co_return Failure{Outcome::smtp_error, fmt::format("connect {}: {}", d_.port, ec.message())};
    auto greet = co_await reply();
    if (!greet || greet->code != 220)
      co_return Failure{Outcome::smtp_error, "greeting: " + (greet ? greet->text() : err_)};
    co_await send(fmt::format("{} {}\r\n", d_.lmtp ? "LHLO" : "EHLO", d_.helo));
    auto ehlo = co_await reply();
    if (ehlo && !d_.lmtp && ehlo->code >= 500) {
      co_await send(fmt::format("HELO {}\r\n", d_.helo));
      ehlo = co_await reply();
    }
    if (!ehlo || ehlo->code != 250)
      co_return Failure{Outcome::smtp_error, "EHLO: " + (ehlo ? ehlo->text() : err_)};
    for (const auto& l : ehlo->lines) {
      const auto kw = base::trim(l);
      if (base::iequals(kw, "PIPELINING")) pipelining_ = true;
      if (base::iequals(kw, "SMTPUTF8")) smtputf8_ = true;
      if (base::iequals(kw, "8BITMIME")) eightbit_ = true;
    }
    open_ = true;
    co_return std::nullopt;
  }

  // Sends one transaction; returns per-recipient results (2xx delivered, 4xx, 5xx).
  net::awaitable<std::vector<RcptResult>> deliver(const std::string& from,
                                                  const std::vector<std::string>& rcpts,
                                                  const std::string& message, std::string& error) {
    std::vector<RcptResult> out;
    for (const auto& r : rcpts) out.push_back({r, 0, ""});
    auto fail_all = [&](int code, const std::string& text) {
      for (auto& r : out)
        if (r.code == 0 || (r.code >= 200 && r.code < 300 && code != 0)) {
          r.code = code;
          r.text = text;
        }
    };
    // RFC 6531: a non-ASCII envelope needs SMTPUTF8; RFC 6152: 8-bit content is declared.
    const auto non_ascii = [](std::string_view s) {
      return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    };
    bool utf8_envelope = non_ascii(from);
    for (const auto& r : rcpts) utf8_envelope = utf8_envelope || non_ascii(r);
    std::string params;
    if (eightbit_ && non_ascii(message)) params += " BODY=8BITMIME";
    if (utf8_envelope && smtputf8_) params += " SMTPUTF8";
    std::string cmds = fmt::format("MAIL FROM:<{}>{}\r\n", from, params);
    for (const auto& r : rcpts) cmds += fmt::format("RCPT TO:<{}>\r\n", r);
    if (pipelining_) cmds += "DATA\r\n";
    co_await send(cmds);
    auto mail = co_await reply();
    std::size_t accepted = 0;
    if (!mail) {
      error = err_;
      open_ = false;
      fail_all(451, "connection lost: " + err_);
      co_return out;
    }
    for (auto& r : out) {
      auto rr = co_await reply();
      if (!rr) {
        error = err_;
        open_ = false;
        fail_all(451, "connection lost: " + err_);
        co_return out;
      }
      if (!mail->positive()) {
        r.code = mail->code;
        r.text = "MAIL FROM: " + mail->text();
      } else {
        r.code = rr->code;
        r.text = rr->text();
        if (rr->positive()) ++accepted;
      }
    }
    if (!pipelining_ && accepted > 0) co_await send("DATA\r\n");
    if (pipelining_ || accepted > 0) {
      auto data = co_await reply();
      if (!data) {
        error = err_;
        open_ = false;
        fail_all(451, "connection lost: " + err_);
        co_return out;
      }
      if (data->code == 354 && accepted > 0) {
        std::string wire;
        protocol::dot_stuff(message, wire);
        co_await send(wire);
        // SMTP: one reply for all; LMTP (RFC 2033 4.2): one per accepted recipient, in order.
        const std::size_t n = d_.lmtp ? accepted : 1;
        std::vector<protocol::SmtpReply> finals;
        for (std::size_t i = 0; i < n; ++i) {
          auto f = co_await reply();
          if (!f) {
            error = err_;
            open_ = false;
            // Unknown outcome: treat as temporary; the next cycle retries (at-least-once).
            for (auto& r : out)
              if (r.code >= 200 && r.code < 300) r = {r.rcpt, 451, "lost after DATA: " + err_};
            co_return out;
          }
          finals.push_back(*f);
        }
        std::size_t k = 0;
        for (auto& r : out) {
          if (r.code < 200 || r.code >= 300) continue;
          const auto& f = d_.lmtp ? finals[k++] : finals[0];
          r.code = f.code;
          r.text = f.text();
        }
      } else if (data->code == 354) {
        // Pipelined DATA accepted but no recipient: send an empty message terminator.
        co_await send(".\r\n");
        co_await reply();
      } else {
        for (auto& r : out)
          if (r.code >= 200 && r.code < 300) {
            r.code = data->code;
            r.text = "DATA: " + data->text();
          }
      }
    }
    if (accepted == 0 || out.empty()) {
      co_await send("RSET\r\n");
      co_await reply();
    }
    co_return out;
  }

  net::awaitable<void> quit() {
    if (!open_) co_return;
    co_await send("QUIT\r\n");
    co_await reply();
    conn_.close();
    open_ = false;
  }

 private:
  net::awaitable<void> send(std::string_view s) {
    net::error_code ec;
    co_await conn_.write_all(s, d_.timeout, ec);
    if (ec) err_ = ec.message();
  }
  net::awaitable<std::optional<protocol::SmtpReply>> reply() {
    protocol::SmtpReplyParser p;
    for (int i = 0; i < 100; ++i) {  // bounded: at most 100 continuation lines
      net::error_code ec;
      std::string line = co_await conn_.read_line(kMaxSmtpLine, d_.timeout, ec);
      if (ec) {
        err_ = ec.message();
        co_return std::nullopt;
      }
      if (auto r = p.feed_line(line)) {
        if (r->code == 0) {
          err_ = "malformed reply: " + r->text();
          co_return std::nullopt;
        }
        co_return r;
      }
    }
    err_ = "reply too long";
    co_return std::nullopt;
  }

  net::Connection conn_;
  const Delivery& d_;
  bool open_ = false;
  bool pipelining_ = false;
  bool smtputf8_ = false;
  bool eightbit_ = false;
  std::string err_;
};

}  // namespace

class Fetcher::Cycle {
 public:
  Cycle(Fetcher& f, asio::any_io_executor ex)
      : f_(f), c_(f.config_), ex_(ex), pop_(ex), smtp_(ex, f.config_.smtp) {}

  net::awaitable<CycleResult> run() {
    CycleResult res;
    std::optional<CycleLock> lock;
    const bool use_state = !c_.state_dir.empty();
    std::string state_path;
    if (use_state) {
      std::error_code fec;
      std::filesystem::create_directories(c_.state_dir, fec);
      state_path = c_.state_dir + "/" + c_.name + ".state.json";
      if (!defect_skips_lock(c_.defect)) {
        auto l = CycleLock::acquire(c_.state_dir + "/" + c_.name + ".lock", c_.wait_for_lock);
        if (!l.ok()) {
          res.outcome = l.error().code == "locked" ? Outcome::locked : Outcome::state_error;
          res.detail = l.error().message;
          log(fmt::format("event=cycle-refused outcome={} detail=\"{}\"",
                          outcome_name(res.outcome), res.detail));
          co_return res;
        }
        lock.emplace(std::move(l).value());
      }
      auto st = load_state(state_path);
      if (!st.ok()) {
        res.outcome = Outcome::state_error;
        res.detail = st.error().message;
        co_return res;
      }
      state_ = std::move(st).value();
      // Compact: the snapshot takes in what the last cycles logged; this cycle appends to an
      // empty log (one small durable record per delivery, not a rewrite of the whole state).
      if (auto saved = save_state(state_path, state_); !saved.ok()) {
        res.outcome = Outcome::state_error;
        res.detail = saved.error().message;
        co_return res;
      }
      log_.emplace(state_path);
      // Respect the provider's LOGIN-DELAY (RFC 2449 8.1.1) across invocations: skip this cycle
      // rather than be refused (and risk the account being blocked for over-polling).
      const std::int64_t now = f_.clock_.now().count();
      if (state_.login_delay_ms > 0 && state_.last_login_ms > 0 &&
          now - state_.last_login_ms < state_.login_delay_ms) {
        res.outcome = Outcome::login_delay;
        res.detail = fmt::format("provider LOGIN-DELAY: next login allowed in {} s",
                                 (state_.login_delay_ms - (now - state_.last_login_ms) + 999) / 1000);
        log(fmt::format("event=cycle-skipped outcome=login-delay detail=\"{}\"", res.detail));
        co_return res;
      }
    }
    auto failure = co_await session(res, state_path);
    co_await smtp_.quit();
    pop_.close();
    if (!failure && log_) {
      // UIDLs the server no longer lists can never be fetched under them again: forget them
      // (a provider re-presenting mail under the same UIDL is still caught by the
      // Message-ID + digest keys). Then fold the log into the snapshot.
      std::erase_if(state_.settled_uidls,
                    [&](const std::string& u) { return !listed_uidls_.count(u); });
      prune_delivered_keys(state_, f_.clock_.now().count(), f_.config_.dedup_retention.count());
      if (auto saved = save_state(state_path, state_); !saved.ok())
        failure = Failure{Outcome::state_error, saved.error().message};
    }
    if (failure) {
      res.outcome = failure->outcome;
      res.detail = failure->detail;
    }
    log(fmt::format("event=cycle-end outcome={} retrieved={} deleted={}{}",
                    outcome_name(res.outcome), res.retrieved, res.deleted,
                    res.detail.empty() ? "" : " detail=\"" + res.detail + "\""));
    co_return res;
  }

 private:
  void log(const std::string& line) {
    if (f_.log_) f_.log_(line);
  }

  net::awaitable<std::optional<std::string>> line() {
    net::error_code ec;
    std::string l = co_await pop_.read_line(kMaxPop3Line, c_.pop3.timeout, ec);
    if (ec) {
      err_ = ec == asio::error::message_size ? "response line too long" : ec.message();
      co_return std::nullopt;
    }
    co_return l;
  }
  net::awaitable<bool> send(const std::string& cmd) {
    net::error_code ec;
    co_await pop_.write_all(cmd, c_.pop3.timeout, ec);
    if (ec) err_ = ec.message();
    co_return !ec;
  }
  // Sends a command (unless empty) and reads the status line.
  net::awaitable<std::optional<protocol::Pop3Status>> command(const std::string& cmd) {
    if (!cmd.empty() && !co_await send(cmd)) co_return std::nullopt;
    auto l = co_await line();
    if (!l) co_return std::nullopt;
    auto st = protocol::parse_pop3_status(*l);
    if (!st.valid) {
      err_ = "not a POP3 status line: " + st.text.substr(0, 80);
      co_return std::nullopt;
    }
    co_return st;
  }
  // Reads a dot-terminated multi-line body.
  net::awaitable<std::optional<std::string>> multiline(std::size_t max) {
    protocol::DotDecoder dec;
    while (!dec.done()) {
      auto l = co_await line();
      if (!l) co_return std::nullopt;
      dec.feed(*l);
      if (dec.body().size() > max) {
        err_ = "multi-line response larger than the limit";
        co_return std::nullopt;
      }
    }
    co_return dec.take_body();
  }

  Failure pop_failure(const std::string& what) {
    return Failure{Outcome::pop3_error, what + ": " + err_};
  }

  net::awaitable<std::optional<Failure>> start_tls(CycleResult& res) {
    ssl::context ctx(ssl::context::tls_client);
    if (c_.pop3.verify_certificate) {
      ctx.set_verify_mode(ssl::verify_peer);
      if (!c_.pop3.ca_file.empty()) {
        net::error_code ec;
        ctx.load_verify_file(c_.pop3.ca_file, ec);
        if (ec) co_return Failure{Outcome::pop3_error, "cannot load CA file " + c_.pop3.ca_file};
      } else {
        ctx.set_default_verify_paths();
      }
    } else {
      ctx.set_verify_mode(ssl::verify_none);
      log("event=tls-verify-disabled reason=config");
    }
    net::error_code ec;
    // A named string: GCC 12 mishandles a temporary built by ?: inside a co_await expression.
    const std::string verify_name = c_.pop3.verify_certificate ? c_.pop3.host : std::string();
    co_await pop_.handshake_client(ctx, verify_name, c_.pop3.timeout, ec);
    if (ec) co_return Failure{Outcome::pop3_error, "TLS handshake: " + ec.message()};
    res.tls = true;
    co_return std::nullopt;
  }

  net::awaitable<std::optional<Failure>> session(CycleResult& res, const std::string& state_path) {
    net::error_code ec;
    net::tcp::endpoint ep;
    try {
      ep = net::tcp::endpoint(asio::ip::make_address(c_.pop3.host), c_.pop3.port);
    } catch (const std::exception&) {
      co_return Failure{Outcome::pop3_error, "bad pop3 host " + c_.pop3.host};
    }
    co_await pop_.connect(ep, c_.pop3.timeout, ec);
    if (ec) co_return Failure{Outcome::pop3_error, "connect: " + ec.message()};
    if (c_.pop3.tls == TlsMode::implicit) {
      if (auto f = co_await start_tls(res)) co_return f;
    }
    auto greet = co_await command("");
    if (!greet) co_return pop_failure("greeting");
    if (!greet->ok) co_return Failure{Outcome::pop3_error, "greeting: " + greet->text};
    std::string apop_stamp;
    if (auto lt = greet->text.find('<'); lt != std::string::npos) {
      if (auto gt = greet->text.find('>', lt); gt != std::string::npos)
        apop_stamp = greet->text.substr(lt, gt - lt + 1);
    }
    // CAPA (RFC 2449); a server without it answers -ERR.
    std::vector<std::string> capa;
    auto cst = co_await command("CAPA\r\n");
    if (!cst) co_return pop_failure("CAPA");
    if (cst->ok) {
      auto body = co_await multiline(64 * 1024);
      if (!body) co_return pop_failure("CAPA");
      for (auto l : base::split(*body, '\n')) {
        auto t = base::trim(l);
        if (!t.empty()) capa.push_back(base::to_lower(t));
      }
    }
    const auto has = [&](std::string_view cap) {
      for (const auto& c : capa)
        if (c == cap || base::istarts_with(c, std::string(cap) + " ")) return true;
      return false;
    };
    if (!pop_.tls() && (c_.pop3.tls == TlsMode::stls || has("stls"))) {
      // Never send a password in clear when the server offers STLS (RFC 2595).
      auto s = co_await command("STLS\r\n");
      if (!s) co_return pop_failure("STLS");
      if (!s->ok) co_return Failure{Outcome::pop3_error, "STLS refused: " + s->text};
      if (auto f = co_await start_tls(res)) co_return f;
    }
    // Authentication.
    std::optional<protocol::Pop3Status> auth;
    std::string mechanism = "user";
    const bool sasl_plain = std::any_of(capa.begin(), capa.end(), [](const std::string& c) {
      if (!base::istarts_with(c, "sasl ")) return false;
      for (auto m : base::split(std::string_view(c).substr(5), ' '))
        if (base::iequals(m, "plain")) return true;
      return false;
    });
    if (c_.pop3.apop && apop_stamp.empty())
      co_return Failure{Outcome::auth_failed, "APOP configured but the server offers no APOP timestamp"};
    if (c_.pop3.auth == "plain" && !sasl_plain)
      co_return Failure{Outcome::auth_failed, "SASL PLAIN configured but not offered (CAPA SASL)"};
    if (c_.pop3.apop) {
      mechanism = "apop";
      const std::string digest = md5_hex(apop_stamp + c_.pop3.password);
      auth = co_await command("APOP " + c_.pop3.user + " " + digest + "\r\n");
      if (!auth) co_return pop_failure("APOP");
    } else if (c_.pop3.auth == "plain" || (c_.pop3.auth == "auto" && sasl_plain)) {
      // RFC 5034 with an initial response (RFC 4616: authzid NUL authcid NUL password).
      mechanism = "plain";
      const std::string creds = std::string(1, '\0') + c_.pop3.user + '\0' + c_.pop3.password;
      auth = co_await command("AUTH PLAIN " + base::base64_encode(creds) + "\r\n");
      if (!auth) co_return pop_failure("AUTH PLAIN");
    } else {
      auto u = co_await command("USER " + c_.pop3.user + "\r\n");
      if (!u) co_return pop_failure("USER");
      if (u->ok) {
        auth = co_await command("PASS " + c_.pop3.password + "\r\n");
        if (!auth) co_return pop_failure("PASS");
      } else {
        auth = u;
      }
    }
    log(fmt::format("event=login user={} tls={} mechanism={} result={}", c_.pop3.user,
                    pop_.tls() ? "yes" : "no", mechanism,
                    auth->ok ? "ok" : "refused"));
    if (auth->ok) {
      state_.last_login_ms = f_.clock_.now().count();
      state_.login_delay_ms = 0;
      for (const auto& c : capa) {
        if (!base::istarts_with(c, "login-delay ")) continue;
        try {
          state_.login_delay_ms = std::stoll(std::string(base::trim(c.substr(12)))) * 1000;
        } catch (const std::exception&) {
        }
      }
      if (log_) {
        auto saved = log_->login(state_.last_login_ms, state_.login_delay_ms);
        if (!saved.ok()) co_return Failure{Outcome::state_error, saved.error().message};
      }
    }
    if (!auth->ok) {
      if (auth->resp_code == "IN-USE")
        co_return Failure{Outcome::in_use, "mailbox in use: " + auth->text};
      if (auth->resp_code == "LOGIN-DELAY")
        co_return Failure{Outcome::login_delay, "login delay: " + auth->text};
      co_return Failure{Outcome::auth_failed, auth->text};
    }
    // The maildrop: numbers, sizes, UIDLs.
    std::map<std::size_t, std::size_t> sizes;
    std::map<std::size_t, std::string> uidls;
    auto ls = co_await command("LIST\r\n");
    if (!ls || !ls->ok) co_return pop_failure("LIST");
    auto lbody = co_await multiline(16 * 1024 * 1024);
    if (!lbody) co_return pop_failure("LIST");
    for (auto l : base::split(*lbody, '\n')) {
      auto parts = base::split(base::trim(l), ' ');
      if (parts.size() < 2) continue;
      try {
        sizes[std::stoul(std::string(parts[0]))] = std::stoul(std::string(parts[1]));
      } catch (const std::exception&) {
      }
    }
    auto us = co_await command("UIDL\r\n");
    if (!us) co_return pop_failure("UIDL");
    if (us->ok) {
      auto ubody = co_await multiline(16 * 1024 * 1024);
      if (!ubody) co_return pop_failure("UIDL");
      for (auto l : base::split(*ubody, '\n')) {
        auto parts = base::split(base::trim(l), ' ');
        if (parts.size() < 2) continue;
        try {
          uidls[std::stoul(std::string(parts[0]))] = std::string(parts[1]);
          listed_uidls_.insert(std::string(parts[1]));
        } catch (const std::exception&) {
        }
      }
    } else {
      log("event=no-uidl detail=\"server has no UIDL; keep mode and crash recovery are off\"");
    }
    const bool dedup = !defect_skips_dedup(c_.defect) && !state_path.empty();

    for (const auto& [num, size] : sizes) {
      MessageLog m;
      m.number = num;
      m.size = size;
      if (auto it = uidls.find(num); it != uidls.end()) m.uidl = it->second;
      const bool settled = dedup && !m.uidl.empty() && state_.settled_uidls.count(m.uidl);
      if (settled) {
        m.skipped = true;
        m.notes.emplace_back("already delivered (UIDL)");
      } else {
        if (size > kMaxMessage) {
          m.notes.emplace_back("larger than the retrieval limit; left on the server");
          m.alert = true;
          log(describe(m));
          res.messages.push_back(std::move(m));
          continue;
        }
        auto r = co_await command(fmt::format("RETR {}\r\n", num));
        if (!r) co_return pop_failure(fmt::format("RETR {}", num));
        if (!r->ok) {
          m.notes.push_back("RETR refused: " + r->text);
          m.alert = true;
          log(describe(m));
          res.messages.push_back(std::move(m));
          continue;
        }
        auto body = co_await multiline(kMaxMessage + 1024 * 1024);
        if (!body) co_return pop_failure(fmt::format("RETR {}", num));
        ++res.retrieved;
        if (f_.hooks_.on_retrieved) f_.hooks_.on_retrieved(res.retrieved);
        if (auto fail = co_await handle(*body, m, dedup)) co_return fail;
        if (log_ && m.deferred.empty() && !m.uidl.empty()) {
          state_.settled_uidls.insert(m.uidl);
          state_.progress.erase(m.uidl);
          auto saved = log_->settled(m.uidl);
          if (!saved.ok()) co_return Failure{Outcome::state_error, saved.error().message};
        }
      }
      if (m.deferred.empty() && !c_.keep) {
        auto d = co_await command(fmt::format("DELE {}\r\n", num));
        if (!d) co_return pop_failure(fmt::format("DELE {}", num));
        m.deleted = d->ok;
        if (d->ok) ++res.deleted;
      }
      log(describe(m));
      res.messages.push_back(std::move(m));
    }
    auto q = co_await command("QUIT\r\n");
    if (!q) co_return pop_failure("QUIT");
    if (!q->ok) co_return Failure{Outcome::pop3_error, "QUIT (deletions not applied): " + q->text};
    co_return std::nullopt;
  }

  // Routes and delivers one message; fills `m`.
  net::awaitable<std::optional<Failure>> handle(const std::string& raw, MessageLog& m, bool dedup) {
    const std::string by = c_.name;
    Route route = c_.defect == Defect::none ? route_message(c_, raw, by)
                                            : route_with_defect(c_, raw, by);
    m.mail_from = route.mail_from;
    m.notes.insert(m.notes.end(), route.notes.begin(), route.notes.end());
    m.alert = route.alert;
    std::string key;
    if (dedup) {
      auto h = mail::parse_header_section(raw);
      std::string mid;
      if (h.ok())
        if (const mail::Field* f = mail::find_first(*h, "Message-ID")) mid = f->unfolded();
      // Digest over the message without the provider's stamps, so a re-presented copy with
      // a new UIDL matches; a different mail with the same Message-ID does not.
      // A provider storing one copy per recipient hands out the same mail several times with
      // different envelope headers: the key is per recipient, so those are all delivered.
      if (!mid.empty()) key = mid + " " + base::sha256_hex(h.ok() ? std::string_view(h->body) : raw);
    }
    std::vector<std::string> todo;
    const auto& done = state_.progress[m.uidl];
    std::vector<std::string> dup;
    for (const auto& r : route.recipients) {
      if (done.count(r)) continue;
      if (!key.empty() && state_.delivered_keys.count(key + " " + r)) {
        dup.push_back(r);
        continue;
      }
      todo.push_back(r);
    }
    if (!dup.empty())
      m.notes.push_back("already delivered (Message-ID + digest) to " + join(dup));
    if (todo.empty()) {
      m.skipped = true;
      co_return std::nullopt;
    }
    if (auto f = co_await smtp_.open()) co_return f;
    std::string error;
    auto results = co_await smtp_.deliver(route.mail_from, todo, route.message, error);
    std::vector<std::string> bounced;
    for (const auto& r : results) {
      if (r.code >= 200 && r.code < 300) {
        m.delivered.push_back(r.rcpt);
        if (!m.uidl.empty()) state_.progress[m.uidl].insert(r.rcpt);
        const std::int64_t at = f_.clock_.now().count();
        if (!key.empty()) state_.delivered_keys.emplace(key + " " + r.rcpt, at);
        if (log_) {
          // Durable before the next message: a crash from here on does not re-send to r.
          auto saved = log_->delivered(m.uidl, r.rcpt, key, at);
          if (!saved.ok()) co_return Failure{Outcome::state_error, saved.error().message};
        }
      } else if (r.code >= 500) {
        m.notes.push_back(fmt::format("{}: refused {} {}", r.rcpt, r.code, r.text));
        bounced.push_back(r.rcpt);
      } else {
        m.notes.push_back(fmt::format("{}: deferred {} {}", r.rcpt, r.code, r.text));
        m.deferred.push_back(r.rcpt);
      }
    }
    // 5xx: to the fallback mailbox once (never a bounce to the outside: backscatter).
    // The SBS connector model has no fallback mailbox: refused recipients are just failed.
    const std::string fb = c_.defect == Defect::sbs_connector ? std::string() : c_.routing.fallback;
    if (!bounced.empty()) {
      if (!fb.empty() && std::find(bounced.begin(), bounced.end(), fb) == bounced.end() &&
          std::find(m.delivered.begin(), m.delivered.end(), fb) == m.delivered.end()) {
        const std::vector<std::string> fb_list{fb};
        auto fr = co_await smtp_.deliver(route.mail_from, fb_list, route.message, error);
        if (!fr.empty() && fr[0].code >= 200 && fr[0].code < 300) {
          m.delivered.push_back(fb);
          m.notes.push_back(fb + ": fallback for refused recipients");
        } else if (!fr.empty() && fr[0].code < 500) {
          m.deferred.push_back(fb);
        } else {
          m.failed.insert(m.failed.end(), bounced.begin(), bounced.end());
        }
      } else {
        m.failed.insert(m.failed.end(), bounced.begin(), bounced.end());
      }
      m.alert = true;
    }
    co_return std::nullopt;
  }

  static std::string md5_hex(const std::string& s);

  Fetcher& f_;
  const Config& c_;
  asio::any_io_executor ex_;
  net::Connection pop_;
  SmtpSession smtp_;
  AccountState state_;
  std::optional<StateLog> log_;
  std::set<std::string> listed_uidls_;  // UIDLs the server listed this cycle
  std::string err_;
};

}  // namespace dropcheck::fetcher

#include <openssl/evp.h>

namespace dropcheck::fetcher {
namespace asio = net::asio;
namespace ssl = net::ssl;

std::string Fetcher::Cycle::md5_hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

Fetcher::Fetcher(Config config, const base::Clock& clock, LogFn log, Hooks hooks)
    : config_(std::move(config)), clock_(clock), log_(std::move(log)), hooks_(std::move(hooks)) {}

Fetcher::~Fetcher() = default;

net::awaitable<CycleResult> Fetcher::run_cycle() {
  auto ex = co_await asio::this_coro::executor;
  Cycle cycle(*this, ex);
  co_return co_await cycle.run();
}

CycleResult Fetcher::run_cycle_blocking() {
  asio::io_context io;
  CycleResult result;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        result = co_await run_cycle();
        done = true;
      },
      [&](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  if (!done) {
    result.outcome = Outcome::pop3_error;
    result.detail = "cycle did not complete";
  }
  return result;
}

std::string describe(const MessageLog& m) {
  std::string notes;
  for (const auto& n : m.notes) notes += (notes.empty() ? "" : "; ") + n;
  return fmt::format(
      "event=message n={} uidl={} size={} from=<{}> delivered={} deferred={} failed={} "
      "skipped={} deleted={} alert={} why=\"{}\"",
      m.number, m.uidl.empty() ? "-" : m.uidl, m.size, m.mail_from, join(m.delivered),
      join(m.deferred), join(m.failed), m.skipped ? "yes" : "no", m.deleted ? "yes" : "no",
      m.alert ? "yes" : "no", notes);
}

}  // namespace dropcheck::fetcher

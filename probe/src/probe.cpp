// The probe's I/O: the read-only sessions and active mode's sending and
// polling. Everything it learns goes into a Report; infer() (infer.cpp) turns
// that into answers and a profile.
#include "probe/probe.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "base/strings.hpp"
#include "probe/pop3_client.hpp"
#include "protocol/pop3_capa.hpp"
#include "protocol/pop3_server.hpp"
#include "smtp_sender.hpp"

namespace dropcheck::probe {

namespace asio = net::asio;
namespace ssl = net::ssl;

std::string_view to_string(TlsMode m) {
  switch (m) {
  case TlsMode::none:
    return "none";
  case TlsMode::stls:
    return "stls";
  case TlsMode::implicit:
    return "implicit";
  }
  return "?";
}

std::string_view to_string(LoginResult r) {
  switch (r) {
  case LoginResult::not_tried:
    return "not-tried";
  case LoginResult::ok:
    return "ok";
  case LoginResult::in_use:
    return "in-use";
  case LoginResult::login_delay:
    return "login-delay";
  case LoginResult::auth_failed:
    return "auth-failed";
  case LoginResult::temp_failure:
    return "temp-failure";
  case LoginResult::io_error:
    return "io-error";
  }
  return "?";
}

std::string_view to_string(Verdict v) {
  switch (v) {
  case Verdict::pass:
    return "pass";
  case Verdict::warn:
    return "warn";
  case Verdict::fail:
    return "fail";
  case Verdict::unknown:
    return "unknown";
  case Verdict::info:
    return "info";
  }
  return "?";
}

base::Result<Endpoint> parse_host_port(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return base::make_error(
        "bad-endpoint",
        fmt::format("'{}': {} (expected HOST:PORT)", text, why));
  };
  Endpoint ep;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':')
      return bad("unterminated [address]");
    ep.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return bad("no port");
    ep.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (ep.host.find(':') != std::string::npos)
      return bad("IPv6 addresses go in [brackets]");
  }
  if (ep.host.empty())
    return bad("no host");
  unsigned value = 0;
  if (port.empty() || port.size() > 5)
    return bad("bad port");
  for (char c : port) {
    if (c < '0' || c > '9')
      return bad("bad port");
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535)
    return bad("port out of range");
  ep.port = static_cast<std::uint16_t>(value);
  return ep;
}

namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                      reinterpret_cast<const unsigned char *>(in.data()),
                      static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string random_tag() {
  std::random_device rd;
  return fmt::format("{:08x}{:04x}", rd(), rd() & 0xffffu);
}

std::string rfc5322_date() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

LoginResult classify_refusal(const protocol::Pop3Status &st) {
  const std::string &code = st.resp_code;
  if (code == "IN-USE")
    return LoginResult::in_use;
  if (code == "LOGIN-DELAY")
    return LoginResult::login_delay;
  if (code == "SYS/TEMP")
    return LoginResult::temp_failure;
  if (code == "AUTH" || code == "SYS/PERM")
    return LoginResult::auth_failed;
  // No response code (RFC 2449 8 is optional): the usual wordings.
  const std::string t = base::to_lower(st.text);
  if (t.find("in use") != std::string::npos ||
      t.find("lock") != std::string::npos ||
      t.find("busy") != std::string::npos)
    return LoginResult::in_use;
  if (t.find("delay") != std::string::npos ||
      t.find("too soon") != std::string::npos ||
      t.find("too often") != std::string::npos)
    return LoginResult::login_delay;
  return LoginResult::auth_failed;
}

struct TestMail {
  TestCase c;
  std::string message;
};

class Run {
public:
  Run(Options o, asio::any_io_executor ex)
      : o_(std::move(o)), ex_(ex), budget_(o_.max_commands, o_.run_limit) {}

  net::awaitable<Report> go() {
    Report &r = report_;
    r.target = fmt::format("{}:{}", o_.pop3.host, o_.pop3.port);
    r.host = o_.pop3.host;
    r.port = o_.pop3.port;
    r.mode = o_.send_tests ? "active" : "read-only";
    r.started_at = rfc5322_date();
    r.ca_file = o_.ca_file;
    r.insecure = o_.insecure;
    r.password_file = o_.password_file;
    r.domain = base::to_lower(o_.domain);
    r.tls_mode = o_.tls;
    co_await read_only();
    if (o_.send_tests && r.error.empty())
      co_await active();
    r.pop3.commands = budget_.used();
    infer(r);
    co_return std::move(report_);
  }

private:
  // Server text with the credentials cut out (some servers echo the user name).
  std::string scrub(std::string s) const {
    for (const std::string *secret : {&o_.password, &o_.user}) {
      if (secret->size() < 3)
        continue; // too short to cut without mangling the text
      for (auto pos = s.find(*secret); pos != std::string::npos;
           pos = s.find(*secret, pos))
        s.replace(pos, secret->size(), "***");
    }
    return s;
  }
  void log(const std::string &line) const {
    if (o_.log)
      o_.log(scrub(line));
  }
  void fail(const std::string &why) {
    if (report_.error.empty())
      report_.error = scrub(why);
    log(fmt::format("event=probe-stopped reason=\"{}\"", why));
  }

  // TLS on `c` now; the first time the certificate is checked even with
  // --insecure, so the report can say whether it verifies. Returns false when
  // the session cannot go on.
  net::awaitable<bool> tls_up(Pop3Client &c, bool first, bool &retry_insecure) {
    Pop3Facts &f = report_.pop3;
    const bool verify = !skip_verify_;
    ssl::context ctx(ssl::context::tls_client);
    try {
      ctx = make_client_tls(o_.ca_file, verify);
    } catch (const std::exception &e) {
      fail(fmt::format("cannot load CA file {}: {}", o_.ca_file, e.what()));
      co_return false;
    }
    if (co_await c.handshake(ctx, o_.pop3.host)) {
      if (first && verify)
        f.cert_valid = true;
      co_return true;
    }
    const bool cert = c.error().find("certificate") != std::string::npos;
    if (first && verify && cert) {
      f.cert_valid = false;
      f.cert_error = c.error();
      if (o_.insecure) {
        skip_verify_ = true;
        retry_insecure = true;
        log("event=tls-certificate-invalid action=continue-insecure");
        co_return false;
      }
      fail(c.error() + " -- not logging in over an unverified connection (use "
                       "--ca-file F or --insecure)");
      co_return false;
    }
    fail(c.error());
    co_return false;
  }

  // Connect, greet, CAPA (first session), TLS, log in. nullptr when not logged
  // in; `attempt` says why. `first` records what the server offers.
  net::awaitable<std::unique_ptr<Pop3Client>> open(bool first,
                                                   LoginAttempt &attempt) {
    for (int round = 0; round < 2;
         ++round) { // second round: after an invalid certificate
      bool retry = false;
      auto c = co_await open_once(first, attempt, retry);
      if (c || !retry)
        co_return c;
    }
    co_return nullptr;
  }

  net::awaitable<std::unique_ptr<Pop3Client>>
  open_once(bool first, LoginAttempt &attempt, bool &retry_insecure) {
    Pop3Facts &f = report_.pop3;
    auto c = std::make_unique<Pop3Client>(ex_, budget_, o_.timeout);
    attempt.result = LoginResult::io_error;
    if (!co_await c->connect(o_.pop3)) {
      attempt.text = scrub(c->error());
      if (first)
        fail(c->error());
      co_return nullptr;
    }
    if (first)
      f.connected = true;
    if (o_.tls == TlsMode::implicit) {
      if (first)
        f.implicit_tls = true;
      if (!co_await tls_up(*c, first, retry_insecure)) {
        attempt.text = scrub(c->error());
        co_return nullptr;
      }
    }
    auto greet = co_await c->greeting();
    if (!greet || !greet->ok) {
      const std::string why =
          greet ? "greeting: -ERR " + greet->text : c->error();
      attempt.text = scrub(why);
      if (first)
        fail(why);
      co_return nullptr;
    }
    const std::string stamp = protocol::apop_timestamp(greet->text);
    if (first) {
      f.greeting = scrub(greet->text);
      f.apop_offered = !stamp.empty();
    }
    if (first) {
      if (!co_await capa(*c, f.capa))
        co_return nullptr;
      if (!c->tls())
        f.capa_before_tls = f.capa;
    }
    const protocol::Pop3Capabilities caps{f.capa};
    if (first && !c->tls()) {
      f.stls_offered = caps.has("STLS");
      f.user_offered_in_clear = caps.has("USER");
    }
    const bool want_stls =
        !c->tls() && (o_.tls == TlsMode::stls || f.stls_offered);
    if (want_stls) {
      auto s = co_await c->command("STLS");
      if (!s || !s->ok) {
        const std::string why = s ? "STLS refused: " + s->text : c->error();
        attempt.text = scrub(why);
        fail(why);
        co_return nullptr;
      }
      if (!co_await tls_up(*c, first, retry_insecure)) {
        attempt.text = scrub(c->error());
        co_return nullptr;
      }
      if (first) {
        f.stls_used = true;
        // RFC 2595 4: the client must discard what it knew before TLS.
        if (f.capa_supported && !co_await capa(*c, f.capa))
          co_return nullptr;
      }
    }
    if (first) {
      f.tls = c->tls();
      const protocol::Pop3Capabilities now{f.capa};
      f.user_offered = now.has("USER") || !f.capa_supported;
      f.sasl = now.sasl_mechanisms();
      f.resp_codes = now.has("RESP-CODES");
      f.pipelining = now.has("PIPELINING");
      if (auto e = now.argument("EXPIRE"))
        f.expire = *e;
      if (auto d = now.argument("LOGIN-DELAY"))
        set_login_delay(*d);
      if (c->tls())
        report_.tls_mode = f.implicit_tls ? TlsMode::implicit : TlsMode::stls;
    }
    if (!co_await login(*c, stamp, attempt))
      co_return nullptr;
    co_return c;
  }

  void set_login_delay(const std::string &arg) {
    const auto first_word = arg.substr(0, arg.find(' '));
    try {
      report_.pop3.login_delay_advertised = std::stoll(first_word);
    } catch (const std::exception &) {
      report_.notes.push_back("unparsable LOGIN-DELAY argument: " + scrub(arg));
    }
  }

  net::awaitable<bool> capa(Pop3Client &c, std::vector<std::string> &into) {
    auto st = co_await c.command("CAPA");
    if (!st) {
      fail(c.error());
      co_return false;
    }
    if (!st->ok) {
      report_.pop3.capa_supported = false;
      co_return true;
    }
    auto body = co_await c.multiline(64 * 1024);
    if (!body) {
      fail("CAPA: " + c.error());
      co_return false;
    }
    report_.pop3.capa_supported = true;
    into = protocol::parse_pop3_capa(*body).lines;
    co_return true;
  }

  net::awaitable<bool> login(Pop3Client &c, const std::string &stamp,
                             LoginAttempt &attempt) {
    const Pop3Facts &f = report_.pop3;
    const bool protected_channel = c.tls();
    const bool sasl_plain =
        std::find(f.sasl.begin(), f.sasl.end(), "PLAIN") != f.sasl.end();
    std::optional<protocol::Pop3Status> st;
    if (!protected_channel && !stamp.empty()) {
      attempt.mechanism = "APOP";
      st = co_await c.command(
          fmt::format("APOP {} {}", o_.user,
                      protocol::apop_digest(stamp, o_.password)),
          true);
    } else if (!protected_channel && !o_.allow_plaintext) {
      attempt.result = LoginResult::not_tried;
      attempt.text =
          "no TLS and no APOP: password not sent in clear (--allow-plaintext)";
      fail(attempt.text);
      co_return false;
    } else if (f.user_offered || !sasl_plain) {
      attempt.mechanism = "USER";
      auto u = co_await c.command("USER " + o_.user, true);
      if (u && u->ok) {
        st = co_await c.command("PASS " + o_.password, true);
      } else {
        st = u;
      }
    } else {
      attempt.mechanism = "PLAIN";
      st = co_await c.command(
          "AUTH PLAIN " +
              base64(std::string(1, '\0') + o_.user + '\0' + o_.password),
          true);
    }
    if (!st) {
      attempt.result = LoginResult::io_error;
      attempt.text = scrub(c.error());
      co_return false;
    }
    attempt.resp_code = st->resp_code;
    attempt.text = scrub(st->text);
    attempt.result = st->ok ? LoginResult::ok : classify_refusal(*st);
    log(fmt::format("event=login mechanism={} tls={} result={}",
                    attempt.mechanism, c.tls() ? "yes" : "no",
                    to_string(attempt.result)));
    co_return st->ok;
  }

  // UIDL listing (numbers -> ids); empty when the server has no UIDL.
  net::awaitable<std::optional<std::map<std::size_t, std::string>>>
  uidls(Pop3Client &c) {
    std::map<std::size_t, std::string> out;
    auto st = co_await c.command("UIDL");
    if (!st)
      co_return std::nullopt;
    if (!st->ok)
      co_return out;
    auto body = co_await c.multiline(16 * 1024 * 1024);
    if (!body)
      co_return std::nullopt;
    for (auto &l : protocol::parse_scan_listing(*body))
      out[l.number] = std::move(l.value);
    report_.pop3.uidl = true;
    co_return out;
  }

  net::awaitable<std::optional<std::pair<std::size_t, std::uint64_t>>>
  stat(Pop3Client &c) {
    auto st = co_await c.command("STAT");
    if (!st || !st->ok)
      co_return std::nullopt;
    std::size_t n = 0;
    std::uint64_t octets = 0;
    const auto parts = base::split(base::trim(st->text), ' ');
    try {
      n = std::stoul(std::string(parts.at(0)));
      if (parts.size() > 1)
        octets = std::stoull(std::string(parts[1]));
    } catch (const std::exception &) {
      co_return std::nullopt;
    }
    co_return std::pair{n, octets};
  }

  // TOP n 0: the header section. nullopt on an I/O failure; `refused` on -ERR.
  net::awaitable<std::optional<MessageObservation>>
  top(Pop3Client &c, std::size_t n, bool &refused) {
    refused = false;
    auto st = co_await c.command(fmt::format("TOP {} 0", n));
    if (!st)
      co_return std::nullopt;
    if (!st->ok) {
      refused = true;
      co_return MessageObservation{};
    }
    auto body = co_await c.multiline(kMaxHeaderOctets);
    if (!body)
      co_return std::nullopt;
    auto o = observe_header(*body);
    o.number = n;
    co_return o;
  }

  net::awaitable<void> read_only() {
    Pop3Facts &f = report_.pop3;
    auto a = co_await open(true, f.login);
    if (!a) {
      if (report_.error.empty())
        fail(fmt::format("login refused ({}): {}", to_string(f.login.result),
                         f.login.text));
      co_return;
    }
    if (f.capa_supported) {
      if (co_await capa(*a, f.capa_after_login)) {
        const protocol::Pop3Capabilities after{f.capa_after_login};
        // RFC 2449 6.5: the value after login is the one that applies to this
        // user.
        if (auto d = after.argument("LOGIN-DELAY"))
          set_login_delay(*d);
        if (auto e = after.argument("EXPIRE"))
          f.expire = *e;
      }
    }
    auto s = co_await stat(*a);
    if (!s) {
      fail("STAT: " +
           (a->error().empty() ? std::string("refused") : a->error()));
      co_await a->quit();
      co_return;
    }
    f.message_count = s->first;
    f.maildrop_octets = s->second;
    auto ids = co_await uidls(*a);
    if (!ids) {
      fail("UIDL: " + a->error());
      co_return;
    }
    for (const auto &[n, id] : *ids)
      baseline_.insert(id);
    const std::size_t limit = std::min(f.message_count, o_.max_messages);
    f.top = true;
    for (std::size_t n = 1; n <= limit; ++n) {
      bool refused = false;
      auto o = co_await top(*a, n, refused);
      if (!o) {
        fail(fmt::format("TOP {} 0: {}", n, a->error()));
        co_return;
      }
      if (refused) {
        if (n == 1) {
          f.top = false;
          report_.notes.push_back(
              "TOP refused: the header sections could not be read");
          break;
        }
        continue; // deleted meanwhile by a concurrent session, or a broken
                  // message
      }
      if (auto it = ids->find(n); it != ids->end())
        o->uidl = it->second;
      report_.messages.push_back(std::move(*o));
      ++f.examined;
    }
    if (f.message_count > limit)
      report_.notes.push_back(
          fmt::format("examined the first {} of {} messages (--max-messages)",
                      limit, f.message_count));
    // Overlapping cycles: a second session while this one holds the maildrop.
    if (auto b = co_await open(false, f.concurrent))
      co_await b->quit();
    co_await a->quit();
    // Login delay: a new login right after the first session ended.
    if (auto c = co_await open(false, f.second_login))
      co_await c->quit();
  }

  // --- active mode
  // ------------------------------------------------------------------------

  std::vector<TestMail> build_cases(const std::string &tag) const {
    const std::string d = base::to_lower(o_.domain);
    const std::string from = o_.from.empty() ? "dropcheck-probe@" + d : o_.from;
    const auto local = [&](char who) {
      return fmt::format("dc-{}-{}@{}", tag, who, d);
    };
    const std::string a = local('a'), b = local('b'), c = local('c');
    struct Spec {
      const char *id;
      const char *what;
      std::string mail_from;
      std::vector<std::string> rcpts, bcc;
      std::string to, cc;
      bool dsn = false;
    };
    const std::vector<Spec> specs = {
        {"to-only", "one local recipient in To", from, {a}, {}, a, ""},
        {"cc-foreign",
         "local To, Cc to a foreign address (never in the envelope)",
         from,
         {a},
         {},
         a,
         o_.foreign_address},
        {"bcc-local",
         "local To plus a local Bcc recipient",
         from,
         {a, b},
         {b},
         a,
         ""},
        {"bcc-only",
         "a local Bcc recipient only",
         from,
         {c},
         {c},
         "undisclosed-recipients:;",
         ""},
        {"multi-local",
         "three local recipients in To",
         from,
         {a, b, c},
         {},
         a + ", " + b + ", " + c,
         ""},
        {"null-sender",
         "a delivery status notification with MAIL FROM:<>",
         "",
         {a},
         {},
         a,
         "",
         true},
    };
    std::vector<TestMail> out;
    const std::string date = rfc5322_date();
    for (const auto &s : specs) {
      TestMail m;
      m.c.id = s.id;
      m.c.description = s.what;
      m.c.mail_from = s.mail_from;
      m.c.rcpts = s.rcpts;
      m.c.bcc = s.bcc;
      m.c.message_id =
          fmt::format("<{}.{}@dropcheck-probe.invalid>", s.id, tag);
      std::string h;
      h += s.dsn ? fmt::format(
                       "From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", d)
                 : fmt::format("From: dropcheck probe <{}>\r\n", from);
      h += "To: " + s.to + "\r\n";
      if (!s.cc.empty())
        h += "Cc: " + s.cc + "\r\n";
      h += fmt::format("Subject: [dropcheck-probe {}] {}: {}\r\n", tag, s.id,
                       s.what);
      h += "Date: " + date + "\r\n";
      h += "Message-ID: " + m.c.message_id + "\r\n";
      h += fmt::format("X-Dropcheck-Probe: {} {}\r\n", tag, s.id);
      h += "MIME-Version: 1.0\r\n";
      if (s.dsn) {
        const std::string bnd = "dropcheck-" + tag;
        h += fmt::format(
            "Content-Type: multipart/report; report-type=delivery-status; "
            "boundary=\"{}\"\r\n"
            "Auto-Submitted: auto-replied\r\n\r\n"
            "--{}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "Test delivery status notification from dropcheck probe {} (null "
            "sender).\r\n\r\n"
            "--{}\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; dropcheck-probe.invalid\r\n\r\n"
            "Final-Recipient: rfc822; {}\r\nAction: delivered\r\nStatus: "
            "2.0.0\r\n\r\n"
            "--{}--\r\n",
            bnd, bnd, tag, bnd, a, bnd);
      } else {
        h += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
        h += fmt::format("Test mail of dropcheck probe run {} (case "
                         "{}).\r\nEnvelope recipients: {}.\r\n"
                         "It may be deleted.\r\n",
                         tag, s.id, fmt::join(s.rcpts, ", "));
      }
      m.message = std::move(h);
      out.push_back(std::move(m));
    }
    return out;
  }

  // The case a tagged copy belongs to, or nullptr (not ours).
  TestCase *case_of(ActiveResult &ar, const MessageObservation &o) {
    const auto parts = base::split(base::trim(o.probe_tag), ' ');
    if (parts.size() != 2 || parts[0] != ar.tag)
      return nullptr;
    for (auto &c : ar.cases)
      if (c.id == parts[1])
        return &c;
    return nullptr;
  }

  static bool covered(const TestCase &c) {
    if (c.copies.empty())
      return false;
    if (c.copies.size() >= c.rcpts.size())
      return true;
    std::set<std::string> named;
    for (const auto &copy : c.copies)
      for (const auto &f : copy.envelope_fields)
        for (const auto &a : addresses_in(f.value))
          named.insert(strip_qmail_prefix(a));
    return std::all_of(
        c.rcpts.begin(), c.rcpts.end(),
        [&](const std::string &r) { return named.count(r) > 0; });
  }

  net::awaitable<void> wait(std::chrono::milliseconds d) {
    if (o_.wait) {
      co_await o_.wait(d);
      co_return;
    }
    asio::steady_timer t(ex_, d);
    net::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  net::awaitable<void> active() {
    report_.active.emplace();
    ActiveResult &ar = *report_.active;
    ar.tag = o_.tag.empty() ? random_tag() : o_.tag;
    auto mails = build_cases(ar.tag);
    {
      SmtpSender s(ex_, budget_, o_.timeout);
      if (!co_await s.open(o_.smtp, o_.helo)) {
        ar.error = scrub(s.error());
        for (auto &m : mails)
          ar.cases.push_back(std::move(m.c));
        co_return;
      }
      for (auto &m : mails) {
        auto rep = co_await s.send(m.c.mail_from, m.c.rcpts, m.message);
        m.c.smtp_code = rep.code;
        m.c.smtp_text = scrub(rep.text());
        log(fmt::format("event=test-mail case={} smtp={}", m.c.id, rep.code));
        ar.cases.push_back(std::move(m.c));
      }
      co_await s.quit();
    }
    const bool any_sent =
        std::any_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &c) {
          return c.smtp_code >= 200 && c.smtp_code < 300;
        });
    if (!any_sent) {
      ar.error = "the MX accepted none of the test mails";
      co_return;
    }
    // Polls log in: never faster than the provider allows.
    auto interval = o_.poll_interval;
    if (report_.pop3.login_delay_advertised &&
        *report_.pop3.login_delay_advertised > 0)
      interval = std::max<std::chrono::milliseconds>(
          interval,
          std::chrono::seconds(*report_.pop3.login_delay_advertised + 1));
    std::set<std::string> ours; // UIDLs of tagged copies already recorded
    int all_seen_at = -1;
    const int attempts = std::max(1, o_.poll_attempts);
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      co_await wait(interval);
      if (budget_.expired()) {
        ar.error = "run time limit reached while polling";
        break;
      }
      ++ar.polls;
      LoginAttempt la;
      auto c = co_await open(false, la);
      if (!c) {
        log(fmt::format("event=poll n={} login={}", attempt,
                        to_string(la.result)));
        if (la.result == LoginResult::auth_failed ||
            la.result == LoginResult::not_tried) {
          ar.error = "poll login refused: " + la.text;
          break;
        }
        continue;
      }
      auto ids = co_await uidls(*c);
      auto st = co_await stat(*c);
      if (!ids || !st) {
        ar.error = "poll: " + c->error();
        break;
      }
      const std::size_t n_msgs = st->first;
      // Newest last: look from the end, at most max_messages.
      const std::size_t low =
          n_msgs > o_.max_messages ? n_msgs - o_.max_messages : 0;
      std::vector<std::size_t> tagged_here;
      for (std::size_t n = n_msgs; n > low; --n) {
        const auto it = ids->find(n);
        const std::string id = it != ids->end() ? it->second : "";
        if (!id.empty() && baseline_.count(id) && !ours.count(id))
          continue;
        bool refused = false;
        auto o = co_await top(*c, n, refused);
        if (!o)
          break;
        if (refused)
          continue;
        o->uidl = id;
        TestCase *tc = case_of(ar, *o);
        if (!tc) {
          if (!id.empty())
            baseline_.insert(id);
          continue;
        }
        tagged_here.push_back(n);
        const std::string key =
            id.empty() ? o->probe_tag + "|" + std::to_string(n) : id;
        if (ours.insert(key).second)
          tc->copies.push_back(std::move(*o));
        if (!id.empty())
          baseline_.insert(id);
      }
      const bool all_seen =
          std::all_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &t) {
            return t.smtp_code < 200 || t.smtp_code >= 300 || !t.copies.empty();
          });
      const bool all_covered =
          std::all_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &t) {
            return t.smtp_code < 200 || t.smtp_code >= 300 || covered(t);
          });
      if (all_seen && all_seen_at < 0)
        all_seen_at = attempt;
      // Without an envelope header coverage cannot be shown: one more poll,
      // then settle.
      const bool done =
          all_covered || (all_seen_at > 0 && attempt > all_seen_at);
      ar.complete = all_covered;
      log(fmt::format("event=poll n={} messages={} tagged={} done={}", attempt,
                      n_msgs, tagged_here.size(), done ? "yes" : "no"));
      if ((done || attempt == attempts) && o_.cleanup)
        co_await cleanup(*c, ar, tagged_here);
      co_await c->quit();
      if (done)
        break;
    }
  }

  // DELE exactly the copies that carry this run's tag, re-checked with TOP in
  // this session.
  net::awaitable<void> cleanup(Pop3Client &c, ActiveResult &ar,
                               const std::vector<std::size_t> &ns) {
    for (const std::size_t n : ns) {
      bool refused = false;
      auto o = co_await top(c, n, refused);
      if (!o || refused || !case_of(ar, *o))
        continue;
      auto d = co_await c.command(fmt::format("DELE {}", n));
      if (d && d->ok)
        ++ar.deleted;
    }
    log(fmt::format("event=cleanup deleted={}", ar.deleted));
  }

  Options o_;
  asio::any_io_executor ex_;
  Budget budget_;
  Report report_;
  bool skip_verify_ = false;
  std::set<std::string> baseline_; // UIDLs that are not ours
};

} // namespace

net::awaitable<Report> run_probe(Options options) {
  auto ex = co_await asio::this_coro::executor;
  Run run(std::move(options), ex);
  co_return co_await run.go();
}

Report run_probe_blocking(Options options) {
  asio::io_context io;
  Report result;
  bool done = false;
  const auto limit = options.run_limit + options.timeout;
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        result = co_await run_probe(std::move(options));
        done = true;
      },
      [](std::exception_ptr e) {
        if (e)
          std::rethrow_exception(e);
      });
  io.run_for(limit);
  if (!done) {
    result.error = "the probe did not finish within its time limit";
    infer(result);
  }
  return result;
}

} // namespace dropcheck::probe

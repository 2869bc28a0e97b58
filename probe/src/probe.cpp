// The probe's I/O: the read-only sessions and active mode's sending and
// polling. Everything it learns goes into a Report; infer() (infer.cpp) turns
// that into answers and a profile.
#include "probe/probe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "base/strings.hpp"
#include "client/pop3.hpp"
#include "client/smtp.hpp"
#include "probe/budget.hpp"
#include "protocol/pop3_capa.hpp"

namespace dropcheck::probe {

namespace asio = net::asio;
using client::Pop3Client;

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
    return base::make_error("bad-endpoint",
                            fmt::format("'{}': {} (expected HOST:PORT)", text, why));
  };
  Endpoint ep;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("unterminated [address]");
    ep.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    ep.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (ep.host.find(':') != std::string::npos) return bad("IPv6 addresses go in [brackets]");
  }
  if (ep.host.empty()) return bad("no host");
  unsigned value = 0;
  if (port.empty() || port.size() > 5) return bad("bad port");
  for (char c : port) {
    if (c < '0' || c > '9') return bad("bad port");
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return bad("port out of range");
  ep.port = static_cast<std::uint16_t>(value);
  return ep;
}

LoginResult classify_refusal(const protocol::Pop3Status &st) {
  const std::string &code = st.resp_code;
  if (code == "IN-USE") return LoginResult::in_use;
  if (code == "LOGIN-DELAY") return LoginResult::login_delay;
  if (code == "SYS/TEMP") return LoginResult::temp_failure;
  if (code == "AUTH" || code == "SYS/PERM") return LoginResult::auth_failed;
  // No response code (RFC 2449 8 is optional): the usual wordings. An account
  // that is locked or disabled is refused, whatever it says about locking.
  const std::string t = base::to_lower(st.text);
  const auto has = [&t](std::string_view w) { return t.find(w) != std::string::npos; };
  if (has("account") && (has("lock") || has("disabled") || has("suspended") || has("blocked")))
    return LoginResult::auth_failed;
  if (t.find("in use") != std::string::npos || t.find("lock") != std::string::npos ||
      t.find("busy") != std::string::npos)
    return LoginResult::in_use;
  if (t.find("delay") != std::string::npos || t.find("too soon") != std::string::npos ||
      t.find("too often") != std::string::npos)
    return LoginResult::login_delay;
  return LoginResult::auth_failed;
}

namespace {

// The mechanism as the report names it: "USER", "APOP", "PLAIN".
std::string mechanism_name(client::Auth a) {
  std::string s(client::to_string(a));
  for (char &ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// What decided a test mail: a refused recipient makes the whole case unsent (a
// partly accepted test mail would mislead the classification); a lost
// connection is code 0.
std::pair<int, std::string> smtp_outcome(const client::Transaction &t) {
  if (!t.error.empty()) return {0, t.error};
  for (const auto &r : t.rcpts)
    if (r.code < 200 || r.code >= 300) return {r.code, r.text};
  return {t.decisive.code, t.decisive.text()};
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
    if (o_.send_tests && r.error.empty()) co_await active();
    r.pop3.commands = budget_.used();
    infer(r);
    co_return std::move(report_);
  }

 private:
  // Server text with the credentials cut out (some servers echo the user name).
  std::string scrub(std::string s) const {
    for (const std::string *secret : {&o_.password, &o_.user}) {
      if (secret->size() < 3) continue;  // too short to cut without mangling the text
      for (auto pos = s.find(*secret); pos != std::string::npos; pos = s.find(*secret, pos))
        s.replace(pos, secret->size(), "***");
    }
    return s;
  }
  void log(const std::string &line) const {
    if (o_.log) o_.log(scrub(line));
  }
  void note(const std::string &text) {
    auto &notes = report_.notes;
    if (std::find(notes.begin(), notes.end(), text) == notes.end()) notes.push_back(text);
  }
  void fail(const std::string &why) {
    if (report_.error.empty()) report_.error = scrub(why);
    log(fmt::format("event=probe-stopped reason=\"{}\"", why));
  }

  // A client for one session, every command counted against the run's budget;
  // the certificate is checked unless --insecure already let a rejected one pass.
  std::unique_ptr<Pop3Client> new_client() {
    client::Pop3Options co;
    co.server = o_.pop3;
    co.tls = o_.tls;
    co.tls_settings = {!skip_verify_, o_.ca_file};
    co.timeout = o_.timeout;
    co.before_command = [this](std::string &why) { return budget_.take(why); };
    auto c = std::make_unique<Pop3Client>(ex_, std::move(co));
    c->set_deadline(budget_.deadline());  // reads end with the run, too
    return c;
  }

  // A verified handshake in the first session shows the certificate is valid.
  void tls_up(const Pop3Client &c, bool first) {
    if (first && c.tls() && !skip_verify_) report_.pop3.cert_valid = true;
  }

  // A failed handshake. A rejected certificate is recorded the first time,
  // even with --insecure, so the report can say whether it verifies; with
  // --insecure the session is then retried without the check.
  void tls_failed(const Pop3Client &c, bool first, bool &retry_insecure) {
    Pop3Facts &f = report_.pop3;
    if (first && f.tls_error.empty()) f.tls_error = scrub(c.error());
    if (!(first && !skip_verify_ && c.certificate_rejected())) {
      fail(c.error());
      return;
    }
    f.cert_valid = false;
    f.cert_error = c.error();
    if (!o_.insecure) {
      fail(c.error() +
           " -- not logging in over an unverified connection (use "
           "--ca-file F or --insecure)");
      return;
    }
    skip_verify_ = true;
    retry_insecure = true;
    log("event=tls-certificate-invalid action=continue-insecure");
  }

  // The first connect() failed after TCP: with implicit TLS, anything but the
  // greeting is the handshake (client/pop3.cpp names greeting errors so).
  void fail_connect(const Pop3Client &c) {
    const bool greeting = c.error().starts_with("greeting");
    if (c.reached() && o_.tls == TlsMode::implicit && !greeting)
      report_.pop3.tls_error = scrub(c.error());
    fail(c.error());
  }

  // Connect, greet, CAPA (first session), TLS, log in. nullptr when not logged
  // in; `attempt` says why. `first` records what the server offers.
  net::awaitable<std::unique_ptr<Pop3Client>> open(bool first, LoginAttempt &attempt) {
    for (int round = 0; round < 2; ++round) {  // second round: after an invalid certificate
      bool retry = false;
      auto c = co_await open_once(first, attempt, retry);
      if (c || !retry) co_return c;
    }
    co_return nullptr;
  }

  net::awaitable<std::unique_ptr<Pop3Client>> open_once(bool first, LoginAttempt &attempt,
                                                        bool &retry_insecure) {
    Pop3Facts &f = report_.pop3;
    auto c = new_client();
    attempt.result = LoginResult::io_error;
    const bool up = co_await c->connect();  // TCP, implicit TLS, greeting
    if (first && c->reached()) {
      f.connected = true;
      f.implicit_tls = o_.tls == TlsMode::implicit;
    }
    if (!up) {
      attempt.text = scrub(c->error());
      if (c->certificate_rejected())
        tls_failed(*c, first, retry_insecure);
      else if (first)
        fail_connect(*c);
      co_return nullptr;
    }
    tls_up(*c, first);
    // One co_await per statement: GCC 12 miscompiles co_await inside
    // conditions.
    bool ok = !first;
    if (first) ok = co_await first_capa(*c);
    if (!ok) co_return nullptr;
    const bool want_stls = !c->tls() && (o_.tls == TlsMode::stls || f.stls_offered);
    if (want_stls) ok = co_await stls(*c, first, attempt, retry_insecure);
    if (!ok) co_return nullptr;
    if (first) record_capabilities(*c);
    ok = co_await login(*c, attempt);
    if (!ok && c->open()) co_await c->quit();  // a refused login still ends the session properly
    if (!ok) co_return nullptr;
    co_return c;
  }

  // The greeting and the first CAPA: what the server offers in the clear.
  net::awaitable<bool> first_capa(Pop3Client &c) {
    Pop3Facts &f = report_.pop3;
    f.greeting = scrub(c.greeting().text);
    f.apop_offered = !protocol::apop_timestamp(c.greeting().text).empty();
    const bool ok = co_await capa(c, f.capa);
    if (!ok) co_return false;
    if (!c.tls()) {
      f.capa_before_tls = f.capa;
      const protocol::Pop3Capabilities caps{f.capa};
      f.stls_offered = caps.has("STLS");
      f.user_offered_in_clear = caps.has("USER");
    }
    co_return true;
  }

  // STLS, the handshake and CAPA again (the client discards what it knew
  // before TLS, RFC 2595 4).
  net::awaitable<bool> stls(Pop3Client &c, bool first, LoginAttempt &attempt,
                            bool &retry_insecure) {
    const bool up = co_await c.stls();
    if (!up) {
      attempt.text = scrub(c.error());
      if (c.certificate_rejected()) {
        tls_failed(c, first, retry_insecure);
      } else {
        if (first && report_.pop3.tls_error.empty()) report_.pop3.tls_error = scrub(c.error());
        fail(c.error());
      }
      co_return false;
    }
    tls_up(c, first);
    if (first) {
      report_.pop3.stls_used = true;
      report_.pop3.capa_supported = c.capa_supported();
      report_.pop3.capa = c.capabilities().lines;
    }
    co_return true;
  }

  // What the first session ends up with before login.
  void record_capabilities(const Pop3Client &c) {
    Pop3Facts &f = report_.pop3;
    f.tls = c.tls();
    const protocol::Pop3Capabilities now{f.capa};
    f.user_offered = now.has("USER") || !f.capa_supported;
    f.sasl = now.sasl_mechanisms();
    f.resp_codes = now.has("RESP-CODES");
    f.pipelining = now.has("PIPELINING");
    if (auto e = now.argument("EXPIRE")) f.expire = *e;
    if (auto d = now.argument("LOGIN-DELAY")) set_login_delay(*d);
    if (c.tls()) report_.tls_mode = f.implicit_tls ? TlsMode::implicit : TlsMode::stls;
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
    const bool ok = co_await c.capa();
    if (!ok) {
      fail(c.error());
      co_return false;
    }
    report_.pop3.capa_supported = c.capa_supported();
    if (c.capa_supported()) into = c.capabilities().lines;
    co_return true;
  }

  // The probe's order: APOP without TLS when offered; no password in clear
  // without --allow-plaintext; USER/PASS when offered (or no SASL PLAIN); else
  // SASL PLAIN.
  std::optional<client::Auth> choose_auth(const Pop3Client &c) const {
    const Pop3Facts &f = report_.pop3;
    const bool apop = !protocol::apop_timestamp(c.greeting().text).empty();
    const bool sasl_plain = std::find(f.sasl.begin(), f.sasl.end(), "PLAIN") != f.sasl.end();
    if (!c.tls() && apop) return client::Auth::apop;
    if (!c.tls() && !o_.allow_plaintext) return std::nullopt;
    if (f.user_offered || !sasl_plain) return client::Auth::user;
    return client::Auth::plain;
  }

  net::awaitable<bool> login(Pop3Client &c, LoginAttempt &attempt) {
    const auto auth = choose_auth(c);
    if (!auth) {
      attempt.result = LoginResult::not_tried;
      attempt.text = "no TLS and no APOP: password not sent in clear (--allow-plaintext)";
      fail(attempt.text);
      co_return false;
    }
    attempt.mechanism = mechanism_name(*auth);
    // Later sessions skip CAPA; the client offers SASL PLAIN only from a list.
    bool listed = true;
    if (*auth == client::Auth::plain && !c.capa_supported()) listed = co_await c.capa();
    if (!listed) {
      attempt.text = scrub(c.error());
      co_return false;
    }
    const auto res = co_await c.login(o_.user, o_.password, *auth);
    if (!res.refused_locally.empty()) {
      attempt.result = LoginResult::not_tried;
      attempt.text = scrub(res.refused_locally);
      fail(attempt.text);
      co_return false;
    }
    if (!res.status) {
      attempt.text = scrub(c.error());
      co_return false;
    }
    const protocol::Pop3Status &st = *res.status;
    attempt.resp_code = st.resp_code;
    attempt.text = scrub(st.text);
    attempt.result = st.ok ? LoginResult::ok : classify_refusal(st);
    log(fmt::format("event=login mechanism={} tls={} result={}", attempt.mechanism,
                    c.tls() ? "yes" : "no", to_string(attempt.result)));
    co_return st.ok;
  }

  // UIDL listing (numbers -> ids); empty when the server has no UIDL.
  net::awaitable<std::optional<std::map<std::size_t, std::string>>> uidls(Pop3Client &c) {
    std::map<std::size_t, std::string> out;
    auto l = co_await c.listing("UIDL");
    if (!l) co_return std::nullopt;
    if (!l->status.ok) co_return out;
    if (l->malformed > 0)
      note(fmt::format("UIDL listing: {} malformed or repeated line(s) ignored", l->malformed));
    for (auto &line : l->lines) out[line.number] = std::move(line.value);
    report_.pop3.uidl = true;
    co_return out;
  }

  net::awaitable<std::optional<std::pair<std::size_t, std::uint64_t>>> stat(Pop3Client &c) {
    auto st = co_await c.command("STAT");
    if (!st || !st->ok) co_return std::nullopt;
    std::size_t n = 0;
    std::uint64_t octets = 0;
    const auto parts = base::split(base::trim(st->text), ' ');
    try {
      n = std::stoul(std::string(parts.at(0)));
      if (parts.size() > 1) octets = std::stoull(std::string(parts[1]));
    } catch (const std::exception &) {
      co_return std::nullopt;
    }
    co_return std::pair{n, octets};
  }

  // TOP n 0: the header section. nullopt on a failure (top_error_ says
  // which); `refused` on -ERR.
  net::awaitable<std::optional<MessageObservation>> top(Pop3Client &c, std::size_t n,
                                                        bool &refused) {
    refused = false;
    auto got = co_await c.retrieve(fmt::format("TOP {} 0", n), kMaxHeaderOctets);
    if (!got) {
      top_error_ = c.error();
      co_return std::nullopt;
    }
    auto &[st, body] = *got;
    if (!st.ok) {
      refused = true;
      co_return MessageObservation{};
    }
    if (body.too_large) {
      top_error_ =
          fmt::format("TOP {} 0: header section larger than {} octets", n, kMaxHeaderOctets);
      co_return std::nullopt;
    }
    auto o = observe_header(body.data);
    o.number = n;
    co_return o;
  }

  net::awaitable<void> read_only() {
    Pop3Facts &f = report_.pop3;
    auto a = co_await open(true, f.login);
    if (!a) {
      if (report_.error.empty())
        fail(fmt::format("login refused ({}): {}", to_string(f.login.result), f.login.text));
      co_return;
    }
    if (f.capa_supported) {
      const bool listed = co_await capa(*a, f.capa_after_login);
      if (listed) {
        const protocol::Pop3Capabilities after{f.capa_after_login};
        // RFC 2449 6.5: the value after login is the one that applies to this
        // user.
        if (auto d = after.argument("LOGIN-DELAY")) set_login_delay(*d);
        if (auto e = after.argument("EXPIRE")) f.expire = *e;
      }
    }
    auto s = co_await stat(*a);
    if (!s) {
      fail("STAT: " + (a->error().empty() ? std::string("refused") : a->error()));
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
    for (const auto &[n, id] : *ids) baseline_.insert(id);
    const std::size_t limit = std::min(f.message_count, o_.max_messages);
    f.top = true;
    for (std::size_t n = 1; n <= limit; ++n) {
      bool refused = false;
      auto o = co_await top(*a, n, refused);
      if (!o) {
        fail(top_error_);
        co_return;
      }
      if (refused) {
        if (n == 1) {
          f.top = false;
          report_.notes.push_back("TOP refused: the header sections could not be read");
          break;
        }
        continue;  // deleted meanwhile by a concurrent session, or a broken
                   // message
      }
      if (auto it = ids->find(n); it != ids->end()) o->uidl = it->second;
      report_.messages.push_back(std::move(*o));
      ++f.examined;
    }
    if (f.message_count > limit)
      report_.notes.push_back(fmt::format("examined the first {} of {} messages (--max-messages)",
                                          limit, f.message_count));
    if (!o_.lock_checks) {
      co_await a->quit();
      co_return;
    }
    // Overlapping cycles: a second session while this one holds the maildrop.
    if (auto b = co_await open(false, f.concurrent)) co_await b->quit();
    co_await a->quit();
    // Login delay: a new login right after the first session ended.
    if (auto c = co_await open(false, f.second_login)) co_await c->quit();
  }

  // --- active mode
  // ------------------------------------------------------------------------

  std::vector<TestMail> build_cases(const std::string &tag) const {
    const std::string d = base::to_lower(o_.domain);
    const std::string from = o_.from.empty() ? "dropcheck-probe@" + d : o_.from;
    const auto local = [&](char who) { return fmt::format("dc-{}-{}@{}", tag, who, d); };
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
        {"bcc-local", "local To plus a local Bcc recipient", from, {a, b}, {b}, a, ""},
        {"bcc-only", "a local Bcc recipient only", from, {c}, {c}, "undisclosed-recipients:;", ""},
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
      m.c.message_id = fmt::format("<{}.{}@dropcheck-probe.invalid>", s.id, tag);
      std::string h;
      h += s.dsn ? fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", d)
                 : fmt::format("From: dropcheck probe <{}>\r\n", from);
      h += "To: " + s.to + "\r\n";
      if (!s.cc.empty()) h += "Cc: " + s.cc + "\r\n";
      h += fmt::format("Subject: [dropcheck-probe {}] {}: {}\r\n", tag, s.id, s.what);
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
        h += fmt::format(
            "Test mail of dropcheck probe run {} (case "
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
    if (parts.size() != 2 || parts[0] != ar.tag) return nullptr;
    for (auto &c : ar.cases)
      if (c.id == parts[1]) return &c;
    return nullptr;
  }

  static bool covered(const TestCase &c) {
    if (c.copies.empty()) return false;
    if (c.copies.size() >= c.rcpts.size()) return true;
    std::set<std::string> named;
    for (const auto &copy : c.copies)
      for (const auto &f : copy.envelope_fields)
        for (const auto &a : addresses_in(f.value)) named.insert(strip_qmail_prefix(a));
    return std::all_of(c.rcpts.begin(), c.rcpts.end(),
                       [&](const std::string &r) { return named.count(r) > 0; });
  }

  void say_waiting(std::chrono::milliseconds d, int attempt, int attempts) const {
    if (!o_.waiting) return;
    const auto delay = report_.pop3.login_delay_advertised.value_or(0);
    o_.waiting(fmt::format(
        "waiting {} s for poll {} of {} (the test mails' arrival){}", (d.count() + 999) / 1000,
        attempt, attempts,
        delay > 0 ? fmt::format(": the provider's LOGIN-DELAY is {} s", delay) : std::string()));
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

  // Sends every test mail through the provider's MX; false when the MX could not be reached
  // (then every case is recorded unsent and ar.error says why).
  net::awaitable<bool> send_test_mails(ActiveResult &ar, std::vector<TestMail> &mails) {
    client::SmtpOptions so;
    so.server = o_.smtp;
    so.helo = o_.helo;
    so.timeout = o_.timeout;
    so.before_command = [this](std::string &why) { return budget_.take(why); };
    client::SmtpClient s(ex_, std::move(so));
    const bool open = co_await s.open();
    if (!open) {
      ar.error = scrub(s.error());
      for (auto &m : mails) ar.cases.push_back(std::move(m.c));
      co_return false;
    }
    for (auto &m : mails) {
      const auto t = co_await s.transaction(m.c.mail_from, m.c.rcpts, m.message);
      const auto [code, text] = smtp_outcome(t);
      m.c.smtp_code = code;
      m.c.smtp_text = scrub(text);
      log(fmt::format("event=test-mail case={} smtp={}", m.c.id, code));
      ar.cases.push_back(std::move(m.c));
    }
    co_await s.quit();
    co_return true;
  }

  // One poll's look at the newest messages: the tagged copies recorded in their cases
  // (`ours`: keys already recorded); the message numbers of this run's copies, or nullopt when
  // the session failed (ar.error says why).
  net::awaitable<std::optional<std::vector<std::size_t>>> collect_tagged(
      Pop3Client &c, ActiveResult &ar, std::set<std::string> &ours, std::size_t &n_msgs) {
    auto ids = co_await uidls(c);
    auto st = co_await stat(c);
    if (!ids || !st) {
      ar.error = "poll: " + c.error();
      co_return std::nullopt;
    }
    n_msgs = st->first;
    // Newest last: look from the end, at most max_messages.
    const std::size_t low = n_msgs > o_.max_messages ? n_msgs - o_.max_messages : 0;
    std::vector<std::size_t> tagged_here;
    for (std::size_t n = n_msgs; n > low; --n) {
      const auto it = ids->find(n);
      const std::string id = it != ids->end() ? it->second : "";
      if (!id.empty() && baseline_.count(id) && !ours.count(id)) continue;
      bool refused = false;
      auto o = co_await top(c, n, refused);
      if (!o) break;
      if (refused) continue;
      o->uidl = id;
      TestCase *tc = case_of(ar, *o);
      if (!tc) {
        if (!id.empty()) baseline_.insert(id);
        continue;
      }
      tagged_here.push_back(n);
      const std::string key = id.empty() ? o->probe_tag + "|" + std::to_string(n) : id;
      if (ours.insert(key).second) tc->copies.push_back(std::move(*o));
      if (!id.empty()) baseline_.insert(id);
    }
    co_return tagged_here;
  }

  net::awaitable<void> active() {
    report_.active.emplace();
    ActiveResult &ar = *report_.active;
    ar.tag = o_.tag.empty() ? random_tag() : o_.tag;
    auto mails = build_cases(ar.tag);
    const bool reached = co_await send_test_mails(ar, mails);
    if (!reached) co_return;
    const bool any_sent = std::any_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &c) {
      return c.smtp_code >= 200 && c.smtp_code < 300;
    });
    if (!any_sent) {
      ar.error = "the MX accepted none of the test mails";
      co_return;
    }
    // Polls log in: never faster than the provider allows.
    auto interval = o_.poll_interval;
    if (report_.pop3.login_delay_advertised && *report_.pop3.login_delay_advertised > 0)
      interval = std::max<std::chrono::milliseconds>(
          interval, std::chrono::seconds(*report_.pop3.login_delay_advertised + 1));
    std::set<std::string> ours;  // UIDLs of tagged copies already recorded
    int all_seen_at = -1;
    const int attempts = std::max(1, o_.poll_attempts);
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      say_waiting(interval, attempt, attempts);
      co_await wait(interval);
      if (budget_.expired()) {
        ar.error = "run time limit reached while polling";
        break;
      }
      ++ar.polls;
      LoginAttempt la;
      auto c = co_await open(false, la);
      if (!c) {
        log(fmt::format("event=poll n={} login={}", attempt, to_string(la.result)));
        if (la.result == LoginResult::auth_failed || la.result == LoginResult::not_tried) {
          ar.error = "poll login refused: " + la.text;
          break;
        }
        continue;
      }
      std::size_t n_msgs = 0;
      auto tagged = co_await collect_tagged(*c, ar, ours, n_msgs);
      if (!tagged) break;
      const std::vector<std::size_t> &tagged_here = *tagged;
      const bool all_seen = std::all_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &t) {
        return t.smtp_code < 200 || t.smtp_code >= 300 || !t.copies.empty();
      });
      const bool all_covered = std::all_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &t) {
        return t.smtp_code < 200 || t.smtp_code >= 300 || covered(t);
      });
      if (all_seen && all_seen_at < 0) all_seen_at = attempt;
      // Without an envelope header coverage cannot be shown: one more poll,
      // then settle.
      const bool done = all_covered || (all_seen_at > 0 && attempt > all_seen_at);
      ar.complete = all_covered;
      log(fmt::format("event=poll n={} messages={} tagged={} done={}", attempt, n_msgs,
                      tagged_here.size(), done ? "yes" : "no"));
      if ((done || attempt == attempts) && o_.cleanup) co_await cleanup(*c, ar, tagged_here);
      co_await c->quit();
      if (done) break;
    }
  }

  // DELE exactly the copies that carry this run's tag, re-checked with TOP in
  // this session.
  net::awaitable<void> cleanup(Pop3Client &c, ActiveResult &ar,
                               const std::vector<std::size_t> &ns) {
    for (const std::size_t n : ns) {
      bool refused = false;
      auto o = co_await top(c, n, refused);
      if (!o || refused || !case_of(ar, *o)) continue;
      auto d = co_await c.command(fmt::format("DELE {}", n));
      if (d && d->ok) ++ar.deleted;
    }
    log(fmt::format("event=cleanup deleted={}", ar.deleted));
  }

  Options o_;
  asio::any_io_executor ex_;
  Budget budget_;
  Report report_;
  bool skip_verify_ = false;
  std::string top_error_;           // why the last top() failed
  std::set<std::string> baseline_;  // UIDLs that are not ours
};

}  // namespace

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
        if (e) std::rethrow_exception(e);
      });
  io.run_for(limit);
  if (!done) {
    result.error = "the probe did not finish within its time limit";
    infer(result);
  }
  return result;
}

}  // namespace dropcheck::probe

// The probe's read-only sessions (probe_run.hpp): connect, TLS, CAPA, login, and what the
// server lists, without changing anything on it.
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
#include "probe/probe.hpp"
#include "probe_run.hpp"
#include "protocol/pop3_capa.hpp"

namespace dropcheck::probe::detail {

namespace asio = net::asio;
using client::Pop3Client;

namespace {

// The mechanism as the report names it: "USER", "APOP", "PLAIN".
std::string mechanism_name(client::Auth a) {
  std::string s(client::to_string(a));
  for (char &ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

std::unique_ptr<Pop3Client> Run::new_client() {
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

void Run::tls_up(const Pop3Client &c, bool first) {
  if (first && c.tls() && !skip_verify_) report_.pop3.cert_valid = true;
}

void Run::tls_failed(const Pop3Client &c, bool first, bool &retry_insecure) {
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

void Run::fail_connect(const Pop3Client &c) {
  const bool greeting = c.error().starts_with("greeting");
  if (c.reached() && o_.tls == TlsMode::implicit && !greeting)
    report_.pop3.tls_error = scrub(c.error());
  fail(c.error());
}

net::awaitable<std::unique_ptr<Pop3Client>> Run::open(bool first, LoginAttempt &attempt) {
  for (int round = 0; round < 2; ++round) {  // second round: after an invalid certificate
    bool retry = false;
    auto c = co_await open_once(first, attempt, retry);
    if (c || !retry) co_return c;
  }
  co_return nullptr;
}

net::awaitable<std::unique_ptr<Pop3Client>> Run::open_once(bool first, LoginAttempt &attempt,
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

net::awaitable<bool> Run::first_capa(Pop3Client &c) {
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

net::awaitable<bool> Run::stls(Pop3Client &c, bool first, LoginAttempt &attempt,
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

void Run::record_capabilities(const Pop3Client &c) {
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

void Run::set_login_delay(const std::string &arg) {
  const auto first_word = arg.substr(0, arg.find(' '));
  try {
    report_.pop3.login_delay_advertised = std::stoll(first_word);
  } catch (const std::exception &) {
    report_.notes.push_back("unparsable LOGIN-DELAY argument: " + scrub(arg));
  }
}

net::awaitable<bool> Run::capa(Pop3Client &c, std::vector<std::string> &into) {
  const bool ok = co_await c.capa();
  if (!ok) {
    fail(c.error());
    co_return false;
  }
  report_.pop3.capa_supported = c.capa_supported();
  if (c.capa_supported()) into = c.capabilities().lines;
  co_return true;
}

std::optional<client::Auth> Run::choose_auth(const Pop3Client &c) const {
  const Pop3Facts &f = report_.pop3;
  const bool apop = !protocol::apop_timestamp(c.greeting().text).empty();
  const bool sasl_plain = std::find(f.sasl.begin(), f.sasl.end(), "PLAIN") != f.sasl.end();
  if (!c.tls() && apop) return client::Auth::apop;
  if (!c.tls() && !o_.allow_plaintext) return std::nullopt;
  if (f.user_offered || !sasl_plain) return client::Auth::user;
  return client::Auth::plain;
}

net::awaitable<bool> Run::login(Pop3Client &c, LoginAttempt &attempt) {
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

net::awaitable<std::optional<std::map<std::size_t, std::string>>> Run::uidls(Pop3Client &c) {
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

net::awaitable<std::optional<std::pair<std::size_t, std::uint64_t>>> Run::stat(Pop3Client &c) {
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

net::awaitable<std::optional<MessageObservation>> Run::top(Pop3Client &c, std::size_t n,
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
    top_error_ = fmt::format("TOP {} 0: header section larger than {} octets", n, kMaxHeaderOctets);
    co_return std::nullopt;
  }
  auto o = observe_header(body.data);
  o.number = n;
  co_return o;
}

net::awaitable<void> Run::read_only() {
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

}  // namespace dropcheck::probe::detail

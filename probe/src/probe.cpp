// The probe's I/O: run_probe and the Run (probe_run.hpp) that does the read-only
// sessions (probe_session.cpp) and active mode's sending and polling
// (probe_active.cpp). Everything it learns goes into a Report; infer() (infer.cpp)
// turns that into answers and a profile.
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
#include "probe_run.hpp"
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

namespace detail {

std::string rfc5322_date() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

net::awaitable<Report> Run::go() {
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

std::string Run::scrub(std::string s) const {
  for (const std::string *secret : {&o_.password, &o_.user}) {
    if (secret->size() < 3) continue;  // too short to cut without mangling the text
    for (auto pos = s.find(*secret); pos != std::string::npos; pos = s.find(*secret, pos))
      s.replace(pos, secret->size(), "***");
  }
  return s;
}

void Run::log(const std::string &line) const {
  if (o_.log) o_.log(scrub(line));
}

void Run::note(const std::string &text) {
  auto &notes = report_.notes;
  if (std::find(notes.begin(), notes.end(), text) == notes.end()) notes.push_back(text);
}

void Run::fail(const std::string &why) {
  if (report_.error.empty()) report_.error = scrub(why);
  log(fmt::format("event=probe-stopped reason=\"{}\"", why));
}

}  // namespace detail

net::awaitable<Report> run_probe(Options options) {
  auto ex = co_await asio::this_coro::executor;
  detail::Run run(std::move(options), ex);
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

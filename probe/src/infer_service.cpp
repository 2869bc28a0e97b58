// infer(), the POP3 service: connection, TLS, login mechanisms, capabilities, locking and
// login delay, answered from the session facts; the pop3.* settings of the inferred profile.
#include <fmt/format.h>

#include <algorithm>

#include "infer_internal.hpp"
#include "protocol/pop3_capa.hpp"

namespace dropcheck::probe::detail {

namespace {

// Connection, certificate, TLS, mechanisms, CAPA and the login itself.
void answer_session(Report &r) {
  const Pop3Facts &f = r.pop3;
  const bool logged_in = f.login.result == LoginResult::ok;
  if (!f.connected) {
    add(r, "connect", "Can the POP3 service be reached?", Verdict::fail, r.error);
  }
  if (f.cert_valid.has_value()) {
    add(r, "certificate", "Does the server certificate verify (chain and host name)?",
        *f.cert_valid ? Verdict::pass : Verdict::fail,
        *f.cert_valid ? "yes" : "no" + std::string(r.insecure ? " (continued: --insecure)" : ""),
        f.cert_error);
  }
  if (f.connected) {
    if (f.tls) {
      add(r, "tls", "Is the session protected by TLS?", Verdict::pass,
          f.implicit_tls ? "yes, implicit TLS (POP3S)" : "yes, STLS (RFC 2595)");
    } else if (f.stls_offered) {
      add(r, "tls", "Is the session protected by TLS?", Verdict::fail,
          "STLS offered but the TLS handshake failed", r.error);
    } else {
      add(r, "tls", "Is the session protected by TLS?", Verdict::fail,
          f.apop_offered ? "no TLS offered; APOP hides only the password"
                         : "no TLS offered: the password travels in clear");
    }
    std::vector<std::string> mechs;
    if (f.user_offered) mechs.emplace_back("USER/PASS");
    if (f.apop_offered) mechs.emplace_back("APOP");
    for (const auto &m : f.sasl) mechs.push_back("SASL " + m);
    add(r, "authentication", "Which login mechanisms are offered?", Verdict::info,
        mechs.empty() ? "none announced" : join(mechs),
        f.login.mechanism.empty() ? "" : "used: " + f.login.mechanism);
    add(r, "capabilities", "What does CAPA announce (RFC 2449)?", Verdict::info,
        f.capa_supported ? join(f.capa, "; ") : "CAPA not supported",
        f.capa_after_login.empty() ? "" : "after login: " + join(f.capa_after_login, "; "));
  }
  if (f.connected && !logged_in) {
    add(r, "login", "Does the login succeed?", Verdict::fail,
        std::string(to_string(f.login.result)), f.login.text);
  }
}

// What CAPA and the TLS upgrade say the service allows (pop3.* of the profile).
void profile_capabilities(Report &r) {
  InferredProfile &p = r.profile;
  const Pop3Facts &f = r.pop3;
  p.apop = f.apop_offered;
  if (f.capa_supported) {
    p.user_pass = f.user_offered;
    p.sasl_plain = std::find(f.sasl.begin(), f.sasl.end(), "PLAIN") != f.sasl.end();
    p.resp_codes = f.resp_codes;
    p.pipelining = f.pipelining;
    p.expire = f.expire;
    p.observed.insert(p.observed.end(), {"pop3.user_pass", "pop3.sasl_plain", "pop3.resp_codes",
                                         "pop3.pipelining", "pop3.expire"});
  }
  p.observed.emplace_back("pop3.apop");
  if (!f.implicit_tls && f.connected) {
    p.stls = f.stls_offered;
    p.observed.emplace_back("pop3.stls");
  }
  if (f.stls_used && !f.capa_before_tls.empty()) {
    // RFC 2595 4: a server that refuses plaintext logins does not announce USER
    // before TLS.
    const protocol::Pop3Capabilities before{f.capa_before_tls};
    const auto sasl = before.sasl_mechanisms();
    p.plaintext_without_tls =
        before.has("USER") || std::find(sasl.begin(), sasl.end(), "PLAIN") != sasl.end();
    p.observed.emplace_back("pop3.plaintext_without_tls");
  }
  if (!f.expire.empty()) {
    add(r, "expire", "Does the provider expire retrieved mail (CAPA EXPIRE)?",
        f.expire == "0" ? Verdict::warn : Verdict::info, f.expire,
        f.expire == "0" ? "EXPIRE 0: mail is removed once retrieved; a fetcher "
                          "cannot keep it"
                        : "");
  }
}

// Locking: a second session while the first held the maildrop.
void infer_locking(Report &r) {
  InferredProfile &p = r.profile;
  const Pop3Facts &f = r.pop3;
  const bool logged_in = f.login.result == LoginResult::ok;
  switch (f.concurrent.result) {
    case LoginResult::in_use:
      p.locking = "exclusive";
      p.observed.emplace_back("pop3.locking");
      add(r, "locking", "Is the maildrop locked against a second concurrent session?",
          Verdict::pass, "yes: the second session got -ERR [IN-USE]", f.concurrent.text);
      break;
    case LoginResult::ok:
      p.locking = "none";
      p.observed.emplace_back("pop3.locking");
      add(r, "locking", "Is the maildrop locked against a second concurrent session?",
          Verdict::warn,
          "no: two sessions see the same mail; overlapping fetch cycles deliver "
          "duplicates "
          "unless the fetcher locks its own cycles");
      break;
    case LoginResult::not_tried:
      if (logged_in)
        add(r, "locking", "Is the maildrop locked against a second concurrent session?",
            Verdict::unknown, "not tested");
      break;
    default:
      add(r, "locking", "Is the maildrop locked against a second concurrent session?",
          Verdict::unknown,
          fmt::format("the second session was refused for another reason ({})",
                      to_string(f.concurrent.result)),
          f.concurrent.text);
  }
}

// Login delay: advertised (RFC 2449 LOGIN-DELAY) and/or enforced on an
// immediate re-login.
void infer_login_delay(Report &r) {
  InferredProfile &p = r.profile;
  const Pop3Facts &f = r.pop3;
  const bool logged_in = f.login.result == LoginResult::ok;
  const std::int64_t advertised = f.login_delay_advertised.value_or(0);
  const bool enforced = f.second_login.result == LoginResult::login_delay ||
                        (f.second_login.result == LoginResult::not_tried &&
                         f.concurrent.result == LoginResult::login_delay);
  if (f.second_login.result == LoginResult::ok) {
    p.login_delay_s = 0;
    p.observed.emplace_back("pop3.login_delay_s");
    add(r, "login-delay", "Is a minimum time between logins enforced?",
        advertised > 0 ? Verdict::info : Verdict::pass,
        advertised > 0 ? fmt::format("advertised LOGIN-DELAY {} but an immediate re-login "
                                     "succeeded",
                                     advertised)
                       : "no: an immediate second login succeeded");
  } else if (enforced) {
    p.login_delay_s = advertised > 0 ? advertised : 900;
    p.advertise_login_delay = advertised > 0;
    p.observed.emplace_back("pop3.login_delay_s");
    p.observed.emplace_back("pop3.advertise_login_delay");
    add(r, "login-delay", "Is a minimum time between logins enforced?", Verdict::warn,
        advertised > 0 ? fmt::format("yes: LOGIN-DELAY {} s, enforced (-ERR "
                                     "[LOGIN-DELAY]); poll no "
                                     "more often",
                                     advertised)
                       : "yes, enforced but not announced in CAPA (profile assumes 900 s)",
        f.second_login.text);
  } else if (logged_in) {
    add(r, "login-delay", "Is a minimum time between logins enforced?", Verdict::unknown,
        fmt::format("second login: {}", to_string(f.second_login.result)), f.second_login.text);
  }
}

}  // namespace

void add(Report &r, std::string id, std::string question, Verdict v, std::string answer,
         std::string evidence) {
  r.answers.push_back(
      {std::move(id), std::move(question), v, std::move(answer), std::move(evidence)});
}

std::string join(const std::vector<std::string> &v, std::string_view sep) {
  std::string out;
  for (const auto &s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

void infer_service(Report &r) {
  answer_session(r);
  profile_capabilities(r);
  infer_locking(r);
  infer_login_delay(r);
}

}  // namespace dropcheck::probe::detail

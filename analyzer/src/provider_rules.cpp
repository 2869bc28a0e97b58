// The rules on provider-side facts (fake-pop3's session log): credentials and polling.
#include <fmt/format.h>

#include "judge.hpp"

namespace dropcheck::analyzer::detail {
namespace {

// Evidence names at most this many sessions and counts the rest: a fetcher retrying a wrong
// password every cycle for a day must not make a finding of thousands of session ids.
constexpr std::size_t kMaxSessionsNamed = 10;

std::string session_at(const Pop3SessionFact& s) {
  return fmt::format("#{} at +{} s ({:.1f} min)", s.id, s.started_ms / 1000,
                     static_cast<double>(s.started_ms) / 60'000.0);
}

std::string sessions_named(const std::vector<const Pop3SessionFact*>& sessions) {
  std::string out;
  for (std::size_t i = 0; i < sessions.size() && i < kMaxSessionsNamed; ++i)
    out += (i == 0 ? "" : ", ") + session_at(*sessions[i]);
  if (sessions.size() > kMaxSessionsNamed)
    out += fmt::format(" and {} more", sessions.size() - kMaxSessionsNamed);
  return out;
}

// The sessions whose login the provider refused for bad credentials, per account, in
// connection order.
std::map<std::string, std::vector<const Pop3SessionFact*>> refused_logins(const Truth& truth) {
  std::map<std::string, std::vector<const Pop3SessionFact*>> out;
  for (const auto& ps : truth.pop3_sessions)
    if (ps.auth_result == "bad-credentials") out[ps.user].push_back(&ps);
  return out;
}

}  // namespace

// login-refused: one per account whose login the provider refused (also when a later login of
// the account succeeded); `recipient` names the account.
void judge_login_refused(Context& ctx) {
  const Truth& truth = ctx.truth;
  std::vector<Finding>& out = ctx.findings;
  for (const auto& [user, sessions] : refused_logins(truth)) {
    const std::string span = sessions.size() == 1 ? "POP3 session " + session_at(*sessions.front())
                                                  : fmt::format("first POP3 session {}, last {}",
                                                                session_at(*sessions.front()),
                                                                session_at(*sessions.back()));
    out.push_back({"login-refused", "", user,
                   fmt::format("{} login(s) refused (bad credentials){}: {}", sessions.size(),
                               user.empty() ? " for an unnamed account" : "", span),
                   -1});
  }
}

// silent-login-failure: one per account with a refused login the fetcher did not report.
void judge_silent_login_failure(Context& ctx) {
  const Truth& truth = ctx.truth;
  std::vector<Finding>& out = ctx.findings;
  for (const auto& [user, sessions] : refused_logins(truth)) {
    std::vector<const Pop3SessionFact*> silent;
    for (const Pop3SessionFact* s : sessions)
      if (!s->reported) silent.push_back(s);
    if (silent.empty()) continue;
    out.push_back({"silent-login-failure", "", user,
                   fmt::format("the fetcher did not report {} of {} refused login(s): POP3 "
                               "session {}",
                               silent.size(), sessions.size(), sessions_named(silent)),
                   -1});
  }
}

void judge_cleartext_credentials(Context& ctx) {
  const Truth& truth = ctx.truth;
  std::vector<Finding>& out = ctx.findings;
  for (const auto& ps : truth.pop3_sessions)
    if (ps.cleartext_while_stls)
      out.push_back({"cleartext-credentials", "", "",
                     fmt::format("POP3 session #{}: password sent without TLS although STLS was "
                                 "offered",
                                 ps.id),
                     -1});
}

void judge_over_polling(Context& ctx) {
  const Truth& truth = ctx.truth;
  std::vector<Finding>& out = ctx.findings;
  std::int64_t last_ok_login = -1;
  for (const auto& ps : truth.pop3_sessions) {
    if (ps.auth_result == "login-delay")
      out.push_back(
          {"over-polling", "", "",
           fmt::format("POP3 session #{} at +{} s: login refused, LOGIN-DELAY {} s not respected{}",
                       ps.id, ps.started_ms / 1000, truth.login_delay_ms / 1000,
                       last_ok_login >= 0
                           ? fmt::format(" (last login at +{} s)", last_ok_login / 1000)
                           : ""),
           -1});
    if (ps.auth_result == "ok") last_ok_login = ps.started_ms;
  }
}

}  // namespace dropcheck::analyzer::detail

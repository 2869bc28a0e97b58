// dropcheck probe --accounts: one read-only probe session per account, concurrently up to a
// bound, and the one-line-per-account summary.
#include "probe/accounts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/strings.hpp"
#include "protocol/pop3_capa.hpp"

namespace dropcheck::probe {

namespace asio = net::asio;

std::string_view to_string(Health h) {
  switch (h) {
    case Health::ok:
      return "ok";
    case Health::unreachable:
      return "unreachable";
    case Health::tls_failed:
      return "tls-failed";
    case Health::login_refused:
      return "login-refused";
    case Health::login_not_tried:
      return "login-not-tried";
    case Health::session_failed:
      return "session-failed";
    case Health::deadline:
      return "deadline";
  }
  return "?";
}

namespace {

// Defence in depth: the probe scrubs server texts already; nothing of ours may carry either.
std::string scrub(std::string s, const Account &a) {
  for (const std::string *secret : {&a.password, &a.user}) {
    if (secret->empty()) continue;
    for (auto pos = s.find(*secret); pos != std::string::npos; pos = s.find(*secret, pos))
      s.replace(pos, secret->size(), "***");
  }
  return s;
}

Options probe_options(const Account &a, const CheckOptions &o) {
  Options p;
  p.pop3 = a.server;
  p.tls = a.tls;
  p.ca_file = a.ca_file;
  p.insecure = !a.verify_certificate;
  p.allow_plaintext = a.allow_plaintext;
  p.user = a.user;
  p.password = a.password;
  p.max_messages = 1;  // TOP 1 0: the oldest message's header section only
  p.max_commands = kAccountMaxCommands;
  p.timeout = std::min(o.timeout, o.deadline);
  p.run_limit = o.deadline;
  p.lock_checks = false;  // one login per account
  if (o.log) {
    p.log = [log = o.log, name = a.name](std::string_view line) {
      log(fmt::format("account={} {}", name, line));
    };
  }
  return p;
}

// CAPA lines by keyword, in first-seen order; a later list's line replaces an earlier one (after
// login LOGIN-DELAY and EXPIRE are the user's, RFC 2449 6.5), STLS from before TLS stays.
std::vector<std::string> merged_capabilities(const Pop3Facts &f) {
  std::vector<std::string> out;
  const auto keyword = [](std::string_view line) {
    return base::to_lower(line.substr(0, line.find(' ')));
  };
  for (const auto *list : {&f.capa_before_tls, &f.capa, &f.capa_after_login}) {
    for (const auto &line : *list) {
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const std::string &l) { return keyword(l) == keyword(line); });
      if (it == out.end())
        out.push_back(line);
      else
        *it = line;
    }
  }
  return out;
}

void set_refusal(AccountResult &out, const LoginAttempt &l) {
  out.health = Health::login_refused;
  out.refusal = std::string(to_string(l.result));
  out.resp_code = l.resp_code;
  out.why = fmt::format("login refused{}: {}", l.resp_code.empty() ? "" : " [" + l.resp_code + "]",
                        l.text);
}

// Which step failed, from the facts: the connection, TLS, the login, or later.
void classify(AccountResult &out, const Report &r) {
  const Pop3Facts &f = r.pop3;
  const LoginResult login = f.login.result;
  out.health = Health::session_failed;
  out.why = r.error;
  if (!f.connected) {
    out.health = Health::unreachable;
  } else if (login == LoginResult::ok) {
    out.health = r.error.empty() ? Health::ok : Health::session_failed;
  } else if (!f.tls_error.empty()) {
    out.health = Health::tls_failed;
    out.why = f.tls_error;
  } else if (login == LoginResult::auth_failed || login == LoginResult::in_use ||
             login == LoginResult::login_delay || login == LoginResult::temp_failure) {
    set_refusal(out, f.login);
  } else if (login == LoginResult::not_tried) {
    out.health = Health::login_not_tried;
    out.why = "login not tried: " + f.login.text;
  }
  if (out.health != Health::ok && out.why.empty()) out.why = f.login.text;
}

std::string certificate_of(const Account &a, const Pop3Facts &f) {
  if (!f.cert_valid) return "";
  if (*f.cert_valid) return "verified";
  return a.verify_certificate ? "failed" : "not-verified";
}

// The age of message 1 (the maildrop's oldest): the provider's own Received: stamp, else the
// sender's Date:.
void set_oldest(AccountResult &out, const Report &r, base::Millis now) {
  if (r.pop3.message_count == 0) return;
  if (r.messages.empty()) {
    out.oldest_note = r.pop3.top ? "header section not read" : "TOP refused";
    return;
  }
  const MessageObservation &m = r.messages.front();
  std::optional<std::int64_t> at;
  if ((at = parse_mail_date(m.received_date))) {
    out.oldest_source = "received";
  } else if ((at = parse_mail_date(m.date))) {
    out.oldest_source = "date";
  } else {
    out.oldest_note = "no readable Received: or Date: date";
    return;
  }
  out.oldest_age_s = now.count() / 1000 - *at;
}

}  // namespace

AccountResult summarize(const Account &a, const Report &r, base::Millis now) {
  AccountResult out;
  out.name = a.name;
  out.target = r.target.empty() ? fmt::format("{}:{}", a.server.host, a.server.port) : r.target;
  classify(out, r);
  const Pop3Facts &f = r.pop3;
  out.tls = f.tls ? (f.implicit_tls ? "implicit" : "stls") : "none";
  out.certificate = certificate_of(a, f);
  out.capabilities = merged_capabilities(f);
  if (f.login.result == LoginResult::ok && f.top) {
    out.messages = f.message_count;
    out.octets = f.maildrop_octets;
    set_oldest(out, r, now);
  } else if (f.login.result == LoginResult::ok && r.error.empty()) {
    out.messages = f.message_count;
    out.octets = f.maildrop_octets;
    out.oldest_note = "TOP refused";
  }
  out.why = scrub(std::move(out.why), a);
  return out;
}

namespace {

AccountResult unfinished(const Account &a) {
  AccountResult r;
  r.name = a.name;
  r.target = fmt::format("{}:{}", a.server.host, a.server.port);
  r.health = Health::deadline;
  r.why = "the check did not end within its deadline";
  return r;
}

net::awaitable<void> check_one(const Account &a, const CheckOptions &o, AccountResult &out) {
  try {
    const Report r = co_await run_probe(probe_options(a, o));
    static const base::SystemClock system;
    out = summarize(a, r, (o.clock ? o.clock : &system)->now());
  } catch (const std::exception &e) {  // a bug: this account fails, the others go on
    out = unfinished(a);
    out.health = Health::session_failed;
    out.why = scrub(std::string("internal error: ") + e.what(), a);
  }
  if (o.log)
    o.log(fmt::format("account={} event=account-checked result={}", a.name, to_string(out.health)));
}

// What the workers share. Owned by check_accounts' frame, which outlives them.
struct Queue {
  const std::vector<Account> &accounts;
  const CheckOptions &options;
  std::vector<AccountResult> &out;
  std::size_t next = 0;
  std::size_t running = 0;
  asio::steady_timer done;
};

net::awaitable<void> worker(Queue &q) {
  while (q.next < q.accounts.size()) {
    const std::size_t i = q.next++;
    co_await check_one(q.accounts[i], q.options, q.out[i]);
  }
}

}  // namespace

net::awaitable<void> check_accounts(const std::vector<Account> &accounts, const CheckOptions &o,
                                    std::vector<AccountResult> &out) {
  out.clear();
  for (const auto &a : accounts) out.push_back(unfinished(a));
  auto ex = co_await asio::this_coro::executor;
  Queue q{accounts, o, out, 0, 0, asio::steady_timer(ex, asio::steady_timer::time_point::max())};
  const std::size_t workers =
      std::min(accounts.size(), std::clamp<std::size_t>(o.parallel, 1, kMaxParallel));
  q.running = workers;
  for (std::size_t w = 0; w < workers; ++w)
    asio::co_spawn(ex, worker(q), [&q](std::exception_ptr) {
      if (--q.running == 0) q.done.cancel();
    });
  while (q.running > 0) {
    net::error_code ec;
    co_await q.done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

std::vector<AccountResult> check_accounts_blocking(const std::vector<Account> &accounts,
                                                   const CheckOptions &o) {
  std::vector<AccountResult> out;
  asio::io_context io;
  // Last resort behind the per-account deadlines: each wave of `parallel` accounts gets its
  // deadline plus the operations that may still be in flight then (connect, handshake).
  const std::size_t parallel = std::clamp<std::size_t>(o.parallel, 1, kMaxParallel);
  const std::size_t waves = (accounts.size() + parallel - 1) / parallel;
  const auto per_wave = o.deadline + 2 * std::min(o.timeout, o.deadline) + std::chrono::seconds(1);
  asio::co_spawn(io, check_accounts(accounts, o, out), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run_for(per_wave * static_cast<long>(std::max<std::size_t>(waves, 1)));
  return out;
}

namespace {

std::string age_text(std::int64_t s) {
  if (s < 0) return "in-the-future";
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string oldest_text(const AccountResult &r) {
  if (!r.messages) return "-";
  if (*r.messages == 0) return "none";
  if (!r.oldest_age_s) return "unknown";
  return fmt::format("{}({})", age_text(*r.oldest_age_s), r.oldest_source);
}

std::string tls_text(const AccountResult &r) {
  if (r.certificate.empty()) return r.tls;
  return r.tls + "/certificate-" + r.certificate;
}

std::string capa_text(const AccountResult &r) {
  std::vector<std::string> words;
  for (const auto &line : r.capabilities) {
    std::string w = line;
    std::replace(w.begin(), w.end(), ' ', ':');
    words.push_back(std::move(w));
  }
  return words.empty() ? "-" : fmt::format("{}", fmt::join(words, ","));
}

}  // namespace

std::string accounts_text(const std::vector<AccountResult> &results) {
  std::size_t width = 7;
  for (const auto &r : results) width = std::max(width, r.name.size());
  std::string out;
  for (const auto &r : results) {
    out += fmt::format("{:<{}} {:<6} {:<15} messages={} oldest={} tls={} capa={}", r.name, width,
                       r.ok() ? "ok" : "FAILED", to_string(r.health),
                       r.messages ? std::to_string(*r.messages) : "-", oldest_text(r), tls_text(r),
                       capa_text(r));
    if (!r.why.empty()) out += fmt::format(" why=\"{}\"", r.why);
    out += '\n';
  }
  const auto failed =
      std::count_if(results.begin(), results.end(), [](const AccountResult &r) { return !r.ok(); });
  out += fmt::format("{} account(s), {} ok, {} FAILED\n", results.size(),
                     results.size() - static_cast<std::size_t>(failed), failed);
  return out;
}

namespace {

nlohmann::json result_json(const AccountResult &r) {
  nlohmann::json j = {
      {"name", r.name},
      {"target", r.target},
      {"ok", r.ok()},
      {"result", to_string(r.health)},
      {"why", r.why},
      {"tls", r.tls},
      {"certificate", r.certificate.empty() ? nullptr : nlohmann::json(r.certificate)},
      {"capabilities", r.capabilities},
      {"messages", r.messages ? nlohmann::json(*r.messages) : nullptr},
      {"octets", r.octets ? nlohmann::json(*r.octets) : nullptr},
      {"oldest_age_s", r.oldest_age_s ? nlohmann::json(*r.oldest_age_s) : nullptr},
      {"oldest_source", r.oldest_source.empty() ? nullptr : nlohmann::json(r.oldest_source)}};
  if (!r.oldest_note.empty()) j["oldest_note"] = r.oldest_note;
  if (r.health == Health::login_refused)
    j["login"] = {{"refusal", r.refusal}, {"resp_code", r.resp_code}};
  return j;
}

}  // namespace

std::string accounts_json(const std::vector<AccountResult> &results) {
  nlohmann::json list = nlohmann::json::array();
  std::size_t ok = 0;
  for (const auto &r : results) {
    list.push_back(result_json(r));
    ok += r.ok() ? 1 : 0;
  }
  nlohmann::json j = {{"accounts", list}, {"ok", ok}, {"failed", results.size() - ok}};
  return j.dump(2) + "\n";
}

int accounts_exit_status(const std::vector<AccountResult> &results) {
  return std::all_of(results.begin(), results.end(), [](const AccountResult &r) { return r.ok(); })
             ? 0
             : 1;
}

}  // namespace dropcheck::probe

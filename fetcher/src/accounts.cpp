#include "fetcher/accounts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace dropcheck::fetcher {

namespace asio = net::asio;

bool AuthBackoff::due(const std::string& account, base::Millis now) const {
  const auto it = entries_.find(account);
  return it == entries_.end() || it->second.failures == 0 || now >= it->second.next;
}

std::optional<base::Millis> AuthBackoff::next_attempt(const std::string& account) const {
  const auto it = entries_.find(account);
  if (it == entries_.end() || it->second.failures == 0) return std::nullopt;
  return it->second.next;
}

void AuthBackoff::record(const std::string& account, Outcome outcome, base::Millis now) {
  Entry& e = entries_[account];
  if (outcome != Outcome::auth_failed) {
    // Anything but a refused login got past (or never reached) the credentials check: only
    // a completed login proves them, but a network error is no reason to wait longer.
    if (outcome != Outcome::pop3_error) e = Entry{};
    return;
  }
  ++e.failures;
  auto wait = interval_;
  for (std::size_t i = 1; i < e.failures && wait < kMaxAuthBackoff; ++i) wait *= 2;
  e.next = now + std::min<std::chrono::milliseconds>(wait, kMaxAuthBackoff);
}

std::size_t AuthBackoff::failures(const std::string& account) const {
  const auto it = entries_.find(account);
  return it == entries_.end() ? 0 : it->second.failures;
}

namespace {

struct Pool {
  const Accounts* accounts = nullptr;
  const base::Clock* clock = nullptr;
  LogFn log;
  AccountsOptions options;
  std::vector<AccountResult> results;
  std::size_t next = 0;
  std::size_t running = 0;
};

LogFn account_log(const Pool& p, const std::string& name) {
  if (p.accounts->accounts.size() == 1) return p.log;
  return [log = p.log, prefix = "account=" + name + " "](const std::string& line) {
    if (log) log(prefix + line);
  };
}

// The refused-login alert of a round the back-off skips: repeated, so it is not missed.
AccountResult waiting(const Pool& p, const Config& c) {
  const auto now = p.clock->now();
  const auto next = p.options.backoff->next_attempt(c.name).value_or(now);
  AccountResult r{c.name, {}, false};
  r.result.outcome = Outcome::auth_failed;
  r.result.detail = fmt::format(
      "login refused {} time(s) in a row; next attempt in {} s (back-off, so the provider does "
      "not lock the account)",
      p.options.backoff->failures(c.name), (next - now).count() / 1000);
  account_log(p, c.name)(
      fmt::format("event=auth-failed alert=yes account={} user={} waiting=yes "
                  "detail=\"{}\"",
                  c.name, c.pop3.user, r.result.detail));
  return r;
}

net::awaitable<AccountResult> one_account(Pool& p, const Config& c) {
  AuthBackoff* backoff = p.options.backoff;
  if (backoff && !backoff->due(c.name, p.clock->now())) co_return waiting(p, c);
  AccountResult r{c.name, {}, true};
  try {
    Fetcher f(c, *p.clock, account_log(p, c.name), p.options.hooks);
    r.result = co_await f.run_cycle();
  } catch (const std::exception& e) {  // one account's failure never stops the others
    r.result.outcome = Outcome::pop3_error;
    r.result.detail = std::string("cycle failed: ") + e.what();
  }
  if (backoff) backoff->record(c.name, r.result.outcome, p.clock->now());
  co_return r;
}

net::awaitable<void> worker(std::shared_ptr<Pool> p) {
  while (p->next < p->accounts->accounts.size()) {
    const std::size_t i = p->next++;
    p->results[i] = co_await one_account(*p, p->accounts->accounts[i]);
  }
}

}  // namespace

net::awaitable<std::vector<AccountResult>> run_accounts(const Accounts& accounts,
                                                        const base::Clock& clock, LogFn log,
                                                        AccountsOptions options) {
  auto ex = co_await asio::this_coro::executor;
  auto p = std::make_shared<Pool>();
  p->accounts = &accounts;
  p->clock = &clock;
  p->log = std::move(log);
  p->options = std::move(options);
  p->results.resize(accounts.accounts.size());
  auto done = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
  const std::size_t workers =
      std::max<std::size_t>(1, std::min(accounts.parallel, accounts.accounts.size()));
  p->running = workers;
  for (std::size_t w = 0; w < workers; ++w)
    asio::co_spawn(ex, worker(p), [p, done](std::exception_ptr) {
      if (--p->running == 0) done->cancel();
    });
  boost::system::error_code ec;
  co_await done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return std::move(p->results);
}

std::vector<AccountResult> run_accounts_blocking(const Accounts& accounts, const base::Clock& clock,
                                                 LogFn log, AccountsOptions options) {
  asio::io_context io;
  std::vector<AccountResult> out;
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> { out = co_await run_accounts(accounts, clock, log, options); },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  return out;
}

int exit_status(const std::vector<AccountResult>& results) {
  const auto any = [&](auto pred) { return std::any_of(results.begin(), results.end(), pred); };
  if (any([](const AccountResult& r) { return r.result.outcome == Outcome::auth_failed; }))
    return kExitAuthFailed;
  if (any([](const AccountResult& r) {
        return r.result.outcome != Outcome::ok && r.result.outcome != Outcome::locked;
      }))
    return kExitFetchFailed;
  if (any([](const AccountResult& r) { return r.result.outcome == Outcome::locked; }))
    return kExitFetchLocked;
  return kExitFetchOk;
}

}  // namespace dropcheck::fetcher

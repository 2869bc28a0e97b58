#pragma once
// Several provider mailboxes in one run (`accounts:`): a catch-all fetched multidrop beside
// per-user mailboxes fetched single-drop, as small firms mix them. Each account is its own
// Fetcher cycle with its own state and lock; they run `parallel` at a time (1: one after the
// other) and one failing account never stops the others.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "fetcher/config.hpp"
#include "fetcher/fetcher.hpp"
#include "net/asio.hpp"

namespace dropcheck::fetcher {

struct AccountResult {
  std::string account;  // Config::name
  CycleResult result;
  bool attempted = true;  // false: skipped by the refused-login back-off (no login tried)
};

// After a refused login a daemon waits before it tries that account again, doubling the wait
// each time (interval, 2x, 4x, ... up to kMaxAuthBackoff): providers lock accounts that fail
// too often, and a lock would stop the mail for good. Every skipped round repeats the alert.
// In memory: a restarted daemon (or a fixed password in a new config) starts afresh.
inline constexpr std::chrono::milliseconds kMaxAuthBackoff = std::chrono::hours(6);

class AuthBackoff {
 public:
  explicit AuthBackoff(std::chrono::milliseconds interval) : interval_(interval) {}
  // Whether `account` may try to log in at `now`.
  bool due(const std::string& account, base::Millis now) const;
  // The earliest next login attempt (nullopt: no refused login pending).
  std::optional<base::Millis> next_attempt(const std::string& account) const;
  // A cycle's outcome: auth_failed lengthens the wait, any completed login resets it.
  void record(const std::string& account, Outcome outcome, base::Millis now);
  std::size_t failures(const std::string& account) const;

 private:
  struct Entry {
    std::size_t failures = 0;
    base::Millis next{0};
  };
  std::chrono::milliseconds interval_;
  std::map<std::string, Entry> entries_;
};

struct AccountsOptions {
  Hooks hooks;                     // passed to every account's cycle
  AuthBackoff* backoff = nullptr;  // the daemon's; nullptr: every account is tried
};

// One cycle of every account. With several accounts each log line starts "account=NAME ".
net::awaitable<std::vector<AccountResult>> run_accounts(const Accounts& accounts,
                                                        const base::Clock& clock, LogFn log,
                                                        AccountsOptions options = {});
std::vector<AccountResult> run_accounts_blocking(const Accounts& accounts, const base::Clock& clock,
                                                 LogFn log, AccountsOptions options = {});

// `dropcheck fetch` exit status over all accounts: a refused login wins (the credentials need
// a human), then any other failure, then "another cycle holds the lock".
inline constexpr int kExitFetchOk = 0;
inline constexpr int kExitFetchFailed = 1;
inline constexpr int kExitFetchLocked = 3;
inline constexpr int kExitAuthFailed = 5;
int exit_status(const std::vector<AccountResult>& results);

}  // namespace dropcheck::fetcher

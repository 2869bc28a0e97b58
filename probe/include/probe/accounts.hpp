#pragma once
// dropcheck probe --accounts FILE: a read-only health check of several provider accounts, the
// kind an admin runs from cron. Per account one session of the probe (probe.hpp) with the lock
// checks off and one TOP: greeting, CAPA, TLS (certificate verified unless the file says
// otherwise), login, CAPA again, STAT, UIDL, TOP 1 0 (the oldest message's header section),
// QUIT. Never RETR, never DELE. Accounts run concurrently up to a bound, each under its own
// deadline; one account's failure never stops the others. Passwords and user names appear in
// no output, error or log line.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "net/asio.hpp"
#include "probe/probe.hpp"

namespace dropcheck::probe {

// A health check of more accounts than this is a typo or a generated file gone wrong; at the
// default bound and deadline it would run for hours.
inline constexpr std::size_t kMaxAccounts = 500;
// Concurrent sessions: each is a login at some provider, usually the same one, and providers
// limit connections per client address (Dovecot's mail_max_userip_connections default is 10).
inline constexpr std::size_t kDefaultParallel = 4;
inline constexpr std::size_t kMaxParallel = 16;
// Wall clock of one account: connect, TLS and about ten commands.
inline constexpr std::chrono::seconds kDefaultAccountDeadline{120};
// Commands of one account: CAPA, STLS, CAPA, USER, PASS, CAPA, STAT, UIDL, TOP, QUIT, twice
// when an unverified certificate is retried with verify_certificate: false.
inline constexpr std::size_t kAccountMaxCommands = 40;
// Account names go into key=value log lines and the text output unquoted.
inline constexpr std::size_t kMaxAccountName = 64;

// One account of the file (version: 1). A password (inline or from password_file) is secret.
struct Account {
  std::string name;             // unique in the file
  std::string where;            // "file:line:col" of its entry
  Endpoint server;              // port default 110, 995 with tls: implicit
  TlsMode tls = TlsMode::none;  // as the probe's default: STLS whenever offered
  bool verify_certificate = true;
  std::string ca_file;           // empty: the system's CAs
  bool allow_plaintext = false;  // USER/PASS in clear when neither STLS nor APOP is offered
  std::string user;              // secret in outputs
  std::string password;          // secret
};

// The accounts of a file. Relative password_file and ca_file paths are taken from
// `base_dir`. Errors name file:line:col and the field: unknown keys, a missing or duplicate
// name, both or neither of password and password_file, an unreadable file, a bad host.
base::Result<std::vector<Account>> parse_accounts(std::string_view yaml, std::string_view source,
                                                  const std::string &base_dir);
base::Result<std::vector<Account>> load_accounts(const std::string &path);

// How one account's check ended.
enum class Health {
  ok,
  unreachable,      // no TCP connection (DNS, refused, timeout)
  tls_failed,       // handshake, certificate, STLS refused or missing
  login_refused,    // the server answered -ERR to the login ([AUTH], [SYS/PERM], [IN-USE], ...)
  login_not_tried,  // nothing sent: no TLS and no APOP (allow_plaintext), mechanism missing
  session_failed,   // greeting, CAPA, STAT, ... failed or the connection broke
  deadline,         // the check did not end within its deadline
};
std::string_view to_string(Health h);

struct AccountResult {
  std::string name;
  std::string target;  // "host:port" (never the user)
  Health health = Health::deadline;
  std::string why;          // "" when ok; scrubbed of user name and password
  std::string refusal;      // login_refused: "auth-failed", "in-use", "login-delay", "temp-failure"
  std::string resp_code;    // the server's RFC 2449 response code, "" none
  std::string tls;          // "none", "stls", "implicit" (what the session ran under)
  std::string certificate;  // "verified", "not-verified" (verify_certificate: false), "failed",
                            // "" (no TLS)
  std::vector<std::string> capabilities;  // CAPA lines, before TLS, after TLS and after login
  std::optional<std::size_t> messages;    // STAT
  std::optional<std::uint64_t> octets;
  std::optional<std::int64_t> oldest_age_s;  // message 1, now minus its date (may be negative)
  std::string oldest_source;  // "received" (topmost Received:), "date" (Date:), "" unknown
  std::string oldest_note;    // why the age is unknown
  bool ok() const { return health == Health::ok; }
};

struct CheckOptions {
  std::size_t parallel = kDefaultParallel;
  std::chrono::milliseconds timeout = std::chrono::seconds(30);  // per network operation
  std::chrono::milliseconds deadline = kDefaultAccountDeadline;  // per account
  const base::Clock *clock = nullptr;         // for message ages; nullptr: the system clock
  std::function<void(std::string_view)> log;  // "account=NAME event=...", no secrets
};

// The date of an RFC 5322 date-time (3.3, with the obsolete forms of 4.3: two-digit years,
// zone names, comments), in seconds since the Unix epoch. Total: nullopt when unreadable.
std::optional<std::int64_t> parse_mail_date(std::string_view text);

// Checks every account on the caller's executor, at most o.parallel at a time; `out` gets one
// result per account, in file order. The caller keeps `accounts`, `o` and `out` alive until
// it completes.
net::awaitable<void> check_accounts(const std::vector<Account> &accounts, const CheckOptions &o,
                                    std::vector<AccountResult> &out);
// The same on an own io_context, bounded in wall-clock time; accounts still running then are
// `deadline`.
std::vector<AccountResult> check_accounts_blocking(const std::vector<Account> &accounts,
                                                   const CheckOptions &o);
// The summary of one probe session (pure; check_accounts uses it).
AccountResult summarize(const Account &a, const Report &r, base::Millis now);

// One line per account; a JSON document {"accounts": [...], "ok": N, "failed": N}.
std::string accounts_text(const std::vector<AccountResult> &results);
std::string accounts_json(const std::vector<AccountResult> &results);
// 0 when every account is ok, 1 otherwise.
int accounts_exit_status(const std::vector<AccountResult> &results);

}  // namespace dropcheck::probe

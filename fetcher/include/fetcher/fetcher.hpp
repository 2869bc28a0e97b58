#pragma once
// The fetcher core: one cycle = log in to the provider's catch-all mailbox, retrieve what is
// new, route each message by its envelope header, deliver by SMTP/LMTP to the in-house
// server, and delete from the provider only what is settled for every local recipient.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "fetcher/config.hpp"
#include "net/asio.hpp"

namespace dropcheck::fetcher {

struct MessageLog {
  std::size_t number = 0;
  std::string uidl;
  std::size_t size = 0;
  std::string mail_from;
  std::vector<std::string> delivered;  // accepted now
  std::vector<std::string> deferred;   // 4xx: retried next cycle
  std::vector<std::string> failed;     // 5xx (after fallback)
  std::vector<std::string> notes;      // routing decisions
  bool skipped = false;                // already delivered earlier (UIDL / dedup)
  bool held = false;                   // kept on the provider: could not be taken or placed
  bool deleted = false;
  bool alert = false;
};

enum class Outcome {
  ok,           // cycle completed (messages may still be deferred)
  locked,       // another cycle holds the lock
  in_use,       // provider: -ERR [IN-USE]
  login_delay,  // provider: -ERR [LOGIN-DELAY]
  auth_failed,
  pop3_error,  // connection, TLS or protocol failure
  smtp_error,  // the delivery server could not be reached
  state_error,
  held,  // the cycle ran, but messages stay on the provider with an alert
};
std::string_view outcome_name(Outcome o);

struct CycleResult {
  Outcome outcome = Outcome::ok;
  std::string detail;
  std::vector<MessageLog> messages;
  std::size_t retrieved = 0;
  std::size_t deleted = 0;
  std::size_t held = 0;  // messages kept on the provider (alerts)
  bool tls = false;
};

// One line per event, key=value; secrets never reach it.
using LogFn = std::function<void(const std::string& line)>;

struct Hooks {
  // Called after each RETR completes (count so far); the scenario runner uses it to start an
  // overlapping cycle at a chosen point.
  std::function<void(std::size_t)> on_retrieved;
  // Called before each batch's state-log sync (group commit); false makes the sync fail as a
  // full disk would (fault-injection tests): the cycle ends, nothing of that batch deleted.
  std::function<bool()> before_state_sync;
};

class Fetcher {
 public:
  Fetcher(Config config, const base::Clock& clock, LogFn log, Hooks hooks = {});
  ~Fetcher();
  net::awaitable<CycleResult> run_cycle();
  // Runs one cycle on its own io_context (for `dropcheck fetch --once`).
  CycleResult run_cycle_blocking();
  const Config& config() const { return config_; }

 private:
  class Cycle;
  Config config_;
  const base::Clock& clock_;
  LogFn log_;
  Hooks hooks_;
};

// Formats a message decision as one log line.
std::string describe(const MessageLog& m);

}  // namespace dropcheck::fetcher

#pragma once
// Persistent per-account state, written crash-safely (temp file, fsync, rename): which UIDLs
// are settled, per-recipient progress of unsettled ones, and delivered (Message-ID, digest)
// keys for providers that re-present messages under new UIDLs.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace dropcheck::fetcher {

// A message kept on the provider because it could not be taken or placed (every recipient and
// the fallback refused it, nothing to route it to, too large, out of step, too slow): retried
// after a back-off that grows with each failure, so it never blocks the messages behind it.
struct Hold {
  int failures = 0;
  std::int64_t not_before_ms = 0;  // next attempt (Unix ms, the fetcher's clock)
  std::string reason;
};

struct AccountState {
  std::set<std::string> settled_uidls;
  std::map<std::string, std::set<std::string>> progress;  // uidl -> recipients done
  // message-id + " " + sha256 + " " + recipient -> when delivered (Unix ms; -1: unknown, from
  // an older state file: the next prune starts its retention). Pruned after
  // Config::dedup_retention, so the set does not grow for ever.
  std::map<std::string, std::int64_t> delivered_keys;
  // RFC 2449 LOGIN-DELAY: the last successful login and the server's announced minimum delay,
  // so the next invocation does not log in too early (providers block accounts that do).
  std::int64_t last_login_ms = 0;
  std::int64_t login_delay_ms = 0;
  std::map<std::string, Hold> held;  // uidl -> why and until when it stays on the provider
};

// The state is a snapshot (PATH, written whole: temp file, fsync, rename) plus an append-only
// log (PATH.log, one JSON line per change, fdatasync'd) so that recording one delivery costs
// one small write, not a rewrite of everything. Loading replays the log over the snapshot; a
// torn last log line (a crash mid-append) is ignored: that change was never acknowledged.
base::Result<AccountState> load_state(const std::string& path);  // missing file: empty state
// Writes the snapshot and empties the log (compaction).
base::Status save_state(const std::string& path, const AccountState& state);
// Whether PATH.log should be folded into the snapshot before more is appended: it is longer
// than `max_octets`, or it ends in a torn record (a record appended after it would make that
// one a corrupt line in the middle). A missing or empty log needs nothing.
bool state_log_needs_compaction(const std::string& path, std::uintmax_t max_octets);
// Forgets delivered keys older than `retention` at `now_ms`; unknown ages start now.
void prune_delivered_keys(AccountState& state, std::int64_t now_ms, std::int64_t retention_ms);

// Appends changes to PATH.log. Each record is written when the call returns (a process that
// dies later loses nothing of it); sync() makes every record so far durable against a power
// loss, with one fdatasync for all of them (group commit: the fetcher syncs once per batch,
// before that batch's DELEs).
class StateLog {
 public:
  explicit StateLog(std::string path) : path_(std::move(path) + ".log") {}
  StateLog(const StateLog&) = delete;
  StateLog& operator=(const StateLog&) = delete;
  ~StateLog();
  base::Status settled(const std::string& uidl);
  base::Status delivered(const std::string& uidl, const std::string& rcpt, const std::string& key,
                         std::int64_t at_ms);
  base::Status login(std::int64_t at_ms, std::int64_t delay_ms);
  base::Status held(const std::string& uidl, const Hold& hold);
  // fdatasync when a record was written since the last sync.
  base::Status sync();
  // Records written since the last sync (0: nothing to make durable).
  std::size_t unsynced() const { return unsynced_; }

 private:
  base::Status append(const std::string& line);
  std::string path_;
  int fd_ = -1;
  std::size_t unsynced_ = 0;
};

// An exclusive lock file (flock). Released on destruction.
class CycleLock {
 public:
  static base::Result<CycleLock> acquire(const std::string& path, bool wait);
  CycleLock(CycleLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  CycleLock& operator=(CycleLock&&) = delete;
  ~CycleLock();

 private:
  explicit CycleLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace dropcheck::fetcher

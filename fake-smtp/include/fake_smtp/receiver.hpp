#pragma once
// The receiving SMTP/LMTP server of the harness: applies a Policy, journals every transaction,
// never delivers or relays anything. make_session() plugs into net::Server. One Receiver may
// serve several net::Servers on several I/O threads: its sessions share only the journal
// (thread-safe) and atomic counters; the callbacks below are then called from those threads.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "fake_smtp/journal.hpp"
#include "fake_smtp/policy.hpp"
#include "net/server.hpp"
#include "protocol/smtp_server.hpp"

namespace dropcheck::fake_smtp {

class Receiver {
 public:
  // `smtp` carries hostname, limits and offered extensions; smtp.lmtp is taken from the policy.
  Receiver(Policy policy, Journal& journal, const base::Clock& clock,
           protocol::SmtpServerConfig smtp = {});

  std::unique_ptr<net::ProtocolSession> make_session(const net::Peer& peer);
  net::SessionFactory factory() {
    return [this](const net::Peer& p) { return make_session(p); };
  }

  // Stream DATA/BDAT into a journal spool as it arrives (the default) instead of holding each
  // message in memory until its end: memory per session is then bounded by the read buffer.
  void set_stream_messages(bool on) { stream_messages_ = on; }
  // A connection refused before it had a session (net::ServerOptions::on_refused: too many
  // sessions, out of descriptors): its session record and log line. Thread-safe.
  void record_refused(const net::Peer& peer, std::string_view reason);
  // Offer STARTTLS (the net::Server must have ServerOptions::tls).
  void set_starttls(bool on) { smtp_.starttls_available = on; }
  // One key=value line per finished session (programs log, the library does not print).
  void set_log(std::function<void(std::string_view)> log) { log_ = std::move(log); }
  // Every record right after it is journaled (scenario runner, tests).
  void set_on_record(std::function<void(const TransactionRecord&)> f) { on_record_ = std::move(f); }
  // A journal I/O failure: the session answers 421 and closes; the program should stop.
  void set_on_fatal(std::function<void(const std::string&)> f) { on_fatal_ = std::move(f); }

  const Policy& policy() const { return policy_; }
  // Changes the by-address RCPT faults from the next RCPT on (a scenario's cycle schedule).
  void set_rcpt_fail_for(std::vector<Faults::RcptFailFor> f) {
    policy_.faults.rcpt_fail_for = std::move(f);
  }
  const protocol::SmtpServerConfig& smtp_config() const { return smtp_; }
  std::uint64_t sessions() const { return sessions_.load(); }
  std::uint64_t transactions() const { return transactions_.load(); }
  bool failed() const { return failed_.load(); }
  std::string fatal_error() const {
    const std::lock_guard lock(fatal_mutex_);
    return fatal_;
  }

 private:
  friend class ReceiverSession;
  Policy policy_;
  Journal& journal_;
  const base::Clock& clock_;
  protocol::SmtpServerConfig smtp_;
  std::string id_prefix_;
  bool stream_messages_ = true;
  void set_fatal(const std::string& what);
  // Group commit: one syncer per I/O context; the sessions of that context wait on it.
  struct Syncer {
    explicit Syncer(const net::asio::any_io_executor& ex) : wake(ex) {
      wake.expires_at(net::asio::steady_timer::time_point::max());
    }
    net::asio::steady_timer wake;  // never expires: cancel() wakes every waiter
    bool running = false;
  };
  Syncer& syncer(const net::asio::any_io_executor& ex);
  std::mutex syncers_mutex_;
  std::map<const void*, std::unique_ptr<Syncer>> syncers_;

  std::atomic<std::uint64_t> sessions_ = 0;
  std::atomic<std::uint64_t> transactions_ = 0;
  std::atomic<bool> failed_ = false;
  mutable std::mutex fatal_mutex_;
  std::string fatal_;
  std::function<void(std::string_view)> log_;
  std::function<void(const TransactionRecord&)> on_record_;
  std::function<void(const std::string&)> on_fatal_;
};

}  // namespace dropcheck::fake_smtp

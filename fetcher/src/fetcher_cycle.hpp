#pragma once
// Fetcher::Cycle, one fetch cycle: the state, login and listing (fetcher.cpp), the batches and
// each message in them (fetcher_messages.cpp). Internal to fetcher/src.
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/pop3.hpp"
#include "client/smtp.hpp"
#include "cycle_parts.hpp"
#include "fetcher/defects.hpp"
#include "fetcher/fetcher.hpp"
#include "fetcher/route.hpp"
#include "fetcher/state.hpp"

namespace dropcheck::fetcher {
namespace detail {

// Why a cycle or session ended early: the outcome it reports and the detail.
struct Failure {
  Outcome outcome;
  std::string detail;
};

}  // namespace detail

class Fetcher::Cycle {
  using Failure = detail::Failure;
  using Listed = detail::Listed;

 public:
  Cycle(Fetcher& f, net::asio::any_io_executor ex)
      : f_(f),
        c_(f.config_),
        pop_(ex, detail::pop3_options(f.config_.pop3)),
        smtp_(ex, detail::smtp_options(f.config_.smtp)) {}

  net::awaitable<CycleResult> run();

 private:
  void log(const std::string& line);
  std::int64_t now_ms() const { return f_.clock_.now().count(); }
  bool use_state() const { return log_.has_value(); }

  // Lock, load and compact the state; refuses the cycle (lock held, LOGIN-DELAY not over).
  std::optional<Failure> prepare_state(std::optional<CycleLock>& lock);

  // After a complete session: forget what the server no longer lists, fold the log into the
  // snapshot. After a failed one the log alone keeps what happened.
  std::optional<Failure> finish_state(bool failed);

  Failure pop_failure(Outcome o = Outcome::pop3_error) { return Failure{o, pop_.error()}; }

  // A refused login is never quiet: mail for this account waits at the provider until someone
  // fixes the credentials. The SBS connector model writes only an event log line (the field
  // notes: "who reads that") and reports success.
  std::optional<Failure> auth_alert(const Failure& f);

  // The SBS connector polls at most every 15 minutes (its smallest schedule); a cycle sooner
  // after its last login does nothing.
  std::optional<Failure> sbs_schedule(std::int64_t now) const;

  net::awaitable<std::optional<Failure>> login(CycleResult& res);

  std::optional<Failure> record_login();

  // LIST and UIDL; malformed lines and shared UIDLs are alerts, never dropped in silence.
  net::awaitable<std::optional<Failure>> maildrop(std::vector<Listed>& out);

  net::awaitable<std::optional<Failure>> session(CycleResult& res);

  bool dedup_on() const { return !defect_skips_dedup(c_.defect) && use_state(); }

  // Messages [at, end) of the listing form one batch: at most kBatchMessages of them and
  // kBatchOctets by their LIST sizes (one message at least, whatever its size).
  static std::size_t batch_end(const std::vector<Listed>& listing, std::size_t at);

  // One batch: its RETRs go out together where the server offers PIPELINING (RFC 2449 6.6),
  // each message is delivered as its answer is read, the state log is made durable once for
  // the batch (group commit), and only then are the batch's settled messages deleted, the
  // DELEs pipelined too. A crash before the sync deletes nothing of the batch: at worst a
  // delivered message is sent again (at least once, never lost). A Failure ends the session
  // (closed without QUIT: nothing of it is deleted).
  net::awaitable<std::optional<Failure>> batch(const std::vector<Listed>& listing, std::size_t at,
                                               std::size_t end, CycleResult& res);

  // Logs the first `n` messages of a batch into the result; passes `f` on.
  std::optional<Failure> record(std::vector<MessageLog>& ms, std::size_t n, CycleResult& res,
                                std::optional<Failure> f);

  // What a listed message needs before anything is sent for it.
  enum class Plan { retrieve, delete_only, none };
  Plan plan(MessageLog& m);

  // A message whose transaction is begun: its end of data may be out with the final reply
  // unread. It is concluded (recorded, fallback, held or settled) once the next message's
  // envelope has gone out behind it (RFC 2920 3.1: one SMTP round trip per message), or at
  // the end of the batch, before the group commit.
  struct Delivery {
    std::size_t index = 0;  // in the batch
    Route route;
    std::string key;  // dedup key ("" when off)
    std::vector<std::string> todo;
    client::Ticket ticket = 0;
  };

  // One batch's messages, those that may be deleted once it is durable, and the delivery in
  // flight.
  struct Batch {
    std::vector<MessageLog> ms;
    std::vector<std::size_t> settled;
    std::optional<Delivery> flying;
  };

  // Retrieves (`sent`: reads the answer to a pipelined RETR), routes and begins the delivery
  // of message `i`; concludes the one in flight before it.
  net::awaitable<std::optional<Failure>> take(Batch& b, std::size_t i, CycleResult& res, bool sent);

  // Reads the final replies of the delivery in flight, if any, and concludes its message.
  net::awaitable<std::optional<Failure>> conclude(Batch& b);

  // A message nothing more is sent for: held, kept for a deferred recipient, or settled.
  std::optional<Failure> finish_message(Batch& b, std::size_t i);

  // Group commit: one fdatasync makes every record of the batch durable before its DELEs.
  std::optional<Failure> commit();

  // DELE for messages `which` of the batch, pipelined where offered.
  net::awaitable<std::optional<Failure>> dele_all(std::vector<MessageLog>& ms,
                                                  const std::vector<std::size_t>& which,
                                                  CycleResult& res);

  // A message held earlier whose back-off has not run out stays on the server, with an alert.
  bool still_held(MessageLog& m);

  // Records that `m` stays on the provider, with a growing back-off.
  std::optional<Failure> hold(MessageLog& m, const std::string& why);

  // RETR under the per-message deadline. A response that cannot be the announced message (out
  // of step, or over the limit) is never delivered; the message is held.
  net::awaitable<std::optional<Failure>> retrieve(MessageLog& m, std::optional<std::string>& raw,
                                                  bool sent);

  std::optional<Failure> settle(MessageLog& m);

  // Routes message `i` of the batch and begins its delivery (`next`); fills its log. held: no
  // local mailbox to deliver to; no `next` and not held: nothing left to deliver (skipped).
  net::awaitable<std::optional<Failure>> start(Batch& b, const std::string& raw, std::size_t i,
                                               std::optional<Delivery>& next);

  // What the receiver answered for each recipient of `d`: recorded, refused ones to the
  // fallback, deferred ones noted.
  net::awaitable<std::optional<Failure>> judge(const std::vector<client::RcptResult>& results,
                                               const Delivery& d, MessageLog& m);

  // Whether mailbox `r` already holds this message: accepted in this attempt, by an earlier
  // attempt of this UIDL (`done`), or as this very provider copy (`copy`: dedup).
  struct Held {
    bool done = false;
    bool copy = false;
  };
  Held already_holds(const MessageLog& m, const std::string& key, const std::string& r) const;

  // Recipients still to deliver: not done by an earlier attempt of this UIDL, not already
  // holding this very provider copy (dedup; every skip is an alert).
  std::vector<std::string> pending_recipients(const Route& route, const std::string& key,
                                              MessageLog& m);

  std::optional<Failure> record_delivery(MessageLog& m, const std::string& rcpt,
                                         const std::string& key);

  // 5xx: one copy to the fallback mailbox (never a bounce to the outside: backscatter). When
  // the fallback refuses too, or there is none, the message stays on the provider (held).
  // The SBS connector model has no fallback mailbox: refused recipients are just failed.
  net::awaitable<std::optional<Failure>> to_fallback(const Route& route,
                                                     const std::vector<std::string>& bounced,
                                                     const std::string& key, MessageLog& m);

  Fetcher& f_;
  const Config& c_;
  client::Pop3Client pop_;
  client::SmtpClient smtp_;
  AccountState state_;
  std::string state_path_;
  std::optional<StateLog> log_;
  std::set<std::string> listed_uidls_;  // UIDLs the server listed this cycle
  bool pipelined_ = false;              // the server offers PIPELINING (RFC 2449 6.6)
  std::chrono::steady_clock::time_point cycle_deadline_;
};

}  // namespace dropcheck::fetcher

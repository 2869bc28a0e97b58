#include "fetcher/fetcher.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "base/strings.hpp"
#include "client/pop3.hpp"
#include "client/smtp.hpp"
#include "cycle_parts.hpp"
#include "fetcher/defects.hpp"
#include "fetcher/route.hpp"
#include "fetcher/state.hpp"
#include "mail/header.hpp"

namespace dropcheck::fetcher {
namespace asio = net::asio;

namespace {

using detail::auth_of;
using detail::dedup_key;
using detail::join;
using detail::Listed;
using detail::pop3_options;
using detail::size_plausible;
using detail::smtp_options;

// A held message is tried again after 5 minutes, then 10, 20, ... at most 6 hours apart: a
// message that cannot be placed never blocks the ones behind it, and is never given up.
constexpr std::int64_t kHoldBackoffBaseMs = 5 * 60'000;
constexpr std::int64_t kHoldBackoffMaxMs = 6 * 3'600'000;

// A batch (group commit, pipelined RETRs and DELEs): messages, and octets by LIST size.
constexpr std::size_t kBatchMessages = 64;
constexpr std::size_t kBatchOctets = 4 << 20;
// The state log is folded into the snapshot when longer than this (or torn).
constexpr std::uintmax_t kCompactLogOctets = 256 << 10;

struct Failure {
  Outcome outcome;
  std::string detail;
};

}  // namespace

// The SBS POP3 connector's smallest schedule interval (its dialog offers nothing shorter).
constexpr std::int64_t kSbsMinIntervalMs = 15 * 60 * 1000;

class Fetcher::Cycle {
 public:
  Cycle(Fetcher& f, asio::any_io_executor ex)
      : f_(f),
        c_(f.config_),
        pop_(ex, pop3_options(f.config_.pop3)),
        smtp_(ex, smtp_options(f.config_.smtp)) {}

  net::awaitable<CycleResult> run() {
    CycleResult res;
    std::optional<CycleLock> lock;
    if (!c_.state_dir.empty()) {
      if (auto refused = prepare_state(lock)) {
        res.outcome = refused->outcome;
        res.detail = refused->detail;
        co_return res;
      }
    }
    cycle_deadline_ = std::chrono::steady_clock::now() + c_.pop3.cycle_deadline;
    pop_.set_deadline(cycle_deadline_);
    auto failure = co_await session(res);
    // What the session recorded becomes durable, after a failed one too (its unsynced batch
    // had no DELE sent).
    if (log_) (void)log_->sync();
    co_await smtp_.quit();
    pop_.abandon();
    if (auto saved = finish_state(failure.has_value()); !failure && saved) failure = saved;
    if (failure && failure->outcome == Outcome::auth_failed) failure = auth_alert(*failure);
    if (failure) {
      res.outcome = failure->outcome;
      res.detail = failure->detail;
    } else if (res.held > 0) {
      res.outcome = Outcome::held;
      res.detail = fmt::format("{} message(s) kept on the provider, see the alerts", res.held);
    }
    log(fmt::format("event=cycle-end outcome={} retrieved={} deleted={} held={}{}",
                    outcome_name(res.outcome), res.retrieved, res.deleted, res.held,
                    res.detail.empty() ? "" : " detail=\"" + res.detail + "\""));
    co_return res;
  }

 private:
  void log(const std::string& line) {
    if (f_.log_) f_.log_(line);
  }
  std::int64_t now_ms() const { return f_.clock_.now().count(); }
  bool use_state() const { return log_.has_value(); }

  // Lock, load and compact the state; refuses the cycle (lock held, LOGIN-DELAY not over).
  std::optional<Failure> prepare_state(std::optional<CycleLock>& lock) {
    std::error_code fec;
    std::filesystem::create_directories(c_.state_dir, fec);
    state_path_ = c_.state_dir + "/" + c_.name + ".state.json";
    if (!defect_skips_lock(c_.defect)) {
      auto l = CycleLock::acquire(c_.state_dir + "/" + c_.name + ".lock", c_.wait_for_lock);
      if (!l.ok()) {
        Failure f{l.error().code == "locked" ? Outcome::locked : Outcome::state_error,
                  l.error().message};
        log(fmt::format("event=cycle-refused outcome={} detail=\"{}\"", outcome_name(f.outcome),
                        f.detail));
        return f;
      }
      lock.emplace(std::move(l).value());
    }
    auto st = load_state(state_path_);
    if (!st.ok()) return Failure{Outcome::state_error, st.error().message};
    state_ = std::move(st).value();
    // Compact when the log is long or torn: the snapshot takes in what the last cycles logged.
    // A short clean log is appended to as it is (a snapshot rewrite and its fsync per cycle
    // cost more than replaying a few records).
    if (state_log_needs_compaction(state_path_, kCompactLogOctets)) {
      if (auto saved = save_state(state_path_, state_); !saved.ok())
        return Failure{Outcome::state_error, saved.error().message};
    }
    log_.emplace(state_path_);
    // Respect the provider's LOGIN-DELAY (RFC 2449 8.1.1) across invocations: skip this cycle
    // rather than be refused (and risk the account being blocked for over-polling).
    const std::int64_t now = now_ms();
    if (state_.login_delay_ms > 0 && state_.last_login_ms > 0 &&
        now - state_.last_login_ms < state_.login_delay_ms) {
      Failure f{Outcome::login_delay,
                fmt::format("provider LOGIN-DELAY: next login allowed in {} s",
                            (state_.login_delay_ms - (now - state_.last_login_ms) + 999) / 1000)};
      log(fmt::format("event=cycle-skipped outcome=login-delay detail=\"{}\"", f.detail));
      return f;
    }
    return sbs_schedule(now);
  }

  // After a complete session: forget what the server no longer lists, fold the log into the
  // snapshot. After a failed one the log alone keeps what happened.
  std::optional<Failure> finish_state(bool failed) {
    if (failed || !use_state()) return std::nullopt;
    // UIDLs the server no longer lists can never be fetched under them again (a provider
    // re-presenting mail under the same UIDL is still caught by the dedup keys).
    const std::size_t before =
        state_.settled_uidls.size() + state_.held.size() + state_.delivered_keys.size();
    std::erase_if(state_.settled_uidls,
                  [&](const std::string& u) { return !listed_uidls_.count(u); });
    std::erase_if(state_.held, [&](const auto& kv) { return !listed_uidls_.count(kv.first); });
    prune_delivered_keys(state_, now_ms(), c_.dedup_retention.count());
    const std::size_t after =
        state_.settled_uidls.size() + state_.held.size() + state_.delivered_keys.size();
    // Nothing forgotten and a short log: the log alone (made durable) keeps this cycle.
    if (after == before && !state_log_needs_compaction(state_path_, kCompactLogOctets)) {
      if (auto synced = log_->sync(); !synced.ok())
        return Failure{Outcome::state_error, synced.error().message};
      return std::nullopt;
    }
    if (auto saved = save_state(state_path_, state_); !saved.ok())
      return Failure{Outcome::state_error, saved.error().message};
    return std::nullopt;
  }

  Failure pop_failure(Outcome o = Outcome::pop3_error) { return Failure{o, pop_.error()}; }

  // A refused login is never quiet: mail for this account waits at the provider until someone
  // fixes the credentials. The SBS connector model writes only an event log line (the field
  // notes: "who reads that") and reports success.
  std::optional<Failure> auth_alert(const Failure& f) {
    if (c_.defect == Defect::sbs_connector) {
      log(
          fmt::format("event=login-refused alert=no account={} detail=\"sbs-connector: event log "
                      "only\"",
                      c_.name));
      return std::nullopt;
    }
    log(
        fmt::format("event=auth-failed alert=yes account={} user={} detail=\"{}; mail for this "
                    "account stays on the provider until the credentials are fixed\"",
                    c_.name, c_.pop3.user, f.detail));
    return f;
  }

  // The SBS connector polls at most every 15 minutes (its smallest schedule); a cycle sooner
  // after its last login does nothing.
  std::optional<Failure> sbs_schedule(std::int64_t now) const {
    if (c_.defect != Defect::sbs_connector || state_.last_login_ms <= 0 ||
        now - state_.last_login_ms >= kSbsMinIntervalMs)
      return std::nullopt;
    return Failure{Outcome::ok,
                   fmt::format("sbs-connector: 15-minute schedule, next round in {} s",
                               (kSbsMinIntervalMs - (now - state_.last_login_ms) + 999) / 1000)};
  }

  net::awaitable<std::optional<Failure>> login(CycleResult& res) {
    if (!co_await pop_.connect()) co_return pop_failure();
    if (!c_.pop3.verify_certificate && c_.pop3.tls != TlsMode::none)
      log("event=tls-verify-disabled reason=config");
    if (!co_await pop_.capa()) co_return pop_failure();
    if (!co_await pop_.secure()) co_return pop_failure();
    res.tls = pop_.tls();
    auto r = co_await pop_.login(c_.pop3.user, c_.pop3.password, auth_of(c_.pop3));
    if (!r.refused_locally.empty()) co_return Failure{Outcome::auth_failed, r.refused_locally};
    if (!r.status) co_return pop_failure();
    log(fmt::format("event=login user={} tls={} mechanism={} result={}", c_.pop3.user,
                    pop_.tls() ? "yes" : "no", r.mechanism, r.status->ok ? "ok" : "refused"));
    if (!r.status->ok) {
      if (r.status->resp_code == "IN-USE")
        co_return Failure{Outcome::in_use, "mailbox in use: " + r.status->text};
      if (r.status->resp_code == "LOGIN-DELAY")
        co_return Failure{Outcome::login_delay, "login delay: " + r.status->text};
      // RFC 3206: a temporary system problem says nothing about the credentials.
      if (r.status->resp_code == "SYS/TEMP")
        co_return Failure{Outcome::pop3_error,
                          "provider temporarily unavailable: " + r.status->text};
      co_return Failure{Outcome::auth_failed, r.status->text};
    }
    co_return record_login();
  }

  std::optional<Failure> record_login() {
    state_.last_login_ms = now_ms();
    state_.login_delay_ms = 0;
    if (auto d = pop_.capabilities().argument("LOGIN-DELAY")) {
      try {
        state_.login_delay_ms = std::stoll(*d) * 1000;
      } catch (const std::exception&) {
        log(fmt::format("event=capa-malformed line=\"LOGIN-DELAY {}\"", *d));
      }
    }
    if (use_state()) {
      auto saved = log_->login(state_.last_login_ms, state_.login_delay_ms);
      if (!saved.ok()) return Failure{Outcome::state_error, saved.error().message};
    }
    return std::nullopt;
  }

  // LIST and UIDL; malformed lines and shared UIDLs are alerts, never dropped in silence.
  net::awaitable<std::optional<Failure>> maildrop(std::vector<Listed>& out) {
    auto list = co_await pop_.listing("LIST");
    if (!list) co_return pop_failure();
    if (!list->status.ok)
      co_return Failure{Outcome::pop3_error, "LIST refused: " + list->status.text};
    auto uidl = co_await pop_.listing("UIDL");
    if (!uidl) co_return pop_failure();
    if (!uidl->status.ok)
      log("event=no-uidl detail=\"server has no UIDL; keep mode and crash recovery are off\"");
    for (const auto* l : {&*list, &*uidl})
      if (l->malformed > 0)
        log(fmt::format("event=listing-malformed command={} lines={} alert=yes",
                        l == &*list ? "LIST" : "UIDL", l->malformed));
    std::map<std::size_t, std::string> ids;
    std::map<std::string, std::vector<std::size_t>> numbers_of;
    for (const auto& l : uidl->lines) {
      ids[l.number] = l.value;
      numbers_of[l.value].push_back(l.number);
      listed_uidls_.insert(l.value);
    }
    for (const auto& [id, nums] : numbers_of)
      if (nums.size() > 1) {
        std::vector<std::string> n;
        for (auto x : nums) n.push_back(std::to_string(x));
        log(
            fmt::format("event=provider-defect alert=yes detail=\"UIDL {} listed for messages {} "
                        "(RFC 1939 7: unique-ids are unique); delivered each, without UIDL state\"",
                        id, join(n)));
      }
    for (const auto& l : list->lines) {
      Listed m;
      m.number = l.number;
      try {
        m.size = std::stoul(l.value);
      } catch (const std::exception&) {
        log(fmt::format("event=listing-malformed command=LIST line=\"{} {}\" alert=yes", l.number,
                        l.value.substr(0, 40)));
        continue;
      }
      if (auto it = ids.find(l.number); it != ids.end() && numbers_of[it->second].size() == 1)
        m.uidl = it->second;
      out.push_back(std::move(m));
    }
    co_return std::nullopt;
  }

  net::awaitable<std::optional<Failure>> session(CycleResult& res) {
    if (auto f = co_await login(res)) co_return f;
    std::vector<Listed> listing;
    if (auto f = co_await maildrop(listing)) co_return f;
    pipelined_ = pop_.capabilities().has("PIPELINING");
    for (std::size_t at = 0; at < listing.size();) {
      const std::size_t end = batch_end(listing, at);
      if (auto f = co_await batch(listing, at, end, res)) co_return f;
      at = end;
    }
    auto q = co_await pop_.quit();
    if (!q) co_return pop_failure();
    if (!q->ok) co_return Failure{Outcome::pop3_error, "QUIT (deletions not applied): " + q->text};
    co_return std::nullopt;
  }

  bool dedup_on() const { return !defect_skips_dedup(c_.defect) && use_state(); }

  // Messages [at, end) of the listing form one batch: at most kBatchMessages of them and
  // kBatchOctets by their LIST sizes (one message at least, whatever its size).
  static std::size_t batch_end(const std::vector<Listed>& listing, std::size_t at) {
    std::size_t end = at;
    std::size_t octets = 0;
    while (end < listing.size() && end - at < kBatchMessages &&
           (end == at || octets + listing[end].size <= kBatchOctets))
      octets += listing[end++].size;
    return end;
  }

  // One batch: its RETRs go out together where the server offers PIPELINING (RFC 2449 6.6),
  // each message is delivered as its answer is read, the state log is made durable once for
  // the batch (group commit), and only then are the batch's settled messages deleted, the
  // DELEs pipelined too. A crash before the sync deletes nothing of the batch: at worst a
  // delivered message is sent again (at least once, never lost). A Failure ends the session
  // (closed without QUIT: nothing of it is deleted).
  net::awaitable<std::optional<Failure>> batch(const std::vector<Listed>& listing, std::size_t at,
                                               std::size_t end, CycleResult& res) {
    std::vector<MessageLog> ms(end - at);
    std::vector<Plan> plans;
    std::vector<std::string> retrs;
    for (std::size_t i = 0; i < ms.size(); ++i) {
      ms[i].number = listing[at + i].number;
      ms[i].size = listing[at + i].size;
      ms[i].uidl = listing[at + i].uidl;
      plans.push_back(plan(ms[i]));
      if (plans.back() == Plan::retrieve) retrs.push_back(fmt::format("RETR {}", ms[i].number));
    }
    const bool ahead = pipelined_ && retrs.size() > 1;
    bool sent = true;
    if (ahead) sent = co_await pop_.send_pipelined(retrs);
    if (!sent) co_return pop_failure();
    std::vector<std::size_t> settled;
    for (std::size_t i = 0; i < ms.size(); ++i) {
      bool done = plans[i] == Plan::delete_only;
      std::optional<Failure> f;
      if (plans[i] == Plan::retrieve) f = co_await take(ms[i], res, ahead, done);
      if (f) co_return record(ms, i + 1, res, f);
      if (done) settled.push_back(i);
    }
    auto f = commit();
    if (!f) f = co_await dele_all(ms, settled, res);
    co_return record(ms, ms.size(), res, f);
  }

  // Logs the first `n` messages of a batch into the result; passes `f` on.
  std::optional<Failure> record(std::vector<MessageLog>& ms, std::size_t n, CycleResult& res,
                                std::optional<Failure> f) {
    for (std::size_t i = 0; i < n; ++i) {
      if (ms[i].held) ++res.held;
      log(describe(ms[i]));
      res.messages.push_back(std::move(ms[i]));
    }
    return f;
  }

  // What a listed message needs before anything is sent for it.
  enum class Plan { retrieve, delete_only, none };
  Plan plan(MessageLog& m) {
    if (dedup_on() && !m.uidl.empty() && state_.settled_uidls.count(m.uidl)) {
      m.skipped = true;
      m.notes.emplace_back("already delivered (UIDL)");
      return Plan::delete_only;
    }
    if (still_held(m)) return Plan::none;
    if (m.size > c_.pop3.max_message_size) {
      m.notes.push_back(
          fmt::format("LIST size {} is over the retrieval limit of {} octets; left "
                      "on the server",
                      m.size, c_.pop3.max_message_size));
      m.alert = true;
      m.held = true;
      return Plan::none;
    }
    return Plan::retrieve;
  }

  // Retrieves (`sent`: reads the answer to a pipelined RETR), routes, delivers and settles one
  // message; `settled`: it may be deleted once the batch is durable.
  net::awaitable<std::optional<Failure>> take(MessageLog& m, CycleResult& res, bool sent,
                                              bool& settled) {
    std::optional<std::string> raw;
    if (auto f = co_await retrieve(m, raw, sent)) co_return f;
    if (!raw) co_return std::nullopt;
    ++res.retrieved;
    if (f_.hooks_.on_retrieved) f_.hooks_.on_retrieved(res.retrieved);
    if (auto f = co_await handle(*raw, m)) co_return f;
    if (m.held) co_return hold(m, "not accepted by any local mailbox");
    if (!m.deferred.empty()) co_return std::nullopt;
    settled = true;
    co_return settle(m);
  }

  // Group commit: one fdatasync makes every record of the batch durable before its DELEs.
  std::optional<Failure> commit() {
    if (!use_state()) return std::nullopt;
    if (f_.hooks_.before_state_sync && !f_.hooks_.before_state_sync())
      return Failure{Outcome::state_error, "state log: sync failed (injected)"};
    if (auto synced = log_->sync(); !synced.ok())
      return Failure{Outcome::state_error, synced.error().message};
    return std::nullopt;
  }

  // DELE for messages `which` of the batch, pipelined where offered.
  net::awaitable<std::optional<Failure>> dele_all(std::vector<MessageLog>& ms,
                                                  const std::vector<std::size_t>& which,
                                                  CycleResult& res) {
    if (c_.keep || which.empty()) co_return std::nullopt;
    const bool ahead = pipelined_ && which.size() > 1;
    if (ahead) {
      std::vector<std::string> lines;
      for (auto i : which) lines.push_back(fmt::format("DELE {}", ms[i].number));
      if (!co_await pop_.send_pipelined(lines)) co_return pop_failure();
    }
    for (auto i : which) {
      MessageLog& m = ms[i];
      std::optional<protocol::Pop3Status> d;
      if (ahead) d = co_await pop_.read_status("DELE");
      if (!ahead) d = co_await pop_.command(fmt::format("DELE {}", m.number));
      if (!d) co_return pop_failure();
      m.deleted = d->ok;
      if (d->ok)
        ++res.deleted;
      else
        m.notes.push_back("DELE refused: " + d->text);
    }
    co_return std::nullopt;
  }

  // A message held earlier whose back-off has not run out stays on the server, with an alert.
  bool still_held(MessageLog& m) {
    auto it = m.uidl.empty() ? state_.held.end() : state_.held.find(m.uidl);
    if (it == state_.held.end() || now_ms() >= it->second.not_before_ms) return false;
    m.held = true;
    m.alert = true;
    m.notes.push_back(fmt::format("held on the provider ({}); next attempt in {} s",
                                  it->second.reason,
                                  (it->second.not_before_ms - now_ms() + 999) / 1000));
    return true;
  }

  // Records that `m` stays on the provider, with a growing back-off.
  std::optional<Failure> hold(MessageLog& m, const std::string& why) {
    m.held = true;
    m.alert = true;
    if (m.uidl.empty() || !use_state()) return std::nullopt;
    Hold& h = state_.held[m.uidl];
    h.failures = std::min(h.failures + 1, 30);
    const std::int64_t backoff =
        std::min(kHoldBackoffMaxMs, kHoldBackoffBaseMs << std::min(h.failures - 1, 16));
    h.not_before_ms = now_ms() + backoff;
    h.reason = why;
    m.notes.push_back(fmt::format("kept on the provider; next attempt in {} s", backoff / 1000));
    auto saved = log_->held(m.uidl, h);
    if (!saved.ok()) return Failure{Outcome::state_error, saved.error().message};
    return std::nullopt;
  }

  // RETR under the per-message deadline. A response that cannot be the announced message (out
  // of step, or over the limit) is never delivered; the message is held.
  net::awaitable<std::optional<Failure>> retrieve(MessageLog& m, std::optional<std::string>& raw,
                                                  bool sent) {
    const auto message_deadline = std::chrono::steady_clock::now() + c_.pop3.message_deadline;
    pop_.set_deadline(std::min(cycle_deadline_, message_deadline));
    const std::string cmd = fmt::format("RETR {}", m.number);
    std::optional<std::pair<protocol::Pop3Status, client::Body>> r;
    if (sent) r = co_await pop_.read_retrieval(cmd, c_.pop3.max_message_size);
    if (!sent) r = co_await pop_.retrieve(cmd, c_.pop3.max_message_size);
    pop_.set_deadline(cycle_deadline_);
    if (!r) {
      m.notes.push_back("retrieval failed: " + pop_.error());
      if (auto f = hold(m, "retrieval failed: " + pop_.error())) co_return f;
      co_return pop_failure();
    }
    auto& [status, body] = *r;
    if (!status.ok) {
      m.notes.push_back("RETR refused: " + status.text + "; left on the server");
      m.alert = true;
      m.held = true;
      co_return std::nullopt;
    }
    if (body.too_large) {
      m.notes.push_back(fmt::format("grew past the retrieval limit of {} octets (LIST said {})",
                                    c_.pop3.max_message_size, m.size));
      co_return hold(m, "over the size limit");
    }
    if (!size_plausible(m.size, body.data)) {
      const std::string why = fmt::format(
          "RETR gave {} octets where LIST said {}: the response may not be this message "
          "(server out of step); session abandoned, nothing deleted",
          body.data.size(), m.size);
      m.notes.push_back(why);
      if (auto f = hold(m, "size differs from LIST")) co_return f;
      co_return Failure{Outcome::pop3_error, fmt::format("message {}: {}", m.number, why)};
    }
    if (body.bare_lf) m.notes.emplace_back("bare LF line endings in the response (kept)");
    raw = std::move(body.data);
    co_return std::nullopt;
  }

  std::optional<Failure> settle(MessageLog& m) {
    if (!use_state() || m.uidl.empty()) return std::nullopt;
    state_.settled_uidls.insert(m.uidl);
    state_.progress.erase(m.uidl);
    state_.held.erase(m.uidl);
    auto saved = log_->settled(m.uidl);
    if (!saved.ok()) return Failure{Outcome::state_error, saved.error().message};
    return std::nullopt;
  }

  // Routes and delivers one message; fills `m`. m.held: no local mailbox took it.
  net::awaitable<std::optional<Failure>> handle(const std::string& raw, MessageLog& m) {
    const RouteContext by{c_.received_by.empty() ? c_.name : c_.received_by, c_.pop3.host,
                          c_.pop3.user, f_.clock_.now()};
    Route route =
        c_.defect == Defect::none ? route_message(c_, raw, by) : route_with_defect(c_, raw, by);
    m.mail_from = route.mail_from;
    m.notes.insert(m.notes.end(), route.notes.begin(), route.notes.end());
    m.alert = m.alert || route.alert;
    if (route.recipients.empty()) {
      m.held = true;
      m.notes.emplace_back("no local mailbox to deliver to (no fallback): kept on the provider");
      co_return std::nullopt;
    }
    const std::string key = dedup_on() ? dedup_key(raw) : std::string();
    std::vector<std::string> todo = pending_recipients(route, key, m);
    if (todo.empty()) {
      m.skipped = true;
      co_return std::nullopt;
    }
    if (!co_await smtp_.open()) co_return Failure{Outcome::smtp_error, smtp_.error()};
    auto results = co_await smtp_.deliver(route.mail_from, todo, route.message);
    std::vector<std::string> bounced;
    for (const auto& r : results) {
      if (r.code >= 200 && r.code < 300) {
        if (auto f = record_delivery(m, r.rcpt, key)) co_return f;
      } else if (r.code >= 500) {
        m.notes.push_back(fmt::format("{}: refused {} {}", r.rcpt, r.code, r.text));
        bounced.push_back(r.rcpt);
      } else {
        m.notes.push_back(fmt::format("{}: deferred {} {}", r.rcpt, r.code, r.text));
        m.deferred.push_back(r.rcpt);
      }
    }
    if (!bounced.empty()) co_return co_await to_fallback(route, bounced, key, m);
    co_return std::nullopt;
  }

  // Whether mailbox `r` already holds this message: accepted in this attempt, by an earlier
  // attempt of this UIDL (`done`), or as this very provider copy (`copy`: dedup).
  struct Held {
    bool done = false;
    bool copy = false;
  };
  Held already_holds(const MessageLog& m, const std::string& key, const std::string& r) const {
    Held h;
    const auto it = state_.progress.find(m.uidl);
    h.done = std::find(m.delivered.begin(), m.delivered.end(), r) != m.delivered.end() ||
             (!m.uidl.empty() && it != state_.progress.end() && it->second.count(r));
    h.copy = !key.empty() && state_.delivered_keys.count(key + " " + r);
    return h;
  }

  // Recipients still to deliver: not done by an earlier attempt of this UIDL, not already
  // holding this very provider copy (dedup; every skip is an alert).
  std::vector<std::string> pending_recipients(const Route& route, const std::string& key,
                                              MessageLog& m) {
    std::vector<std::string> todo, dup;
    for (const auto& r : route.recipients) {
      const Held h = already_holds(m, key, r);
      if (h.done) continue;
      if (h.copy) {
        dup.push_back(r);
        continue;
      }
      todo.push_back(r);
    }
    if (!dup.empty()) {
      m.alert = true;
      m.notes.push_back(
          "not delivered again: this provider copy (Message-ID, Received trace, "
          "body) was already delivered to " +
          join(dup));
    }
    return todo;
  }

  std::optional<Failure> record_delivery(MessageLog& m, const std::string& rcpt,
                                         const std::string& key) {
    m.delivered.push_back(rcpt);
    if (!m.uidl.empty()) state_.progress[m.uidl].insert(rcpt);
    const std::int64_t at = now_ms();
    if (!key.empty()) state_.delivered_keys.emplace(key + " " + rcpt, at);
    if (use_state()) {
      // Durable before the next message: a crash from here on does not re-send to rcpt.
      auto saved = log_->delivered(m.uidl, rcpt, key, at);
      if (!saved.ok()) return Failure{Outcome::state_error, saved.error().message};
    }
    return std::nullopt;
  }

  // 5xx: one copy to the fallback mailbox (never a bounce to the outside: backscatter). When
  // the fallback refuses too, or there is none, the message stays on the provider (held).
  // The SBS connector model has no fallback mailbox: refused recipients are just failed.
  net::awaitable<std::optional<Failure>> to_fallback(const Route& route,
                                                     const std::vector<std::string>& bounced,
                                                     const std::string& key, MessageLog& m) {
    m.alert = true;
    const bool sbs = c_.defect == Defect::sbs_connector;
    const std::string fb = sbs ? std::string() : c_.routing.fallback;
    // An earlier cycle's fallback copy counts too (a message kept for a deferred recipient
    // comes back with its refused ones: the fallback must not get it again each cycle).
    const Held fb_has = already_holds(m, key, fb);
    if (!fb.empty() && (fb_has.done || fb_has.copy)) {
      m.notes.push_back(fb + ": already holds a copy for the refused recipients");
      co_return std::nullopt;
    }
    if (!fb.empty() && std::find(bounced.begin(), bounced.end(), fb) == bounced.end()) {
      // A named vector: GCC 12 mishandles a braced temporary inside a co_await expression.
      const std::vector<std::string> fb_list{fb};
      auto fr = co_await smtp_.deliver(route.mail_from, fb_list, route.message);
      if (!fr.empty() && fr[0].code >= 200 && fr[0].code < 300) {
        m.notes.push_back(fb + ": fallback for refused recipients");
        co_return record_delivery(m, fb, key);
      }
      if (!fr.empty() && fr[0].code < 500) {
        m.deferred.push_back(fb);
        m.notes.push_back(fmt::format("{}: fallback deferred {} {}", fb, fr[0].code, fr[0].text));
        co_return std::nullopt;
      }
      if (!fr.empty())
        m.notes.push_back(fmt::format("{}: fallback refused {} {}", fb, fr[0].code, fr[0].text));
    }
    m.failed.insert(m.failed.end(), bounced.begin(), bounced.end());
    if (sbs) co_return std::nullopt;  // the model loses them, as the real connector does
    m.held = true;
    co_return std::nullopt;
  }

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

Fetcher::Fetcher(Config config, const base::Clock& clock, LogFn log, Hooks hooks)
    : config_(std::move(config)), clock_(clock), log_(std::move(log)), hooks_(std::move(hooks)) {}

Fetcher::~Fetcher() = default;

net::awaitable<CycleResult> Fetcher::run_cycle() {
  auto ex = co_await asio::this_coro::executor;
  Cycle cycle(*this, ex);
  co_return co_await cycle.run();
}

CycleResult Fetcher::run_cycle_blocking() {
  asio::io_context io;
  CycleResult result;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        result = co_await run_cycle();
        done = true;
      },
      [&](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  if (!done) {
    result.outcome = Outcome::pop3_error;
    result.detail = "cycle did not complete";
  }
  return result;
}

}  // namespace dropcheck::fetcher

// Fetcher::Cycle's batches and messages (fetcher_cycle.hpp): pipelined RETRs, routing and
// delivery of each message, group commit, DELE, holds and the fallback mailbox.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/strings.hpp"
#include "fetcher_cycle.hpp"
#include "mail/header.hpp"

namespace dropcheck::fetcher {

namespace {

using namespace detail;  // cycle_parts.hpp, fetcher_cycle.hpp: the cycle's helpers

// A held message is tried again after 5 minutes, then 10, 20, ... at most 6 hours apart: a
// message that cannot be placed never blocks the ones behind it, and is never given up.
constexpr std::int64_t kHoldBackoffBaseMs = 5 * 60'000;
constexpr std::int64_t kHoldBackoffMaxMs = 6 * 3'600'000;

// A batch (group commit, pipelined RETRs and DELEs): messages, and octets by LIST size.
constexpr std::size_t kBatchMessages = 64;
constexpr std::size_t kBatchOctets = 4 << 20;

}  // namespace

std::size_t Fetcher::Cycle::batch_end(const std::vector<Listed>& listing, std::size_t at) {
  std::size_t end = at;
  std::size_t octets = 0;
  while (end < listing.size() && end - at < kBatchMessages &&
         (end == at || octets + listing[end].size <= kBatchOctets))
    octets += listing[end++].size;
  return end;
}

net::awaitable<std::optional<Failure>> Fetcher::Cycle::batch(const std::vector<Listed>& listing,
                                                             std::size_t at, std::size_t end,
                                                             CycleResult& res) {
  Batch b;
  b.ms.resize(end - at);
  std::vector<Plan> plans;
  std::vector<std::string> retrs;
  for (std::size_t i = 0; i < b.ms.size(); ++i) {
    MessageLog& m = b.ms[i];
    m.number = listing[at + i].number;
    m.size = listing[at + i].size;
    m.uidl = listing[at + i].uidl;
    plans.push_back(plan(m));
    if (plans.back() == Plan::retrieve) retrs.push_back(fmt::format("RETR {}", m.number));
  }
  const bool ahead = pipelined_ && retrs.size() > 1;
  bool sent = true;
  if (ahead) sent = co_await pop_.send_pipelined(retrs);
  if (!sent) co_return pop_failure();
  for (std::size_t i = 0; i < b.ms.size(); ++i) {
    if (plans[i] == Plan::delete_only) b.settled.push_back(i);
    std::optional<Failure> f;
    if (plans[i] == Plan::retrieve) f = co_await take(b, i, res, ahead);
    if (f) {
      // The session ends; what the receiver said about the message in flight is still
      // recorded (its own failure, if any, is a consequence of this one).
      (void)co_await conclude(b);
      co_return record(b.ms, i + 1, res, f);
    }
  }
  auto f = co_await conclude(b);
  if (!f) f = commit();
  std::sort(b.settled.begin(), b.settled.end());
  if (!f) f = co_await dele_all(b.ms, b.settled, res);
  co_return record(b.ms, b.ms.size(), res, f);
}

std::optional<Failure> Fetcher::Cycle::record(std::vector<MessageLog>& ms, std::size_t n,
                                              CycleResult& res, std::optional<Failure> f) {
  for (std::size_t i = 0; i < n; ++i) {
    if (ms[i].held) ++res.held;
    log(describe(ms[i]));
    res.messages.push_back(std::move(ms[i]));
  }
  return f;
}

Fetcher::Cycle::Plan Fetcher::Cycle::plan(MessageLog& m) {
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

net::awaitable<std::optional<Failure>> Fetcher::Cycle::take(Batch& b, std::size_t i,
                                                            CycleResult& res, bool sent) {
  MessageLog& m = b.ms[i];
  // The message in flight waits with its content queued for this one's envelope. When this
  // one is not at hand (a slow provider, or RETR not pipelined), that one is concluded now
  // (content sent, final reply read): a receiver must not sit inside DATA for as long as a
  // retrieval may take, and its reply must not stay unread for that long either (a crash
  // meanwhile would deliver it twice).
  if (b.flying && (!sent || pop_.at_hand() < m.size)) {
    if (auto f = co_await conclude(b)) co_return f;
  }
  std::optional<std::string> raw;
  if (auto f = co_await retrieve(m, raw, sent)) co_return f;
  if (!raw) co_return std::nullopt;
  ++res.retrieved;
  if (f_.hooks_.on_retrieved) f_.hooks_.on_retrieved(res.retrieved);
  std::optional<Delivery> next;
  if (auto f = co_await start(b, *raw, i, next)) co_return f;
  // The earlier message's final reply arrives behind this one's envelope. This one is in
  // flight even when concluding that one fails (the batch's way out still concludes it).
  auto f = co_await conclude(b);
  b.flying = std::move(next);
  if (f) co_return f;
  if (b.flying) co_return std::nullopt;
  co_return finish_message(b, i);
}

net::awaitable<std::optional<Failure>> Fetcher::Cycle::conclude(Batch& b) {
  if (!b.flying) co_return std::nullopt;
  const Delivery d = std::move(*b.flying);
  b.flying.reset();
  MessageLog& m = b.ms[d.index];
  const auto results =
      co_await smtp_.finish_delivery(d.ticket, d.route.mail_from, d.todo, d.route.message);
  if (auto f = co_await judge(results, d, m)) co_return f;
  co_return finish_message(b, d.index);
}

std::optional<Failure> Fetcher::Cycle::finish_message(Batch& b, std::size_t i) {
  MessageLog& m = b.ms[i];
  if (m.held) return hold(m, "not accepted by any local mailbox");
  if (!m.deferred.empty()) return std::nullopt;
  b.settled.push_back(i);
  return settle(m);
}

std::optional<Failure> Fetcher::Cycle::commit() {
  if (!use_state()) return std::nullopt;
  if (f_.hooks_.before_state_sync && !f_.hooks_.before_state_sync())
    return Failure{Outcome::state_error, "state log: sync failed (injected)"};
  if (auto synced = log_->sync(); !synced.ok())
    return Failure{Outcome::state_error, synced.error().message};
  return std::nullopt;
}

net::awaitable<std::optional<Failure>> Fetcher::Cycle::dele_all(
    std::vector<MessageLog>& ms, const std::vector<std::size_t>& which, CycleResult& res) {
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

bool Fetcher::Cycle::still_held(MessageLog& m) {
  auto it = m.uidl.empty() ? state_.held.end() : state_.held.find(m.uidl);
  if (it == state_.held.end() || now_ms() >= it->second.not_before_ms) return false;
  m.held = true;
  m.alert = true;
  m.notes.push_back(fmt::format("held on the provider ({}); next attempt in {} s",
                                it->second.reason,
                                (it->second.not_before_ms - now_ms() + 999) / 1000));
  return true;
}

std::optional<Failure> Fetcher::Cycle::hold(MessageLog& m, const std::string& why) {
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

net::awaitable<std::optional<Failure>> Fetcher::Cycle::retrieve(MessageLog& m,
                                                                std::optional<std::string>& raw,
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

std::optional<Failure> Fetcher::Cycle::settle(MessageLog& m) {
  if (!use_state() || m.uidl.empty()) return std::nullopt;
  state_.settled_uidls.insert(m.uidl);
  state_.progress.erase(m.uidl);
  state_.held.erase(m.uidl);
  auto saved = log_->settled(m.uidl);
  if (!saved.ok()) return Failure{Outcome::state_error, saved.error().message};
  return std::nullopt;
}

net::awaitable<std::optional<Failure>> Fetcher::Cycle::start(Batch& b, const std::string& raw,
                                                             std::size_t i,
                                                             std::optional<Delivery>& next) {
  MessageLog& m = b.ms[i];
  const RouteContext by{c_.received_by.empty() ? c_.name : c_.received_by, c_.pop3.host,
                        c_.pop3.user, f_.clock_.now()};
  Delivery d;
  d.index = i;
  d.route = c_.defect == Defect::none ? route_message(c_, raw, by) : route_with_defect(c_, raw, by);
  m.mail_from = d.route.mail_from;
  m.notes.insert(m.notes.end(), d.route.notes.begin(), d.route.notes.end());
  m.alert = m.alert || d.route.alert;
  if (d.route.recipients.empty()) {
    m.held = true;
    m.notes.emplace_back("no local mailbox to deliver to (no fallback): kept on the provider");
    co_return std::nullopt;
  }
  d.key = dedup_on() ? dedup_key(raw) : std::string();
  // What this message still needs depends on what the one in flight got when it is the same
  // provider copy (dedup key) or shares its UIDL: that one is concluded first.
  const bool same = b.flying && ((!d.key.empty() && d.key == b.flying->key) ||
                                 (!m.uidl.empty() && m.uidl == b.ms[b.flying->index].uidl));
  if (same) {
    if (auto f = co_await conclude(b)) co_return f;
  }
  d.todo = pending_recipients(d.route, d.key, m);
  if (d.todo.empty()) {
    m.skipped = true;
    co_return std::nullopt;
  }
  if (!co_await smtp_.open()) co_return Failure{Outcome::smtp_error, smtp_.error()};
  d.ticket = co_await smtp_.begin(d.route.mail_from, d.todo, d.route.message);
  next = std::move(d);
  co_return std::nullopt;
}

net::awaitable<std::optional<Failure>> Fetcher::Cycle::judge(
    const std::vector<client::RcptResult>& results, const Delivery& d, MessageLog& m) {
  std::vector<std::string> bounced;
  for (const auto& r : results) {
    if (r.code >= 200 && r.code < 300) {
      if (auto f = record_delivery(m, r.rcpt, d.key)) co_return f;
    } else if (r.code >= 500) {
      m.notes.push_back(fmt::format("{}: refused {} {}", r.rcpt, r.code, r.text));
      bounced.push_back(r.rcpt);
    } else {
      m.notes.push_back(fmt::format("{}: deferred {} {}", r.rcpt, r.code, r.text));
      m.deferred.push_back(r.rcpt);
    }
  }
  if (!bounced.empty()) co_return co_await to_fallback(d.route, bounced, d.key, m);
  co_return std::nullopt;
}

Fetcher::Cycle::Held Fetcher::Cycle::already_holds(const MessageLog& m, const std::string& key,
                                                   const std::string& r) const {
  Held h;
  const auto it = state_.progress.find(m.uidl);
  h.done = std::find(m.delivered.begin(), m.delivered.end(), r) != m.delivered.end() ||
           (!m.uidl.empty() && it != state_.progress.end() && it->second.count(r));
  h.copy = !key.empty() && state_.delivered_keys.count(key + " " + r);
  return h;
}

std::vector<std::string> Fetcher::Cycle::pending_recipients(const Route& route,
                                                            const std::string& key, MessageLog& m) {
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

std::optional<Failure> Fetcher::Cycle::record_delivery(MessageLog& m, const std::string& rcpt,
                                                       const std::string& key) {
  m.delivered.push_back(rcpt);
  if (!m.uidl.empty()) state_.progress[m.uidl].insert(rcpt);
  const std::int64_t at = now_ms();
  if (!key.empty()) state_.delivered_keys.emplace(key + " " + rcpt, at);
  if (use_state()) {
    // Written at once (made durable by the batch's group commit): a crash from here on does
    // not re-send to rcpt.
    auto saved = log_->delivered(m.uidl, rcpt, key, at);
    if (!saved.ok()) return Failure{Outcome::state_error, saved.error().message};
  }
  return std::nullopt;
}

net::awaitable<std::optional<Failure>> Fetcher::Cycle::to_fallback(
    const Route& route, const std::vector<std::string>& bounced, const std::string& key,
    MessageLog& m) {
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

}  // namespace dropcheck::fetcher

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
#include "fetcher_cycle.hpp"
#include "mail/header.hpp"

namespace dropcheck::fetcher {
namespace asio = net::asio;

namespace {

using namespace detail;  // cycle_parts.hpp, fetcher_cycle.hpp: the cycle's helpers

// The state log is folded into the snapshot when longer than this (or torn).
constexpr std::uintmax_t kCompactLogOctets = 256 << 10;

}  // namespace

// The SBS POP3 connector's smallest schedule interval (its dialog offers nothing shorter).
constexpr std::int64_t kSbsMinIntervalMs = 15 * 60 * 1000;

// ---- Fetcher::Cycle (fetcher_cycle.hpp): state, login, listing; the batches and each
// message: fetcher_messages.cpp.

net::awaitable<CycleResult> Fetcher::Cycle::run() {
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

void Fetcher::Cycle::log(const std::string& line) {
  if (f_.log_) f_.log_(line);
}

std::optional<Failure> Fetcher::Cycle::prepare_state(std::optional<CycleLock>& lock) {
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

std::optional<Failure> Fetcher::Cycle::finish_state(bool failed) {
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

std::optional<Failure> Fetcher::Cycle::auth_alert(const Failure& f) {
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

std::optional<Failure> Fetcher::Cycle::sbs_schedule(std::int64_t now) const {
  if (c_.defect != Defect::sbs_connector || state_.last_login_ms <= 0 ||
      now - state_.last_login_ms >= kSbsMinIntervalMs)
    return std::nullopt;
  return Failure{Outcome::ok,
                 fmt::format("sbs-connector: 15-minute schedule, next round in {} s",
                             (kSbsMinIntervalMs - (now - state_.last_login_ms) + 999) / 1000)};
}

net::awaitable<std::optional<Failure>> Fetcher::Cycle::login(CycleResult& res) {
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
      co_return Failure{Outcome::pop3_error, "provider temporarily unavailable: " + r.status->text};
    co_return Failure{Outcome::auth_failed, r.status->text};
  }
  co_return record_login();
}

std::optional<Failure> Fetcher::Cycle::record_login() {
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

net::awaitable<std::optional<Failure>> Fetcher::Cycle::maildrop(std::vector<Listed>& out) {
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

net::awaitable<std::optional<Failure>> Fetcher::Cycle::session(CycleResult& res) {
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

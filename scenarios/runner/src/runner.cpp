#include "runner/runner.hpp"

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include "base/clock.hpp"
#include "base/strings.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "fake_smtp/receiver.hpp"
#include "net/server.hpp"
#include "mailboxes.hpp"
#include "runner/external.hpp"

namespace dropcheck::runner {

namespace fs = std::filesystem;
namespace asio = net::asio;

namespace {

// Every scenario starts at the same virtual instant, so runs are repeatable.
constexpr base::Millis kEpoch{1'795'420'800'000};  // 2026-11-23T00:00:00Z
// External fetchers retrieve a few small messages over loopback in about a millisecond, far
// less than a second process takes to start: an overlap scenario throttles the provider (unless
// its profile already does) so that the first cycle is still transferring when the next starts.
// 1000 B/s = 100-octet slices every 100 ms: a scenario message (150-400 octets with the RETR
// reply) takes 100-400 ms.
constexpr std::uint64_t kExternalOverlapThrottle = 1000;
// How often the provider's session log is read to trigger an overlap for an external fetcher.
constexpr auto kOverlapPoll = std::chrono::milliseconds(1);

std::string make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "dropcheck-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed in " + tmpl);
  return tmpl;
}

// Calls `trigger` with the number of messages the sessions from `first_session` on have
// retrieved (RETR or TOP),
// every kOverlapPoll, until `*done`. A free function: its parameters live in the coroutine frame.
net::awaitable<void> watch_retrievals(const fake_pop3::Provider& provider,
                                      std::shared_ptr<bool> done, std::size_t first_session,
                                      std::function<void(std::size_t)> trigger) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!*done) {
    std::size_t n = 0;
    const auto& sessions = provider.session_log();
    for (std::size_t i = first_session; i < sessions.size(); ++i)
      n += sessions[i].retrieved_uidls.size() + sessions[i].topped_uidls.size();
    if (n > 0) trigger(n);
    t.expires_after(kOverlapPoll);
    co_await t.async_wait(asio::use_awaitable);
  }
}

// What fake-smtp records (TransactionRecord::faults, SessionRecord::faults) when a scheduled
// receiver fault fires, by event name.
std::vector<std::pair<std::string, std::string>> receiver_fault_marks(const ReceiverSpec& r) {
  std::vector<std::pair<std::string, std::string>> out;
  if (r.rcpt_fail_at > 0)
    out.emplace_back("receiver-fault:rcpt", fmt::format("rcpt-{}-{}", r.rcpt_fail_at, r.rcpt_fail_code));
  if (r.data_fail_code != 0)
    out.emplace_back("receiver-fault:data", fmt::format("data-{}", r.data_fail_code));
  if (r.data_end_fail_code != 0)
    out.emplace_back("receiver-fault:data-end", fmt::format("data-end-{}", r.data_end_fail_code));
  for (const auto& f : r.rcpt_faults)
    out.emplace_back(fmt::format("receiver-fault:rcpt-to:{}", base::to_lower(f.address)),
                     fmt::format("rcpt-to-{}-{}", base::to_lower(f.address), f.code));
  for (std::size_t i = 0; i < r.reply_delay_ms.size(); ++i) {
    if (r.reply_delay_ms[i] <= 0) continue;
    const std::string_view stage = fake_smtp::kReplyStageNames[i];
    out.emplace_back(fmt::format("receiver-fault:delay-{}", stage),
                     fmt::format("delay-{}-{}ms", stage, r.reply_delay_ms[i]));
  }
  return out;
}

// The by-address RCPT faults scheduled for `cycle`.
std::vector<fake_smtp::Faults::RcptFailFor> rcpt_faults_in_cycle(const ReceiverSpec& r, int cycle) {
  std::vector<fake_smtp::Faults::RcptFailFor> out;
  for (const auto& f : r.rcpt_faults)
    if (f.cycles.empty() || std::find(f.cycles.begin(), f.cycles.end(), cycle) != f.cycles.end())
      out.push_back({f.address, f.code});
  return out;
}

std::vector<ScheduledEvent> receiver_events(const ReceiverSpec& spec,
                                            const std::vector<fake_smtp::TransactionRecord>& txns,
                                            const std::vector<fake_smtp::SessionRecord>& sessions,
                                            std::int64_t origin_ms) {
  std::vector<ScheduledEvent> out;
  const auto has = [](const std::vector<std::string>& faults, const std::string& mark) {
    return std::find(faults.begin(), faults.end(), mark) != faults.end();
  };
  for (const auto& [name, mark] : receiver_fault_marks(spec)) {
    ScheduledEvent e{name, false, fmt::format("no SMTP transaction met {}", mark)};
    if (spec.only_transaction > 0)
      e.detail += fmt::format(" (only transaction {})", spec.only_transaction);
    for (const auto& t : txns)
      if (!e.fired && has(t.faults, mark))
        e = {name, true, fmt::format("{} in journal #{}", mark, t.seq), t.virtual_ms - origin_ms};
    for (const auto& ss : sessions)
      if (!e.fired && has(ss.faults, mark))
        e = {name, true, fmt::format("{} in SMTP session {}", mark, ss.session_id),
             ss.connected_virtual_ms - origin_ms};
    out.push_back(std::move(e));
  }
  return out;
}

// `first_at`: per fault, the start of the cycle after which it had fired (virtual ms).
std::vector<ScheduledEvent> provider_fault_events(const std::vector<std::string>& scheduled,
                                                  const std::map<std::string, std::size_t>& fired,
                                                  const std::map<std::string, std::int64_t>& first_at) {
  std::vector<ScheduledEvent> out;
  for (const auto& name : scheduled) {
    const auto it = fired.find(name);
    const auto at = first_at.find(name);
    if (it != fired.end())
      out.push_back({"provider-fault:" + name, true, fmt::format("fired {} time(s)", it->second),
                     at == first_at.end() ? -1 : at->second});
    else
      out.push_back({"provider-fault:" + name, false, "no POP3 command met it"});
  }
  return out;
}

// The id of a POP3 session opened at or after log index `from` that is still open.
std::optional<std::uint64_t> open_session(const fake_pop3::Provider& provider, std::size_t from) {
  const auto& log = provider.session_log();
  for (std::size_t i = from; i < log.size(); ++i)
    if (log[i].ended_at == base::Millis{0}) return log[i].id;
  return std::nullopt;
}

// The drift fired when the fetcher logged in under the new profile (sessions from `from` on).
ScheduledEvent drift_event(const fake_pop3::Provider& provider, std::size_t from,
                           const Timeline& t) {
  const auto& log = provider.session_log();
  for (std::size_t i = from; i < log.size(); ++i)
    if (log[i].login_at)
      return {"drift", true,
              fmt::format("POP3 session #{} logged in under profile {}", log[i].id, t.drift_profile),
              (log[i].started_at - kEpoch).count()};
  return {"drift", false,
          fmt::format("no login under profile {} from cycle {} on", t.drift_profile, t.drift_cycle)};
}

// RunFacts (runner.hpp): the bounded lists the pictures draw.
std::size_t start_cycle_fact(RunFacts& f, int cycle, std::int64_t start_ms, bool overlapping) {
  ++f.cycles_total;
  if (f.cycles.size() >= kMaxFactCycles) return static_cast<std::size_t>(-1);
  f.cycles.push_back({cycle, start_ms, overlapping, {}});
  return f.cycles.size() - 1;
}

void end_cycle_fact(RunFacts& f, std::size_t index, const fetcher::CycleResult& r) {
  if (index < f.cycles.size()) f.cycles[index].outcome = std::string(fetcher::outcome_name(r.outcome));
}

void add_session_facts(RunFacts& f, const std::vector<fake_pop3::SessionLogEntry>& log) {
  f.sessions_total = log.size();
  for (const auto& e : log) {
    if (f.sessions.size() >= kMaxFactSessions) break;
    f.sessions.push_back({e.id, (e.started_at - kEpoch).count(), e.user, e.auth_result,
                          e.end_reason, e.retrieved_uidls.size() + e.topped_uidls.size(),
                          e.deleted_seqs.size()});
  }
}

// The provider's copies by store seq: deleted ones (and the box they were deleted from), and
// with several boxes the box of each copy still stored. With one box its name says nothing.
std::map<std::uint64_t, ProviderCopyFact> provider_copies(const Scenario& s,
                                                          const fake_pop3::Provider& p) {
  const bool boxes = s.mailboxes.size() > 1;
  std::map<std::uint64_t, ProviderCopyFact> out;
  for (const auto& e : p.session_log())
    for (const auto seq : e.deleted_seqs) out[seq] = {seq, boxes ? e.user : "", true};
  if (boxes)
    for (const auto& m : p.stored()) out.emplace(m.seq, ProviderCopyFact{m.seq, m.mailbox, false});
  return out;
}

void add_message_facts(RunFacts& f, const analyzer::Truth& truth,
                       const std::map<std::uint64_t, std::string>& message_of_seq,
                       const std::map<std::uint64_t, ProviderCopyFact>& copies) {
  f.messages_total = truth.messages.size();
  std::map<std::string, std::size_t> index;
  for (const auto& m : truth.messages) {
    if (f.messages.size() >= kMaxFactMessages) break;
    index.emplace(m.id, f.messages.size());
    f.messages.push_back({m.id, m.envelope_from, m.injected_ms - f.origin_ms, {}, 0});
  }
  for (const auto& [seq, id] : message_of_seq) {
    const auto it = index.find(id);
    if (it == index.end()) continue;
    MessageFact& mf = f.messages[it->second];
    if (mf.copies_total++ >= kMaxFactCopies) continue;
    const auto c = copies.find(seq);
    mf.copies.push_back(c != copies.end() ? c->second : ProviderCopyFact{seq, "", false});
  }
}

std::string describe(const analyzer::Finding& f) {
  return fmt::format("{} message={} recipient={}", f.type, f.message.empty() ? "-" : f.message,
                     f.recipient.empty() ? "-" : f.recipient);
}

}  // namespace

bool matches(const analyzer::Finding& f, const Expectation& e) {
  return f.type == e.type && (e.message.empty() || e.message == f.message) &&
         (e.recipient.empty() || base::iequals(e.recipient, f.recipient));
}

bool ScenarioResult::exercised() const {
  return std::all_of(events.begin(), events.end(), [](const ScheduledEvent& e) { return e.fired; });
}

std::string_view ScenarioResult::status() const {
  if (!error.empty()) return "error";
  if (!exercised()) return "not-exercised";
  if (!missing.empty() || !unexpected.empty()) return "fail";
  return "ok";
}

std::size_t compare_findings(const std::vector<analyzer::Finding>& findings,
                             const Expected& expect, std::vector<std::string>& missing,
                             std::vector<std::string>& unexpected) {
  std::size_t best = 0;
  for (std::size_t i = 0; i < expect.any_of.size(); ++i) {
    std::vector<std::string> m, u;
    compare_findings(findings, expect.any_of[i], m, u);
    if (i == 0 || m.size() + u.size() < missing.size() + unexpected.size()) {
      best = i;
      missing = std::move(m);
      unexpected = std::move(u);
    }
    if (missing.empty() && unexpected.empty()) break;
  }
  return best;
}

void compare_findings(const std::vector<analyzer::Finding>& findings,
                      const std::vector<Expectation>& expect, std::vector<std::string>& missing,
                      std::vector<std::string>& unexpected) {
  for (const auto& e : expect) {
    if (std::none_of(findings.begin(), findings.end(),
                     [&](const analyzer::Finding& f) { return matches(f, e); }))
      missing.push_back(fmt::format("{} message={} recipient={}", e.type,
                                    e.message.empty() ? "*" : e.message,
                                    e.recipient.empty() ? "*" : e.recipient));
  }
  for (const auto& f : findings) {
    if (std::none_of(expect.begin(), expect.end(),
                     [&](const Expectation& e) { return matches(f, e); }))
      unexpected.push_back(describe(f));
  }
}

std::vector<analyzer::Delivery> to_deliveries(
    const std::vector<fake_smtp::TransactionRecord>& records) {
  std::vector<analyzer::Delivery> out;
  out.reserve(records.size());
  for (const auto& r : records) {
    analyzer::Delivery d;
    d.seq = r.seq;
    d.session = r.session_id;
    d.virtual_ms = r.data_end_virtual_ms ? r.data_end_virtual_ms : r.virtual_ms;
    d.real_ms = r.data_end_real_ms ? r.data_end_real_ms : r.real_ms;
    d.mail_from = r.mail_from_null ? "" : r.mail_from;
    for (const auto& rc : r.rcpts) {
      d.rcpts.push_back({rc.address, rc.code});
      if (r.lmtp && rc.code >= 200 && rc.code < 300) d.lmtp_codes.push_back(rc.data_code);
    }
    d.data_code = r.data_complete ? r.data_code : 0;
    if (r.lmtp && r.data_complete) {
      // LMTP: the message is accepted if any recipient's final reply was positive.
      const bool any = std::any_of(d.lmtp_codes.begin(), d.lmtp_codes.end(),
                                   [](int c) { return c >= 200 && c < 300; });
      d.data_code = any ? 250 : r.data_code;
    }
    d.message = r.message;
    d.relayed_out = r.relayed_out;
    for (const auto& c : r.commands)
      if (c.line.size() >= 4 && (c.line.compare(0, 4, "DATA") == 0 || c.line.compare(0, 4, "data") == 0))
        d.data_real_ms = c.real_ms;
    if (d.data_real_ms >= 0 && r.data_complete) d.data_end_real_ms = r.data_end_real_ms;
    out.push_back(std::move(d));
  }
  return out;
}

analyzer::Truth truth_of(const Scenario& s) {
  analyzer::Truth t;
  t.scenario = s.name;
  t.local_domains = s.world.local_domains;
  t.users = s.world.users;
  t.aliases = s.world.aliases;
  t.fallback = s.world.fallback;
  for (const auto& m : s.messages)
    t.messages.push_back({m.id, m.envelope_from, m.envelope_to, m.raw, m.at_ms,
                          m.tag == m.id ? std::string() : m.tag});
  return t;
}

ScenarioResult run_scenario(const Scenario& s, const RunOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  ScenarioResult res;
  res.name = s.name;
  res.source = s.source;
  const auto log = [&](std::string_view line) {
    if (options.log) options.log(fmt::format("scenario={} {}", s.name, line));
  };
  std::string dir;
  bool remove_dir = false;
  try {
    if (options.keep_dir.empty()) {
      dir = make_temp_dir();
      remove_dir = true;
    } else {
      dir = options.keep_dir;
      fs::create_directories(dir);
    }
    auto profile = s.profile_override ? base::Result<fake_pop3::Profile>(*s.profile_override)
                                      : fake_pop3::load_profile(s.profile);
    if (!profile.ok()) throw std::runtime_error(s.source + ": provider.profile: " + profile.error().message);
    const bool external = s.fetcher.kind != FetcherKind::core;
    if (external && s.timeline.overlap_cycle > 0 && profile->throttle_bytes_per_s == 0)
      profile->throttle_bytes_per_s = kExternalOverlapThrottle;

    base::VirtualClock clock(kEpoch);
    asio::io_context io;
    const net::tcp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);

    fake_smtp::Journal journal(fs::path(dir) / "journal");
    fake_smtp::Policy policy;
    policy.local_domains = s.world.local_domains;
    policy.users = s.world.users;
    policy.lmtp = s.receiver.lmtp;
    if (s.receiver.open_relay) policy.relay = fake_smtp::RelayMode::open;
    policy.reject_null_sender = s.receiver.reject_null_sender;
    policy.loop_check = s.receiver.loop_check;
    policy.faults.rcpt_fail_at = s.receiver.rcpt_fail_at;
    policy.faults.rcpt_fail_code = s.receiver.rcpt_fail_code;
    policy.faults.data_fail_code = s.receiver.data_fail_code;
    policy.faults.data_end_fail_code = s.receiver.data_end_fail_code;
    policy.faults.only_transaction = s.receiver.only_transaction;
    for (std::size_t i = 0; i < policy.faults.reply_delay.size(); ++i)
      policy.faults.reply_delay[i] = std::chrono::milliseconds(s.receiver.reply_delay_ms[i]);
    fake_smtp::Receiver receiver(policy, journal, clock);
    net::Server smtp(io, loopback, receiver.factory());

    const auto provider_owner = make_provider(s, std::move(profile).value(), clock);
    fake_pop3::Provider& provider = *provider_owner;
    CredentialEvents credentials(s);
    // TLS: a self-signed pair made for this run; the fetcher trusts it through a CA file.
    std::shared_ptr<net::ssl::context> tls;
    const std::string ca_file = (fs::path(dir) / "provider-ca.pem").string();
    if (s.provider_tls != client::TlsMode::none) {
      const net::PemPair pem = net::make_self_signed("127.0.0.1");
      std::ofstream(ca_file) << pem.cert;
      tls = net::make_server_tls(pem);
    }
    net::Server pop(io, loopback,
                    [&](const net::Peer& p) { return provider.make_pop3_session(p); },
                    provider.pop3_server_options(tls, s.provider_tls == client::TlsMode::implicit));
    // The mail loop: what the in-house server relays out to a domain the provider also serves
    // comes straight back into the catch-all.
    receiver.set_on_record([&](const fake_smtp::TransactionRecord& rec) {
      if (!rec.accepted || s.provider_hosts.empty()) return;
      std::vector<std::string> back;
      for (const auto& rc : rec.rcpts)
        if (rc.relayed && std::find(s.provider_hosts.begin(), s.provider_hosts.end(),
                                    base::to_lower(rc.address.substr(rc.address.rfind('@') + 1))) !=
                              s.provider_hosts.end())
          back.push_back(rc.address);
      if (!back.empty()) {
        log(fmt::format("event=handback rcpts={} journal={}", back.size(), rec.seq));
        provider.deliver(rec.mail_from_null ? "" : rec.mail_from, back, rec.message);
      }
    });
    smtp.start();
    pop.start();

    fetcher::Config cfg = fetcher::default_config();
    cfg.name = "scenario";
    cfg.pop3.host = "127.0.0.1";
    cfg.pop3.port = pop.local_endpoint().port();
    cfg.pop3.user = std::string(kDefaultUser);
    cfg.pop3.password = mailbox_password(kDefaultUser, false);
    cfg.pop3.timeout = std::chrono::seconds(20);
    if (s.provider_tls != client::TlsMode::none) {
      cfg.pop3.ca_file = ca_file;
      // stls: the core finds STLS in CAPA and upgrades on its own (never a cleartext password).
      if (s.provider_tls == client::TlsMode::implicit) cfg.pop3.tls = fetcher::TlsMode::implicit;
    }
    cfg.smtp.host = "127.0.0.1";
    cfg.smtp.port = smtp.local_endpoint().port();
    cfg.smtp.timeout = std::chrono::milliseconds(s.fetcher.smtp_timeout_ms);
    cfg.routing.local_domains = s.world.local_domains;
    if (s.fetcher.knows_users) cfg.routing.users = s.world.users;
    cfg.smtp.lmtp = s.receiver.lmtp;
    cfg.routing.aliases = s.world.aliases;
    cfg.routing.fallback = s.world.fallback;
    if (!s.fetcher.envelope.empty()) cfg.routing.envelope = s.fetcher.envelope;
    if (s.fetcher.to_cc) cfg.routing.source = fetcher::RecipientSource::to_cc;
    if (s.fetcher.no_envelope) cfg.routing.envelope.clear();
    cfg.keep = s.fetcher.keep;
    cfg.state_dir = (fs::path(dir) / "state").string();
    cfg.defect = s.fetcher.defect;

    analyzer::Truth truth = truth_of(s);
    std::vector<std::size_t> order(s.messages.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return s.messages[a].at_ms < s.messages[b].at_ms;
    });
    std::size_t next = 0;
    std::map<std::uint64_t, std::string> message_of_seq;  // stored copy -> scenario message
    const auto inject_due = [&] {
      const auto now = clock.now() - kEpoch;
      while (next < order.size() && s.messages[order[next]].at_ms <= now.count()) {
        const auto& m = s.messages[order[next]];
        const std::uint64_t before = provider.last_seq();
        provider.deliver(m.envelope_from, m.envelope_to, m.raw);
        for (std::uint64_t seq = before + 1; seq <= provider.last_seq(); ++seq)
          message_of_seq[seq] = m.id;
        truth.messages[order[next]].injected_ms = clock.now().count();
        ++next;
      }
    };

    std::optional<fake_pop3::Profile> drift;
    std::vector<std::string> scheduled_faults = fake_pop3::scheduled_faults(provider.profile().faults);
    if (s.timeline.drift_cycle > 0) {
      auto p = fake_pop3::load_profile(s.timeline.drift_profile);
      if (!p.ok())
        throw std::runtime_error(s.source + ": timeline.drift.profile: " + p.error().message);
      drift = std::move(p).value();
      for (auto& f : fake_pop3::scheduled_faults(drift->faults))
        if (std::find(scheduled_faults.begin(), scheduled_faults.end(), f) == scheduled_faults.end())
          scheduled_faults.push_back(std::move(f));
    }
    std::size_t drift_first_session = 0;
    ScheduledEvent overlap{"overlap", false,
                           fmt::format("cycle {} never retrieved {} message(s)",
                                       s.timeline.overlap_cycle, s.timeline.overlap_after)};
    const auto fetcher_log = [&](const std::string& line) { log(line); };
    // Each cycle is its own fetcher invocation (as cron or a service timer would start it);
    // they share only the state directory, like separate processes.
    int overlapping = 0;
    bool finished = false;
    ExternalContext ext;
    ext.scenario = &s;
    ext.workdir = (fs::path(dir) / "external").string();
    ext.pop3_port = cfg.pop3.port;
    ext.user = cfg.pop3.user;
    ext.password = cfg.pop3.password;
    ext.smtp_port = cfg.smtp.port;
    ext.lmtp = cfg.smtp.lmtp;
    ext.pop3_tls = s.provider_tls;
    if (s.provider_tls != client::TlsMode::none) ext.ca_file = ca_file;
    ext.timeout = std::chrono::milliseconds(s.timeline.cycle_limit_ms);
    // One invocation of the fetcher under test.
    auto one_cycle = [&](int cycle, fetcher::Hooks hooks) -> net::awaitable<fetcher::CycleResult> {
      receiver.set_rcpt_fail_for(rcpt_faults_in_cycle(s.receiver, cycle));
      const std::size_t first = provider.session_log().size();
      if (external) {
        ExternalContext e = ext;
        e.cycle = cycle;
        e.password = configured_password(s, kDefaultUser, cycle);
        e.accounts = scenario_external_accounts(s, cycle);
        auto r = co_await run_external_cycle(e);
        log(fmt::format("event=cycle-end cycle={} outcome={} detail=\"{}\"", cycle,
                        fetcher::outcome_name(r.outcome), r.detail));
        credentials.reported(first, provider.session_log().size(), external_reported(s, r));
        co_return r;
      }
      const fetcher::Accounts accounts = core_accounts(s, cfg, cycle);
      fetcher::AccountsOptions account_options;
      account_options.hooks = std::move(hooks);
      const auto results = co_await fetcher::run_accounts(accounts, clock, fetcher_log, account_options);
      credentials.reported(first, provider.session_log().size(), core_reported(accounts, results));
      co_return combine(results);
    };
    const auto now_ms = [&] { return (clock.now() - kEpoch).count(); };
    auto overlapped = [&](int cycle) -> net::awaitable<void> {
      log(fmt::format("event=cycle-start cycle={} overlapping=yes", cycle));
      const std::size_t fact = start_cycle_fact(res.facts, cycle, now_ms(), true);
      res.cycles.push_back(co_await one_cycle(cycle, {}));
      end_cycle_fact(res.facts, fact, res.cycles.back());
      --overlapping;
    };
    std::map<std::string, std::int64_t> fault_first_at;  // provider fault -> cycle start
    // Named, so the closure outlives the coroutine that refers to its captures.
    auto play = [&]() -> net::awaitable<void> {
      asio::steady_timer wait(co_await asio::this_coro::executor);
      for (int c = 1; c <= s.timeline.cycles; ++c) {
        credentials.before_cycle(c, provider);
        if (drift && c == s.timeline.drift_cycle) {
          provider.set_profile(*drift);
          drift_first_session = provider.session_log().size();
        }
        inject_due();
        fetcher::Hooks hooks;
        bool spawned = false;
        const std::size_t first_session = provider.session_log().size();
        const auto invocations = [&](int after) {
          const int n = s.timeline.overlap_invocations;
          return n == 1 ? fmt::format("cycle {}", after + 1)
                        : fmt::format("cycles {}..{}", after + 1, after + n);
        };
        if (c == s.timeline.overlap_cycle) {
          hooks.on_retrieved = [&, c, first_session](std::size_t n) {
            if (spawned || n < static_cast<std::size_t>(s.timeline.overlap_after)) return;
            spawned = true;
            // It overlaps only if this cycle still holds a POP3 session open.
            if (const auto id = open_session(provider, first_session))
              overlap = {"overlap", true,
                         fmt::format("{} started while POP3 session #{} of cycle {} was open "
                                     "({} message(s) retrieved)",
                                     invocations(c), *id, c, n),
                         now_ms()};
            else
              overlap.detail = fmt::format("{} started after cycle {} had closed its POP3 "
                                           "session(s)",
                                           invocations(c), c);
            for (int k = 1; k <= s.timeline.overlap_invocations; ++k) {
              ++overlapping;
              net::spawn_logged(io.get_executor(), overlapped(c + k), "overlapping cycle");
            }
          };
        }
        // External fetchers have no hook: the provider's session log (RETR'd UIDLs of the
        // sessions this cycle opened) drives the same trigger.
        auto cycle_done = std::make_shared<bool>(false);
        if (external && hooks.on_retrieved) {
          net::spawn_logged(io.get_executor(),
                            watch_retrievals(provider, cycle_done, first_session,
                                             hooks.on_retrieved),
                            "overlap watcher");
        }
        const std::int64_t started = now_ms();
        log(fmt::format("event=cycle-start cycle={} t_ms={}", c, started));
        const std::size_t fact = start_cycle_fact(res.facts, c, started, false);
        res.cycles.push_back(co_await one_cycle(c, hooks));
        end_cycle_fact(res.facts, fact, res.cycles.back());
        *cycle_done = true;
        while (overlapping > 0) {  // bounded by the scenario deadline
          wait.expires_after(std::chrono::milliseconds(1));
          co_await wait.async_wait(asio::use_awaitable);
        }
        for (const auto& [fault, n] : provider.fired_faults()) fault_first_at.emplace(fault, started);
        if (spawned) c += s.timeline.overlap_invocations;  // the overlapping invocations were
                                                           // those cycles
        clock.advance(base::Millis{s.timeline.interval_ms});
      }
      finished = true;
      smtp.stop();
      pop.stop();
    };
    net::spawn_logged(io.get_executor(), play(), "scenario " + s.name);
    const std::chrono::milliseconds run_limit(s.timeline.run_limit_ms);
    io.run_for(run_limit);
    if (!finished) {
      smtp.stop();
      pop.stop();
      io.restart();
      io.run_for(std::chrono::seconds(2));
      throw std::runtime_error(fmt::format("did not finish within {} ms (timeline.run_limit)",
                                           run_limit.count()));
    }
    if (next < order.size())
      throw std::runtime_error(fmt::format(
          "{}: message {} is injected at {} ms, after the last cycle", s.source,
          s.messages[order[next]].id, s.messages[order[next]].at_ms));
    if (receiver.failed()) throw std::runtime_error("journal: " + receiver.fatal_error());

    truth.end_ms = clock.now().count();
    truth.interval_ms = s.timeline.interval_ms;
    truth.login_delay_ms = provider.profile().login_delay_s * 1000;
    truth.latency_budget_ms = s.timeline.latency_budget_ms;
    for (const auto& e : provider.session_log()) {
      analyzer::Pop3SessionFact f;
      f.id = e.id;
      f.started_ms = (e.started_at - kEpoch).count();
      f.tls = e.tls;
      f.cleartext_while_stls = e.cleartext_password_while_stls_offered;
      f.auth_result = e.auth_result;
      f.retrieved = e.retrieved_uidls;
      for (const auto seq : e.deleted_seqs)
        if (const auto it = message_of_seq.find(seq); it != message_of_seq.end())
          f.deleted.push_back(it->second);
      truth.pop3_sessions.push_back(std::move(f));
    }
    credentials.annotate(provider.session_log(), truth.pop3_sessions);
    auto records = fake_smtp::read_journal(fs::path(dir) / "journal");
    if (!records.ok()) throw std::runtime_error("journal: " + records.error().message);
    res.report = analyzer::analyze(truth, to_deliveries(*records));
    if (!options.keep_dir.empty()) {
      auto saved = analyzer::save_truth((fs::path(dir) / "truth.json").string(), truth);
      if (!saved.ok()) throw std::runtime_error(saved.error().message);
    }
    res.outcome = compare_findings(res.report.findings, s.expect, res.missing, res.unexpected);
    res.facts.origin_ms = kEpoch.count();
    res.facts.end_ms = truth.end_ms - kEpoch.count();
    res.facts.interval_ms = truth.interval_ms;
    res.facts.login_delay_ms = truth.login_delay_ms;
    res.facts.latency_budget_ms = truth.latency_budget_ms;
    if (drift) {
      res.facts.drift_cycle = s.timeline.drift_cycle;
      res.facts.drift_profile = s.timeline.drift_profile;
    }
    add_session_facts(res.facts, provider.session_log());
    add_message_facts(res.facts, truth, message_of_seq, provider_copies(s, provider));
    res.events = provider_fault_events(scheduled_faults, provider.fired_faults(), fault_first_at);
    if (drift) res.events.push_back(drift_event(provider, drift_first_session, s.timeline));
    if (s.timeline.overlap_cycle > 0) res.events.push_back(overlap);
    for (auto& e : credentials.events(provider.session_log())) res.events.push_back(std::move(e));
    auto sessions = fake_smtp::read_sessions(fs::path(dir) / "journal");
    if (!sessions.ok()) throw std::runtime_error("journal sessions: " + sessions.error().message);
    for (auto& e : receiver_events(s.receiver, *records, sessions->records, kEpoch.count()))
      res.events.push_back(std::move(e));
  } catch (const std::exception& e) {
    res.error = e.what();
  }
  if (remove_dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  res.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                          wall_start)
                    .count();
  return res;
}

}  // namespace dropcheck::runner

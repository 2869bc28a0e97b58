#include "runner/runner.hpp"

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include "analyzer/journal_input.hpp"
#include "base/clock.hpp"
#include "base/strings.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "fake_smtp/receiver.hpp"
#include "journal/reader.hpp"
#include "mailboxes.hpp"
#include "net/server.hpp"
#include "run_facts.hpp"
#include "runner/external.hpp"

namespace dropcheck::runner {

namespace fs = std::filesystem;
namespace asio = net::asio;

fs::path scratch_root() {
  if (const char* t = std::getenv("TMPDIR"); t && *t) return fs::temp_directory_path();
  std::error_code ec;
  const bool usable = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK | X_OK) == 0;
  if (usable && fs::space("/dev/shm", ec).available >= kMinScratchInMemory && !ec)
    return "/dev/shm";
  return fs::temp_directory_path();
}

namespace {

using namespace detail;  // run_facts.hpp: kEpoch, the events and facts of a run

// External fetchers retrieve a few small messages over loopback in about a millisecond, far
// less than a second process takes to start: an overlap scenario throttles the provider (unless
// its profile already does) so that the first cycle is still transferring when the next starts.
// 1000 B/s = 100-octet slices every 100 ms: a scenario message (150-400 octets with the RETR
// reply) takes 100-400 ms.
constexpr std::uint64_t kExternalOverlapThrottle = 1000;
// How often the provider's session log is read to trigger an overlap for an external fetcher.
constexpr auto kOverlapPoll = std::chrono::milliseconds(1);

std::string make_temp_dir() {
  std::string tmpl = (scratch_root() / "dropcheck-XXXXXX").string();
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

// The provider's certificate for TLS scenarios: an RSA key takes tens to hundreds of ms to make,
// so one pair serves every run of the process (the fetcher trusts it through each run's CA file).
// Thread-safe: scenarios may run on several threads (run_all).
const net::PemPair& provider_pem() {
  static const net::PemPair pem = net::make_self_signed("127.0.0.1");
  return pem;
}

std::string describe(const analyzer::Finding& f) {
  return fmt::format("{} message={} recipient={}", f.type, f.message.empty() ? "-" : f.message,
                     f.recipient.empty() ? "-" : f.recipient);
}

// fake-smtp's policy and faults from the scenario's receiver section.
fake_smtp::Policy receiver_policy(const Scenario& s) {
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
  return policy;
}

using LogLine = std::function<void(std::string_view)>;

// The mail loop: what the in-house server relays out to a domain the provider also serves
// comes straight back into the catch-all.
void hand_back_relayed(const Scenario& s, fake_pop3::Provider& provider, const LogLine& log,
                       const fake_smtp::TransactionRecord& rec) {
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
}

// The core's configuration (core_accounts makes one account of it per scenario account).
fetcher::Config core_config(const Scenario& s, std::uint16_t pop3_port, std::uint16_t smtp_port,
                            const std::string& ca_file, const std::string& dir) {
  fetcher::Config cfg = fetcher::default_config();
  cfg.name = "scenario";
  cfg.pop3.host = "127.0.0.1";
  cfg.pop3.port = pop3_port;
  cfg.pop3.user = std::string(kDefaultUser);
  cfg.pop3.password = mailbox_password(kDefaultUser, false);
  cfg.pop3.timeout = std::chrono::seconds(20);
  if (s.provider_tls != client::TlsMode::none) {
    cfg.pop3.ca_file = ca_file;
    // stls: the core finds STLS in CAPA and upgrades on its own (never a cleartext password).
    if (s.provider_tls == client::TlsMode::implicit) cfg.pop3.tls = fetcher::TlsMode::implicit;
  }
  cfg.smtp.host = "127.0.0.1";
  cfg.smtp.port = smtp_port;
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
  return cfg;
}

// What an external fetcher's adapter gets in every cycle (per cycle it sets cycle, password
// and accounts).
ExternalContext external_context(const Scenario& s, const fetcher::Config& cfg,
                                 const std::string& dir, const std::string& ca_file) {
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
  return ext;
}

// The scenario's messages, injected at the provider once the virtual clock reaches them.
class Injector {
 public:
  Injector(const Scenario& s, fake_pop3::Provider& provider, const base::VirtualClock& clock,
           analyzer::Truth& truth)
      : s_(s), provider_(provider), clock_(clock), truth_(truth), order_(s.messages.size()) {
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
      return s.messages[a].at_ms < s.messages[b].at_ms;
    });
  }

  void inject_due() {
    const auto now = clock_.now() - kEpoch;
    while (next_ < order_.size() && s_.messages[order_[next_]].at_ms <= now.count()) {
      const auto& m = s_.messages[order_[next_]];
      const std::uint64_t before = provider_.last_seq();
      provider_.deliver(m.envelope_from, m.envelope_to, m.raw);
      for (std::uint64_t seq = before + 1; seq <= provider_.last_seq(); ++seq)
        message_of_seq_[seq] = m.id;
      truth_.messages[order_[next_]].injected_ms = clock_.now().count();
      ++next_;
    }
  }

  // The first message not injected (due after the last cycle), or nullptr.
  const ScenarioMessage* pending() const {
    return next_ < order_.size() ? &s_.messages[order_[next_]] : nullptr;
  }
  // Stored copy -> scenario message.
  const std::map<std::uint64_t, std::string>& message_of_seq() const { return message_of_seq_; }

 private:
  const Scenario& s_;
  fake_pop3::Provider& provider_;
  const base::VirtualClock& clock_;
  analyzer::Truth& truth_;
  std::vector<std::size_t> order_;
  std::size_t next_ = 0;
  std::map<std::uint64_t, std::string> message_of_seq_;
};

// timeline.drift's profile, its faults added to `scheduled_faults`; nullopt without a drift.
std::optional<fake_pop3::Profile> load_drift(const Scenario& s,
                                             std::vector<std::string>& scheduled_faults) {
  if (s.timeline.drift_cycle <= 0) return std::nullopt;
  auto p = fake_pop3::load_profile(s.timeline.drift_profile);
  if (!p.ok())
    throw std::runtime_error(s.source + ": timeline.drift.profile: " + p.error().message);
  for (auto& f : fake_pop3::scheduled_faults(p->faults))
    if (std::find(scheduled_faults.begin(), scheduled_faults.end(), f) == scheduled_faults.end())
      scheduled_faults.push_back(std::move(f));
  return std::move(p).value();
}

// What the provider's log says for the analyzer: per POP3 session, TLS, login and the
// scenario messages it retrieved and deleted.
std::vector<analyzer::Pop3SessionFact> pop3_session_facts(
    const fake_pop3::Provider& provider,
    const std::map<std::uint64_t, std::string>& message_of_seq) {
  std::vector<analyzer::Pop3SessionFact> out;
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
    out.push_back(std::move(f));
  }
  return out;
}

// The timeline against the running servers. Each cycle is its own fetcher invocation (as cron
// or a service timer would start it); they share only the state directory, like separate
// processes. Lives until io.run returns: its coroutines refer to it.
struct Play {
  const Scenario& s;
  asio::io_context& io;
  base::VirtualClock& clock;
  fake_pop3::Provider& provider;
  fake_smtp::Receiver& receiver;
  net::Server& smtp;
  net::Server& pop;
  const fetcher::Config& cfg;
  const ExternalContext& ext;
  Injector& injector;
  CredentialEvents& credentials;
  ScenarioResult& res;
  const LogLine& log;
  const std::optional<fake_pop3::Profile>& drift;
  bool external = false;

  std::size_t drift_first_session = 0;
  ScheduledEvent overlap{"overlap", false,
                         fmt::format("cycle {} never retrieved {} message(s)",
                                     s.timeline.overlap_cycle, s.timeline.overlap_after)};
  int overlapping = 0;
  bool finished = false;
  std::map<std::string, std::int64_t> fault_first_at{};  // provider fault -> cycle start

  std::int64_t now_ms() const { return (clock.now() - kEpoch).count(); }

  // One invocation of the fetcher under test.
  net::awaitable<fetcher::CycleResult> one_cycle(int cycle, fetcher::Hooks hooks) {
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
    const fetcher::LogFn fetcher_log = [this](const std::string& line) { log(line); };
    const auto results =
        co_await fetcher::run_accounts(accounts, clock, fetcher_log, account_options);
    credentials.reported(first, provider.session_log().size(), core_reported(accounts, results));
    co_return combine(results);
  }

  net::awaitable<void> overlapped(int cycle) {
    log(fmt::format("event=cycle-start cycle={} overlapping=yes", cycle));
    const std::size_t fact = start_cycle_fact(res.facts, cycle, now_ms(), true);
    fetcher::Hooks none;
    res.cycles.push_back(co_await one_cycle(cycle, std::move(none)));
    end_cycle_fact(res.facts, fact, res.cycles.back());
    --overlapping;
  }

  std::string invocations(int after) const {
    const int n = s.timeline.overlap_invocations;
    return n == 1 ? fmt::format("cycle {}", after + 1)
                  : fmt::format("cycles {}..{}", after + 1, after + n);
  }

  // Cycle `c` has retrieved `n` messages: from overlap_after on, the next invocation(s) start
  // at once (once: `spawned`).
  void on_retrieved(int c, std::size_t first_session, bool& spawned, std::size_t n) {
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
      overlap.detail = fmt::format(
          "{} started after cycle {} had closed its POP3 "
          "session(s)",
          invocations(c), c);
    for (int k = 1; k <= s.timeline.overlap_invocations; ++k) {
      ++overlapping;
      net::spawn_logged(io.get_executor(), overlapped(c + k), "overlapping cycle");
    }
  }

  // Cycle `c` and, when it is the overlap cycle, the invocations it starts. Returns whether it
  // started them.
  net::awaitable<bool> cycle(int c, asio::steady_timer& wait) {
    credentials.before_cycle(c, provider);
    if (drift && c == s.timeline.drift_cycle) {
      provider.set_profile(*drift);
      drift_first_session = provider.session_log().size();
    }
    injector.inject_due();
    fetcher::Hooks hooks;
    bool spawned = false;
    const std::size_t first_session = provider.session_log().size();
    if (c == s.timeline.overlap_cycle)
      hooks.on_retrieved = [this, c, first_session, &spawned](std::size_t n) {
        on_retrieved(c, first_session, spawned, n);
      };
    // External fetchers have no hook: the provider's session log (RETR'd UIDLs of the
    // sessions this cycle opened) drives the same trigger.
    auto cycle_done = std::make_shared<bool>(false);
    if (external && hooks.on_retrieved) {
      net::spawn_logged(io.get_executor(),
                        watch_retrievals(provider, cycle_done, first_session, hooks.on_retrieved),
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
    co_return spawned;
  }

  net::awaitable<void> play() {
    asio::steady_timer wait(co_await asio::this_coro::executor);
    for (int c = 1; c <= s.timeline.cycles; ++c) {
      const bool spawned = co_await cycle(c, wait);
      if (spawned)
        c += s.timeline.overlap_invocations;  // the overlapping invocations were
                                              // those cycles
      clock.advance(base::Millis{s.timeline.interval_ms});
    }
    finished = true;
    smtp.stop();
    pop.stop();
  }
};

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

std::size_t compare_findings(const std::vector<analyzer::Finding>& findings, const Expected& expect,
                             std::vector<std::string>& missing,
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
namespace {

// The provider's profile for this run (the scenario's own, or the named one); throws when it
// does not load. An external fetcher's overlapping cycle needs a throttled provider.
fake_pop3::Profile run_profile(const Scenario& s, bool external) {
  auto profile = s.profile_override ? base::Result<fake_pop3::Profile>(*s.profile_override)
                                    : fake_pop3::load_profile(s.profile);
  if (!profile.ok())
    throw std::runtime_error(s.source + ": provider.profile: " + profile.error().message);
  if (external && s.timeline.overlap_cycle > 0 && profile->throttle_bytes_per_s == 0)
    profile->throttle_bytes_per_s = kExternalOverlapThrottle;
  return std::move(profile).value();
}

// The run itself, in `dir`: the servers and the timeline, then the truth and the journal
// judged into `res`; throws on a harness error.
void play_and_judge(const Scenario& s, const RunOptions& options, const std::string& dir,
                    ScenarioResult& res) {
  const LogLine log = [&](std::string_view line) {
    if (options.log) options.log(fmt::format("scenario={} {}", s.name, line));
  };
  const bool external = s.fetcher.kind != FetcherKind::core;
  fake_pop3::Profile profile = run_profile(s, external);

  base::VirtualClock clock(kEpoch);
  asio::io_context io;
  const net::tcp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);

  fake_smtp::Journal journal(fs::path(dir) / "journal");
  fake_smtp::Receiver receiver(receiver_policy(s), journal, clock);
  net::Server smtp(io, loopback, receiver.factory());

  const auto provider_owner = make_provider(s, std::move(profile), clock);
  fake_pop3::Provider& provider = *provider_owner;
  CredentialEvents credentials(s);
  // TLS: the process's self-signed pair (provider_pem); the fetcher trusts it through a CA file.
  std::shared_ptr<net::ssl::context> tls;
  const std::string ca_file = (fs::path(dir) / "provider-ca.pem").string();
  if (s.provider_tls != client::TlsMode::none) {
    const net::PemPair& pem = provider_pem();
    std::ofstream(ca_file) << pem.cert;
    tls = net::make_server_tls(pem);
  }
  net::Server pop(
      io, loopback, [&](const net::Peer& p) { return provider.make_pop3_session(p); },
      provider.pop3_server_options(tls, s.provider_tls == client::TlsMode::implicit));
  receiver.set_on_record(
      [&](const fake_smtp::TransactionRecord& rec) { hand_back_relayed(s, provider, log, rec); });
  smtp.start();
  pop.start();

  const fetcher::Config cfg =
      core_config(s, pop.local_endpoint().port(), smtp.local_endpoint().port(), ca_file, dir);
  analyzer::Truth truth = truth_of(s);
  Injector injector(s, provider, clock, truth);
  std::vector<std::string> scheduled_faults =
      fake_pop3::scheduled_faults(provider.profile().faults);
  const std::optional<fake_pop3::Profile> drift = load_drift(s, scheduled_faults);
  const ExternalContext ext = external_context(s, cfg, dir, ca_file);
  Play run{s,   io,       clock,       provider, receiver, smtp,  pop,     cfg,
           ext, injector, credentials, res,      log,      drift, external};
  net::spawn_logged(io.get_executor(), run.play(), "scenario " + s.name);
  const std::chrono::milliseconds run_limit(s.timeline.run_limit_ms);
  io.run_for(run_limit);
  if (!run.finished) {
    smtp.stop();
    pop.stop();
    io.restart();
    io.run_for(std::chrono::seconds(2));
    throw std::runtime_error(
        fmt::format("did not finish within {} ms (timeline.run_limit)", run_limit.count()));
  }
  if (const ScenarioMessage* m = injector.pending())
    throw std::runtime_error(fmt::format(
        "{}: message {} is injected at {} ms, after the last cycle", s.source, m->id, m->at_ms));
  if (receiver.failed()) throw std::runtime_error("journal: " + receiver.fatal_error());

  truth.end_ms = clock.now().count();
  truth.interval_ms = s.timeline.interval_ms;
  truth.login_delay_ms = provider.profile().login_delay_s * 1000;
  truth.latency_budget_ms = s.timeline.latency_budget_ms;
  const auto& message_of_seq = injector.message_of_seq();
  truth.pop3_sessions = pop3_session_facts(provider, message_of_seq);
  credentials.annotate(provider.session_log(), truth.pop3_sessions);
  auto report = analyzer::analyze_journal(truth, fs::path(dir) / "journal");
  if (!report.ok()) throw std::runtime_error("journal: " + report.error().message);
  res.report = std::move(report).value();
  if (!options.keep_dir.empty()) {
    auto saved = analyzer::save_truth((fs::path(dir) / "truth.json").string(), truth);
    if (!saved.ok()) throw std::runtime_error(saved.error().message);
  }
  res.outcome = compare_findings(res.report.findings, s.expect, res.missing, res.unexpected);
  add_timing_facts(res.facts, truth, s, drift.has_value());
  add_session_facts(res.facts, provider.session_log());
  add_message_facts(res.facts, truth, message_of_seq, provider_copies(s, provider));
  res.events = provider_fault_events(scheduled_faults, provider.fired_faults(), run.fault_first_at);
  if (drift) res.events.push_back(drift_event(provider, run.drift_first_session, s.timeline));
  if (s.timeline.overlap_cycle > 0) res.events.push_back(run.overlap);
  for (auto& e : credentials.events(provider.session_log())) res.events.push_back(std::move(e));
  add_journal_events(s, fs::path(dir) / "journal", res.events);
}

}  // namespace

ScenarioResult run_scenario(const Scenario& s, const RunOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  ScenarioResult res;
  res.name = s.name;
  res.source = s.source;
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
    play_and_judge(s, options, dir, res);
  } catch (const std::exception& e) {
    res.error = e.what();
  }
  if (remove_dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  res.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start)
          .count();
  return res;
}

}  // namespace dropcheck::runner

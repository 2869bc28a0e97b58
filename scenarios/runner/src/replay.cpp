#include "runner/replay.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "analyzer/analyzer.hpp"
#include "base/strings.hpp"
#include "fake_pop3/provider.hpp"
#include "probe/advice.hpp"
#include "runner/external.hpp"
#include "runner/matrix.hpp"

namespace dropcheck::runner {

namespace {

// The provider's profile as the probe would have inferred it: the advice is computed from
// exactly what the probe writes, so a built-in profile and a probed one are advised alike.
probe::InferredProfile as_inferred(const fake_pop3::Profile& p) {
  probe::InferredProfile i;
  i.name = p.name;
  i.envelope_header = p.envelope_header;
  i.received_by = p.received_by;
  i.received_inner_by = p.received_inner_by;
  i.envelope_style = std::string(fake_pop3::to_string(p.envelope_style));
  i.copy_per_recipient = p.copy_per_recipient;
  i.qmail_prefix = p.qmail_prefix;
  i.delivered_to = std::string(fake_pop3::to_string(p.delivered_to));
  i.login_delay_s = p.login_delay_s;
  // The provider's own recipient is the topmost Delivered-To (later hops add theirs above
  // nothing: the provider stamps last); every other header lists all of them.
  i.envelope_occurrence = base::iequals(p.envelope_header, "Delivered-To") ? 1 : 0;
  return i;
}

// Finding types a limit explains. Lost or misrouted mail with no envelope to route by; mail
// that waits on the server (or arrives late) when the provider refuses or breaks retrieval;
// copies the provider itself presents twice; correct logins the provider refuses (whether the
// fetcher reported them stays its own: silent-login-failure is never explained).
const std::set<std::string> kWaits = {"stuck-queue", "lost-recipient", "delayed"};

std::vector<ProviderLimitRule> fault_limits(const fake_pop3::Faults& f) {
  std::vector<ProviderLimitRule> out;
  if (f.represent_deleted != fake_pop3::Represent::off)
    out.push_back({"fault:represent_deleted",
                   "the provider presents deleted messages again: copies arrive twice",
                   {"duplicate"}});
  if (f.duplicate_uidls || f.changing_uidls)
    out.push_back(
        {"fault:uidls", "the provider's UIDLs are not unique or not stable", {"duplicate"}});
  if (!f.err_on_retr.empty() || f.drop_in_retr > 0 || f.drop_after_bytes > 0 ||
      f.list_size_delta != 0 || f.auth_failures != 0)
    out.push_back({"fault:retrieval",
                   "the provider refuses or breaks retrievals: mail waits on its server", kWaits});
  if (f.auth_failures != 0)
    out.back().explains.insert("login-refused");  // it refuses the correct password
  return out;
}

// What the scenario documents for `fetcher` (an external kind or a defect model), or nullptr.
const Expected* documented_for(const Scenario& s, const std::string& fetcher) {
  if (const auto kind = parse_fetcher_kind(fetcher)) {
    const auto it = s.fetchers.find(*kind);
    return it == s.fetchers.end() ? nullptr : &it->second;
  }
  if (const auto defect = fetcher::parse_defect(fetcher); defect.ok()) {
    const auto it = s.defects.find(*defect);
    return it == s.defects.end() ? nullptr : &it->second;
  }
  return nullptr;
}

bool documented(const Scenario& s, const std::string& fetcher, const std::string& type) {
  const Expected* expected = documented_for(s, fetcher);
  if (!expected) return false;
  for (const auto& alt : expected->any_of)
    for (const auto& e : alt)
      if (e.type == type) return true;
  return false;
}

// Whether the library documents findings of `type` for `fetcher` anywhere.
bool documented_anywhere(const std::vector<Scenario>& library, const std::string& fetcher,
                         const std::string& type) {
  return std::any_of(library.begin(), library.end(),
                     [&](const Scenario& s) { return documented(s, fetcher, type); });
}

bool same_finding(const analyzer::Finding& a, const analyzer::Finding& b) {
  return a.type == b.type && a.message == b.message && base::iequals(a.recipient, b.recipient);
}

// A cell's status ignoring the provider's own faults: they are properties of the provider,
// not events the scenario scheduled.
std::string cell_problem(const ScenarioResult& r, const ReplayProvider& p) {
  if (!r.error.empty()) return "error: " + r.error;
  for (const auto& e : r.events) {
    if (e.fired) continue;
    if (!p.owns(e)) return "not exercised: " + e.name + " (" + e.detail + ")";
  }
  return {};
}

// Whether the scenario itself, by an event it schedules (a receiver fault, a drift, an
// overlap, a provider fault of its own), produces `f` for the core: its own `expect` lists it.
bool scenario_outcome(const Scenario& s, const ScenarioResult& r, const ReplayProvider& p,
                      const analyzer::Finding& f) {
  const bool schedules = std::any_of(r.events.begin(), r.events.end(),
                                     [&](const ScheduledEvent& e) { return !p.owns(e); });
  if (!schedules) return false;
  // A provider that routes to the fallback moves the scenario's outcome to that mailbox.
  const bool moved = std::any_of(p.limits.begin(), p.limits.end(), [](const ProviderLimitRule& l) {
    return l.explains.count("misroute");
  });
  for (const auto& alt : s.expect.any_of)
    for (const auto& e : alt)
      if (e.type == f.type && (e.message.empty() || e.message == f.message) &&
          (e.recipient.empty() || base::iequals(e.recipient, f.recipient) ||
           (moved && base::iequals(f.recipient, s.world.fallback))))
        return true;
  return false;
}

// A provider storing one copy per envelope recipient gives a mailbox that two of them alias
// to two copies; without a Message-ID nothing tells them from two messages.
bool copies_per_alias(const Scenario& s, const analyzer::Finding& f) {
  if (f.type != "duplicate") return false;
  const auto m = std::find_if(s.messages.begin(), s.messages.end(),
                              [&](const ScenarioMessage& x) { return x.id == f.message; });
  if (m == s.messages.end() || !analyzer::header_lines(m->raw, "Message-ID").empty()) return false;
  const auto mailbox = [&](const std::string& a) {
    for (const auto& [alias, box] : s.world.aliases)
      if (base::iequals(alias, a)) return box;
    return a;
  };
  return std::count_if(m->envelope_to.begin(), m->envelope_to.end(), [&](const std::string& r) {
           return base::iequals(mailbox(r), f.recipient);
         }) >= 2;
}

void attribute_core(ReplayCell& c, const ReplayProvider& p, const Scenario& original) {
  for (const auto& f : c.result.report.findings) {
    AttributedFinding a{f, Attribution::unexplained, "no limit of the provider explains it"};
    for (const auto& l : p.limits)
      if (l.explains.count(f.type)) {
        a.by = Attribution::provider;
        a.reason = l.name;
        break;
      }
    if (a.by == Attribution::unexplained && p.profile.copy_per_recipient &&
        copies_per_alias(original, f)) {
      a.by = Attribution::provider;
      a.reason = "copy-per-recipient";
    }
    if (a.by == Attribution::unexplained && scenario_outcome(original, c.result, p, f)) {
      a.by = Attribution::scenario;
      a.reason = "the scenario's own scheduled events (its expect)";
    }
    c.findings.push_back(std::move(a));
  }
}

void attribute_other(ReplayCell& c, const ReplayCell& core, const std::vector<Scenario>& library) {
  for (const auto& f : c.result.report.findings) {
    AttributedFinding a{f, Attribution::unexplained, "not shown by the core, not documented"};
    const auto base =
        std::find_if(core.findings.begin(), core.findings.end(),
                     [&](const AttributedFinding& b) { return same_finding(b.finding, f); });
    if (base != core.findings.end() && base->by != Attribution::unexplained) {
      a.by = base->by;
      a.reason = base->reason;
    } else if (documented_anywhere(library, c.fetcher, f.type)) {
      a.by = Attribution::fetcher;
      a.reason = "documented for " + c.fetcher;
    }
    c.findings.push_back(std::move(a));
  }
}

std::vector<std::string> with_core_first(std::vector<std::string> fetchers) {
  fetchers.erase(std::remove(fetchers.begin(), fetchers.end(), "core"), fetchers.end());
  fetchers.insert(fetchers.begin(), "core");
  return fetchers;
}

}  // namespace

std::string_view attribution_name(Attribution a) {
  switch (a) {
    case Attribution::provider:
      return "provider";
    case Attribution::fetcher:
      return "fetcher";
    case Attribution::scenario:
      return "scenario";
    case Attribution::unexplained:
      return "unexplained";
  }
  return "?";
}

bool ReplayCell::explained() const {
  return (problem.empty() || problem_by_fetcher) &&
         std::none_of(findings.begin(), findings.end(),
                      [](const AttributedFinding& f) { return f.by == Attribution::unexplained; });
}

std::size_t ReplayResult::unexplained() const {
  return static_cast<std::size_t>(std::count_if(
      cells.begin(), cells.end(), [](const ReplayCell& c) { return !c.explained(); }));
}

bool ReplayProvider::owns(const ScheduledEvent& e) const {
  return std::any_of(own_faults.begin(), own_faults.end(),
                     [&](const std::string& k) { return e.name == "provider-fault:" + k; });
}

base::Result<ReplayProvider> replay_provider(const std::string& name_or_path) {
  auto prof = fake_pop3::load_profile(name_or_path);
  if (!prof.ok()) return base::make_error("bad-provider", prof.error().message);
  ReplayProvider p;
  p.name = name_or_path;
  p.profile = std::move(prof).value();
  p.advice = probe::advise(as_inferred(p.profile));
  for (const auto l : p.advice.limits) {
    ProviderLimitRule rule{
        std::string(probe::limit_name(l)), std::string(probe::limit_text(l)), {}};
    if (l == probe::ProviderLimit::no_envelope_header ||
        l == probe::ProviderLimit::received_for_shared)
      rule.explains = {"lost-recipient", "misroute"};
    if (l == probe::ProviderLimit::login_delay) rule.explains = kWaits;
    p.limits.push_back(std::move(rule));
  }
  for (auto& l : fault_limits(p.profile.faults)) p.limits.push_back(std::move(l));
  if (p.profile.copy_per_recipient)
    p.limits.push_back({"copy-per-recipient",
                        "the provider stores one copy per envelope recipient: addresses that "
                        "alias one mailbox bring it one copy each when no Message-ID ties them",
                        {}});
  p.own_faults = fake_pop3::scheduled_faults(p.profile.faults);
  return p;
}

base::Result<Scenario> replay_scenario(const Scenario& scenario, const ReplayProvider& provider,
                                       const std::string& fetcher, const std::string& command) {
  auto own = fake_pop3::load_profile(scenario.profile);
  if (!own.ok()) return base::make_error("bad-scenario", own.error().message);
  Scenario s = matrix_cell_scenario(scenario, "", fetcher, command);
  fake_pop3::Profile merged = provider.profile;
  // The scenario's own faults are its scheduled events; the provider's stay when it has none.
  // (Faults change nothing the advice depends on.)
  if (!fake_pop3::scheduled_faults(own->faults).empty()) merged.faults = own->faults;
  const probe::Advice& advice = provider.advice;
  s.profile = provider.name;
  s.profile_override = merged;
  // A provider that takes no password without TLS: POP3S, which every fetcher speaks (getmail
  // has no STLS).
  if (!merged.plaintext_without_tls && s.provider_tls == client::TlsMode::none)
    s.provider_tls = client::TlsMode::implicit;
  s.fetcher.to_cc = false;
  s.fetcher.envelope.clear();
  if (advice.envelope_header.empty()) {
    s.fetcher.no_envelope = s.fetcher.kind == FetcherKind::core;
    s.fetcher.to_cc = s.fetcher.kind != FetcherKind::core;  // fetchmail: `no envelope`, as advised
  } else {
    mail::EnvelopeSpec spec;
    spec.header = advice.envelope_header;
    spec.occurrence = advice.occurrence;
    spec.strip_qmail_prefix = advice.qmail_prefix;
    spec.received_by = advice.received_by;
    s.fetcher.envelope.push_back(spec);
  }
  if (advice.min_poll_interval_s * 1000 > s.timeline.interval_ms)
    s.timeline.interval_ms = advice.min_poll_interval_s * 1000;
  s.expect = {};
  return s;
}

ReplayResult run_replay(const std::vector<Scenario>& library, const ReplayOptions& options,
                        const std::function<void(const ReplayCell&)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  ReplayResult r;
  r.fetchers = with_core_first(options.fetchers);
  for (const auto& s : library) r.scenarios.push_back(s.name);
  std::vector<Scenario> plays;
  std::vector<std::size_t> provider_of;
  for (std::size_t pi = 0; pi < options.providers.size(); ++pi) {
    auto p = replay_provider(options.providers[pi]);
    if (!p.ok()) continue;  // checked by the caller; a provider that does not load has no cells
    r.providers.push_back(std::move(p).value());
    for (const auto& s : library)
      for (const auto& f : r.fetchers) {
        ReplayCell c{s.name, options.providers[pi], f, {}, {}, {}};
        auto play = replay_scenario(s, r.providers.back(), f, options.command);
        if (!play.ok()) {
          c.problem = play.error().message;
          play = s;  // not played: the cell records why
        }
        plays.push_back(std::move(play).value());
        provider_of.push_back(r.providers.size() - 1);
        r.cells.push_back(std::move(c));
      }
  }
  const auto results = run_all(plays, options.jobs, [&](std::size_t i, const ScenarioResult& res) {
    if (!progress) return;
    ReplayCell c = r.cells[i];
    c.result = res;
    progress(c);
  });
  for (std::size_t i = 0; i < r.cells.size(); ++i) {
    ReplayCell& c = r.cells[i];
    const ReplayProvider& p = r.providers[provider_of[i]];
    c.result = results[i];
    if (c.problem.empty()) c.problem = cell_problem(c.result, p);
    const Scenario& original = library[(i / r.fetchers.size()) % library.size()];
    if (c.fetcher == "core") {
      attribute_core(c, p, original);
    } else {
      const std::size_t core =
          i - static_cast<std::size_t>(std::find(r.fetchers.begin(), r.fetchers.end(), c.fetcher) -
                                       r.fetchers.begin());
      attribute_other(c, r.cells[core], library);
      // The core, configured alike, met the scheduled event; this fetcher stopped before it.
      if (c.problem.rfind("not exercised", 0) == 0 && r.cells[core].problem.empty())
        c.problem_by_fetcher = true;
    }
  }
  r.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace dropcheck::runner

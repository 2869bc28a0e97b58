// Replay that judges a provider (issue 15 item 9): the library played against a provider's
// profile with fetchers configured as the probe recommends, findings attributed.
#include "runner/replay.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../builtin_scenario.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {
namespace {

std::vector<std::string> limit_names(const std::string& provider) {
  auto p = replay_provider(provider);
  EXPECT_TRUE(p.ok()) << provider;
  std::vector<std::string> out;
  if (p.ok())
    for (const auto& l : p->limits) out.push_back(l.name);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

TEST(ReplayProvider, LimitsComeFromTheProvidersProperties) {
  EXPECT_EQ(limit_names("none"), std::vector<std::string>{"no-envelope-header"});
  EXPECT_EQ(limit_names("envelope-to"), std::vector<std::string>{});  // one shared copy
  EXPECT_EQ(limit_names("x-envelope-to"), std::vector<std::string>{"copy-per-recipient"});
  EXPECT_TRUE(has(limit_names("login-delay"), "login-delay"));
  EXPECT_TRUE(has(limit_names("represent"), "fault:represent_deleted"));
  EXPECT_TRUE(has(limit_names("flaky"), "fault:retrieval"));
  EXPECT_FALSE(has(limit_names("login-delay"), "no-envelope-header"));
  EXPECT_FALSE(replay_provider("no-such-profile").ok());
}

ReplayProvider provider(const std::string& name) {
  auto p = replay_provider(name);
  if (!p.ok()) throw std::runtime_error(p.error().message);
  return std::move(p).value();
}

TEST(ReplayScenario, FetchersAreConfiguredAsTheProbeAdvises) {
  const Scenario bcc = builtin("bcc");
  auto core = replay_scenario(bcc, provider("delivered-to"), "core", "");
  ASSERT_TRUE(core.ok()) << core.error().message;
  ASSERT_TRUE(core->profile_override.has_value());
  EXPECT_EQ(core->profile_override->name, "delivered-to");
  ASSERT_EQ(core->fetcher.envelope.size(), 1u);
  EXPECT_EQ(core->fetcher.envelope[0].header, "Delivered-To");
  EXPECT_EQ(core->fetcher.envelope[0].occurrence, 1);
  EXPECT_TRUE(core->expect.empty());  // written for the scenario's own provider

  auto none = replay_scenario(bcc, provider("none"), "core", "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->fetcher.no_envelope);
  auto fm = replay_scenario(bcc, provider("none"), "fetchmail", "");
  ASSERT_TRUE(fm.ok());
  EXPECT_TRUE(fm->fetcher.to_cc);  // fetchmail's `no envelope`, as the probe recommends

  // A scenario's own provider faults are its scheduled events: they stay.
  auto flaky = replay_scenario(builtin("drop-mid-retr"), provider("envelope-to"), "core", "");
  ASSERT_TRUE(flaky.ok());
  EXPECT_GT(flaky->profile_override->faults.drop_in_retr, 0u);
  EXPECT_EQ(flaky->profile_override->envelope_header, "Envelope-To");
}

const ReplayCell& cell(const ReplayResult& r, const std::string& scenario,
                       const std::string& fetcher) {
  for (const auto& c : r.cells)
    if (c.scenario == scenario && c.fetcher == fetcher) return c;
  throw std::runtime_error("no cell " + scenario + "/" + fetcher);
}

TEST(Replay, ANoEnvelopeProviderCostsBlindCopyRecipientsAndSaysWhy) {
  ReplayOptions o;
  o.providers = {"none"};
  o.fetchers = {"core", "no-strip"};
  const ReplayResult r = run_replay({builtin("bcc"), builtin("baseline")}, o);
  ASSERT_EQ(r.cells.size(), 4u);
  EXPECT_EQ(r.unexplained(), 0u) << replay_text(r);
  const ReplayCell& c = cell(r, "bcc", "core");
  ASSERT_FALSE(c.findings.empty());
  for (const auto& f : c.findings) {
    EXPECT_EQ(f.by, Attribution::provider) << f.finding.type;
    EXPECT_EQ(f.reason, "no-envelope-header");
  }
  const auto verdict = replay_verdict(r, "none", "core");
  EXPECT_TRUE(std::any_of(verdict.begin(), verdict.end(), [](const std::string& l) {
    return l.find(
               "recipients lost in 2 scenario(s): provider limit, the provider stamps no "
               "envelope header") != std::string::npos;
  })) << replay_text(r);
}

TEST(Replay, AFetcherDefectIsToldApartFromTheProvider) {
  ReplayOptions o;
  o.providers = {"envelope-to"};
  o.fetchers = {"no-strip"};
  const ReplayResult r = run_replay({builtin("bcc")}, o);
  EXPECT_EQ(r.fetchers, (std::vector<std::string>{"core", "no-strip"}));
  EXPECT_TRUE(cell(r, "bcc", "core").findings.empty());
  const ReplayCell& ns = cell(r, "bcc", "no-strip");
  ASSERT_EQ(ns.findings.size(), 1u) << replay_text(r);
  EXPECT_EQ(ns.findings[0].finding.type, "envelope-header-leak");
  EXPECT_EQ(ns.findings[0].by, Attribution::fetcher);
  EXPECT_EQ(r.unexplained(), 0u);
}

TEST(Replay, AFindingNoLimitExplainsIsUnexplained) {
  // The in-house server refuses every message for good: the core keeps it on the server and
  // nothing arrives. No property of x-envelope-to explains that: unexplained, exit 1.
  auto s = parse_scenario(
      "version: 1\nname: refused\nworld: {local_domains: [firma.example]}\n"
      "receiver: {data_end_fail_code: 554}\n"
      "messages:\n  - {from: x@s.example, to: [a@firma.example], headers: \"S: x\"}\n",
      "t.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ReplayOptions o;
  o.providers = {"x-envelope-to"};
  const ReplayResult r = run_replay({*s}, o);
  EXPECT_EQ(r.unexplained(), 1u) << replay_text(r);
  const std::string text = replay_text(r);
  EXPECT_NE(text.find("UNEXPLAINED"), std::string::npos) << text;
  const auto j = replay_json(r);
  EXPECT_EQ(j["unexplained_cells"], 1);
  EXPECT_EQ(j["cells"][0]["findings"][0]["attribution"], "unexplained");
}

TEST(Replay, TheScenariosOwnFaultsAreNotTheProviders) {
  // slow-receiver's receiver answers late once and the core delivers again (its own expect):
  // under any provider that duplicate is the scenario's doing, not a cost of the provider.
  ReplayOptions o;
  o.providers = {"x-original-to"};
  const ReplayResult r = run_replay({builtin("slow-receiver")}, o);
  const ReplayCell& c = cell(r, "slow-receiver", "core");
  ASSERT_EQ(c.findings.size(), 1u) << replay_text(r);
  EXPECT_EQ(c.findings[0].by, Attribution::scenario);
  EXPECT_EQ(r.unexplained(), 0u);
}

TEST(Replay, AliasCopiesOfAPerRecipientProviderAreItsCost) {
  // aliases-domains: two addresses of one mailbox, no Message-ID. A provider storing a copy per
  // recipient brings that mailbox two copies; one storing one shared copy does not.
  ReplayOptions o;
  o.providers = {"x-envelope-to", "envelope-to"};
  const ReplayResult r = run_replay({builtin("aliases-domains")}, o);
  EXPECT_EQ(r.unexplained(), 0u) << replay_text(r);
  for (const auto& c : r.cells) {
    if (c.provider == "envelope-to") {
      EXPECT_TRUE(c.findings.empty());
    }
    for (const auto& f : c.findings) EXPECT_EQ(f.reason, "copy-per-recipient");
  }
}

TEST(Replay, AFetcherThatStopsBeforeTheScenariosEventIsItsDefect) {
  // A "fetcher" that does nothing never meets the receiver fault the core meets: that the cell
  // is not exercised is the fetcher's doing, not the provider's.
  ReplayOptions o;
  o.providers = {"x-envelope-to"};
  o.fetchers = {"command"};
  o.command = "true";
  const ReplayResult r = run_replay({builtin("smtp-4xx-recovery")}, o);
  const ReplayCell& core = cell(r, "smtp-4xx-recovery", "core");
  EXPECT_EQ(core.problem, "");
  const ReplayCell& idle = cell(r, "smtp-4xx-recovery", "command");
  EXPECT_EQ(idle.problem.rfind("not exercised", 0), 0u) << idle.problem;
  EXPECT_TRUE(idle.problem_by_fetcher);
  const auto verdict = replay_verdict(r, "x-envelope-to", "command");
  EXPECT_TRUE(std::any_of(verdict.begin(), verdict.end(), [](const std::string& l) {
    return l.rfind("stopped before the scenario's event in 1 scenario(s)", 0) == 0;
  })) << replay_text(r);
  // What it left undelivered is documented nowhere for it: that stays unexplained.
  EXPECT_FALSE(idle.explained());
}

TEST(Replay, SeveralProvidersSideBySideInOnePage) {
  ReplayOptions o;
  o.providers = {"none", "x-original-to"};
  const ReplayResult r = run_replay({builtin("baseline")}, o);
  ASSERT_EQ(r.providers.size(), 2u);
  const std::string html = replay_html(r);
  EXPECT_NE(html.find("<th>none<br>"), std::string::npos);
  EXPECT_NE(html.find("<th>x-original-to<br>"), std::string::npos);
  EXPECT_EQ(replay_json(r)["providers"].size(), 2u);
}

}  // namespace
}  // namespace dropcheck::runner

// End to end: scenarios played through the real servers and the fetcher core on loopback.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "../builtin_scenario.hpp"
#include "cli_run.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {
namespace {

std::vector<std::string> finding_keys(const ScenarioResult& r) {
  std::vector<std::string> out;
  for (const auto& f : r.report.findings) out.push_back(f.type + ":" + f.recipient);
  return out;
}

TEST(E2E, BccAgainstCoreHasNoFindings) {
  auto r = run_scenario(builtin("bcc"));
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.report.findings.empty()) << ::testing::PrintToString(finding_keys(r));
  EXPECT_TRUE(r.passed());
  ASSERT_EQ(r.cycles.size(), 1u);
  EXPECT_EQ(r.cycles[0].outcome, fetcher::Outcome::ok);
  // Both local recipients got the message once; nothing went to the foreign Cc.
  std::size_t copies = 0;
  for (const auto& m : r.report.messages) copies += m.copies;
  EXPECT_GE(copies, 1u);
}

TEST(E2E, BccAgainstNoStripFetcherLeaksTheBccRecipient) {
  Scenario s = builtin("bcc");
  s.fetcher.defect = fetcher::Defect::no_strip;
  // Make the provider store one copy listing all recipients, so every reader sees the header.
  s.profile = "envelope-to";
  mail::EnvelopeSpec spec;
  spec.header = "Envelope-To";
  s.fetcher.envelope = {spec};
  auto r = run_scenario(s);
  ASSERT_EQ(r.error, "");
  const auto keys = finding_keys(r);
  EXPECT_NE(std::find(keys.begin(), keys.end(), "envelope-header-leak:b@firma.example"), keys.end())
      << ::testing::PrintToString(keys);
  EXPECT_FALSE(r.passed());  // bcc.yaml expects no findings
  // The finding carries evidence: the journal record and the header line.
  for (const auto& f : r.report.findings)
    if (f.type == "envelope-header-leak") {
      EXPECT_GE(f.journal_seq, 1);
      EXPECT_NE(f.evidence.find("Envelope-To"), std::string::npos) << f.evidence;
    }
}

TEST(E2E, SbsConnectorTriesToRelayAndLosesBcc) {
  Scenario s = builtin("bcc");
  s.fetcher.defect = fetcher::Defect::sbs_connector;
  auto r = run_scenario(s);
  ASSERT_EQ(r.error, "");
  const auto keys = finding_keys(r);
  EXPECT_NE(std::find(keys.begin(), keys.end(), "relay-attempt:x@foreign.example"), keys.end())
      << ::testing::PrintToString(keys);
  EXPECT_NE(std::find(keys.begin(), keys.end(), "lost-recipient:b@firma.example"), keys.end())
      << ::testing::PrintToString(keys);
}

// provider.tls, fetcher.kind and fetcher.defect are typed once, at load time.
TEST(Scenario, SettingsAreTypedAtLoadTime) {
  const auto s = parse_scenario(R"(version: 1
name: t
world: {local_domains: [firma.example]}
provider: {profile: x-envelope-to, tls: stls}
fetcher: {kind: getmail6, defect: no-strip}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
defects: {pullmail: []}
fetchers: {fetchmail: []}
)",
                                "t.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->provider_tls, client::TlsMode::stls);
  EXPECT_EQ(s->fetcher.kind, FetcherKind::getmail6);
  EXPECT_EQ(s->fetcher.defect, fetcher::Defect::no_strip);
  EXPECT_EQ(s->defects.count(fetcher::Defect::pullmail), 1u);
  EXPECT_EQ(s->fetchers.count(FetcherKind::fetchmail), 1u);
  EXPECT_EQ(fetcher_name(s->fetcher), "getmail6");
  EXPECT_EQ(fetcher_name(
                with_defect(with_fetcher(*s, FetcherKind::core), fetcher::Defect::no_lock).fetcher),
            "no-lock");
  EXPECT_EQ(fetcher_name(with_fetcher(*s, FetcherKind::core).fetcher), "core");
  EXPECT_EQ(parse_fetcher_kind("command"), FetcherKind::command);
  EXPECT_FALSE(parse_fetcher_kind("fetchmial"));
}

TEST(Scenario, ErrorsNameFileLineAndField) {
  const std::string good = R"(version: 1
name: t
world: {local_domains: [firma.example]}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
)";
  ASSERT_TRUE(parse_scenario(good, "t.yaml").ok());
  struct Case {
    std::string yaml;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"name: t\n", "t.yaml:1:1: version"},
      {good + "bogus: 1\n", "t.yaml:6:1: bogus: unknown key"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
messages:
  - {from: a@b.example, to: [not-an-address], headers: "Subject: x"}
)",
       "messages[0].to: not an address"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
expect:
  - {type: no-such-finding}
)",
       "expect[0].type"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
fetcher: {defect: sloppy}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
)",
       "t.yaml:4:19: fetcher.defect: unknown defect model 'sloppy' (known: none, sbs-connector, "
       "pullmail, no-strip, no-lock, no-dedup, fill-empty-sender)"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
fetcher: {kind: fetchmial}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
)",
       "t.yaml:4:17: fetcher.kind: unknown fetcher 'fetchmial' (known: core, fetchmail, getmail6, "
       "command)"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
provider: {profile: x-envelope-to, tls: ssl}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
)",
       "t.yaml:4:41: provider.tls: expected none, stls or implicit"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
defects: {none: []}
)",
       "t.yaml:6:11: defects.none: unknown defect model (known: sbs-connector, pullmail"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
fetchers: {core: []}
)",
       "t.yaml:6:12: fetchers.core: unknown external fetcher"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
fetcher: {envelope: [X-Envelope-To, {header: "X-Rcpt:"}]}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
)",
       "fetcher.envelope[1].header: not a header name"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
receiver: {reply_delay: {data_end: 2s}}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
)",
       "receiver.reply_delay: unknown stage 'data_end'"},
      {R"(version: 1
name: t
world: {local_domains: [firma.example]}
fetcher: {smtp_timeout: 10ms}
messages:
  - {from: a@b.example, to: [x@firma.example], headers: "Subject: x"}
)",
       "fetcher.smtp_timeout"},
  };
  for (const auto& c : cases) {
    auto s = parse_scenario(c.yaml, "t.yaml");
    ASSERT_FALSE(s.ok()) << c.yaml;
    EXPECT_NE(s.error().message.find(c.want), std::string::npos) << s.error().message;
  }
}

TEST(Cli, RunBuiltinsExitsZeroAndPrintsTable) {
  std::string out;
  EXPECT_EQ(run_cli("run", out), 0) << out;
  EXPECT_NE(out.find("bcc"), std::string::npos);
  EXPECT_NE(out.find("pass"), std::string::npos);
}

TEST(Cli, BadScenarioFileExitsTwoNamingFileAndField) {
  const std::string path = ::testing::TempDir() + "/bad-scenario.yaml";
  std::ofstream(path) << "version: 1\nname: x\nworld: {local_domains: []}\n";
  std::string out;
  EXPECT_EQ(run_cli("run " + path, out), 2) << out;
  EXPECT_NE(out.find(path), std::string::npos) << out;
  EXPECT_NE(out.find("world.local_domains"), std::string::npos) << out;
}

TEST(Cli, FindingsDifferingFromExpectExitOne) {
  const std::string path = ::testing::TempDir() + "/leaky.yaml";
  std::ofstream(path) << std::string(R"(version: 1
name: leaky
world: {local_domains: [firma.example]}
provider: {profile: envelope-to}
fetcher: {defect: no-strip, envelope: Envelope-To}
messages:
  - from: a@sender.example
    to: [a@firma.example, b@firma.example]
    headers: |
      From: a@sender.example
      To: a@firma.example
      Subject: x
)");
  std::string out;
  EXPECT_EQ(run_cli("run " + path, out), 1) << out;
  EXPECT_NE(out.find("envelope-header-leak"), std::string::npos) << out;
}

TEST(Cli, UsageErrorExitsTwo) {
  std::string out;
  EXPECT_EQ(run_cli("run --no-such-flag", out), 2) << out;
  EXPECT_EQ(run_cli("", out), 2) << out;
}

}  // namespace
}  // namespace dropcheck::runner

namespace dropcheck::runner {
namespace {

TEST(CliFetch, ConfigErrorsAndFlagMistakesExitTwo) {
  std::string out;
  EXPECT_EQ(run_cli("fetch --config /nonexistent/dropcheck.yaml --once", out), 2) << out;
  EXPECT_NE(out.find("/nonexistent/dropcheck.yaml: cannot read file"), std::string::npos) << out;
  const std::string path = ::testing::TempDir() + "/fetch-bad.yaml";
  std::ofstream(path) << "version: 1\npop3: {user: u, password: p, port: 0}\n";
  EXPECT_EQ(run_cli("fetch --config " + path + " --once", out), 2) << out;
  EXPECT_NE(out.find("pop3.port"), std::string::npos) << out;
  EXPECT_EQ(run_cli("fetch --config " + path, out), 2) << out;  // neither --once nor --daemon
  EXPECT_EQ(run_cli("fetch --config " + path + " --daemon --interval 5x", out), 2) << out;
}

TEST(CliFetch, UnreachableProviderFailsTheCycleWithExitOne) {
  const std::string path = ::testing::TempDir() + "/fetch-unreachable.yaml";
  std::ofstream(path) << "version: 1\nname: t\nstate_dir: " << ::testing::TempDir()
                      << "/fetch-state\npop3: {host: 127.0.0.1, port: 1, user: u, password: "
                         "secret-pw, timeout: 2s}\nsmtp: {port: 1}\nrouting: {local_domains: "
                         "[firma.example]}\n";
  std::string out;
  EXPECT_EQ(run_cli("fetch --config " + path + " --once", out), 1) << out;
  EXPECT_NE(out.find("outcome=pop3-error"), std::string::npos) << out;
  EXPECT_EQ(out.find("secret-pw"), std::string::npos) << "password leaked into the log: " << out;
}

}  // namespace
}  // namespace dropcheck::runner

namespace dropcheck::runner {
namespace {

TEST(CliAnalyze, KeptRunReanalyzesOfflineWithTheSameVerdict) {
  const std::string keep = ::testing::TempDir() + "/keep-" + std::to_string(::getpid());
  const std::string scenario = ::testing::TempDir() + "/leak-keep.yaml";
  std::ofstream(scenario) << std::string(R"(version: 1
name: leakkeep
world: {local_domains: [firma.example]}
provider: {profile: envelope-to}
fetcher: {defect: no-strip, envelope: Envelope-To}
messages:
  - from: a@sender.example
    to: [a@firma.example, b@firma.example]
    headers: |
      From: a@sender.example
      To: a@firma.example
      Subject: x
expect:
  - {type: envelope-header-leak, recipient: b@firma.example}
)");
  std::string out;
  ASSERT_EQ(run_cli("run --keep " + keep + " " + scenario, out), 0) << out;
  EXPECT_EQ(run_cli("analyze --json --journal " + keep + "/leakkeep/journal --truth " + keep +
                        "/leakkeep/truth.json",
                    out),
            1)
      << out;
  EXPECT_NE(out.find("\"envelope-header-leak\""), std::string::npos) << out;
  EXPECT_NE(out.find("b@firma.example"), std::string::npos) << out;
  EXPECT_EQ(
      run_cli("analyze --journal " + keep + "/nope --truth " + keep + "/leakkeep/truth.json", out),
      2)
      << out;
}

}  // namespace
}  // namespace dropcheck::runner

namespace dropcheck::runner {
namespace {

TEST(CliRun, ProviderReplaysFilesAgainstEachProviderAndExitsByUnexplainedCells) {
  std::string out;
  const std::string bcc = std::string(DROPCHECK_SOURCE_DIR) + "/scenarios/bcc.yaml";
  EXPECT_EQ(run_cli("run --provider none --provider x-original-to " + bcc, out), 0) << out;
  EXPECT_NE(out.find("PROVIDER none (profile none)"), std::string::npos) << out;
  EXPECT_NE(out.find("PROVIDER x-original-to"), std::string::npos) << out;
  EXPECT_NE(out.find("2 cell(s), 0 unexplained"), std::string::npos) << out;
  EXPECT_EQ(run_cli("run --provider no-such-profile " + bcc, out), 2) << out;
  EXPECT_NE(out.find("--provider: no-such-profile"), std::string::npos) << out;
  EXPECT_EQ(run_cli("run --provider none --shard 1/2 " + bcc, out), 2) << out;
}

TEST(CliRun, ShardsPartitionTheLibrary) {
  const std::size_t total = builtin_scenarios().size();
  std::size_t sum = 0;
  for (int i = 1; i <= 3; ++i) {
    std::string out;
    ASSERT_EQ(run_cli("run --shard " + std::to_string(i) + "/3", out), 0) << out;
    const auto pos = out.rfind(" scenario(s)");
    ASSERT_NE(pos, std::string::npos) << out;
    const auto start = out.rfind('\n', pos) + 1;
    sum += std::stoul(out.substr(start, pos - start));
  }
  EXPECT_EQ(sum, total);
  std::string out;
  EXPECT_EQ(run_cli("run --shard 0/3", out), 2) << out;
  EXPECT_EQ(run_cli("run --shard 1/x", out), 2) << out;
}

}  // namespace
}  // namespace dropcheck::runner

namespace dropcheck::runner {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(CliRun, WritesJsonJunitAndHtmlReports) {
  const std::string dir = ::testing::TempDir();
  std::string out;
  ASSERT_EQ(run_cli("run --json " + dir + "/r.json --junit " + dir + "/r.xml --html " + dir +
                        "/r.html " + std::string(DROPCHECK_SOURCE_DIR) + "/scenarios/bcc.yaml " +
                        DROPCHECK_SOURCE_DIR + "/scenarios/no-envelope-header.yaml",
                    out),
            0)
      << out;
  const std::string xml = slurp(dir + "/r.xml");
  EXPECT_NE(xml.find("tests=\"2\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("failures=\"0\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("name=\"bcc\""), std::string::npos) << xml;
  const std::string html = slurp(dir + "/r.html");
  EXPECT_NE(html.find("<html"), std::string::npos);
  EXPECT_NE(html.find("no-envelope-header"), std::string::npos);
  EXPECT_NE(html.find("lost-recipient"), std::string::npos);  // expected findings are shown
  const std::string json = slurp(dir + "/r.json");
  EXPECT_NE(json.find("\"passed\": true"), std::string::npos) << json;
}

}  // namespace
}  // namespace dropcheck::runner

// Issue 15 item 1: every scheduled event (provider fault, drift, overlap, receiver fault) is
// recorded as fired or not; one that did not fire makes the run not-exercised, never a pass.
namespace dropcheck::runner {
namespace {

const ScheduledEvent* event(const ScenarioResult& r, const std::string& name) {
  for (const auto& e : r.events)
    if (e.name == name) return &e;
  return nullptr;
}

TEST(Exercised, ProviderFaultsThatFireAreRecorded) {
  auto r = run_scenario(builtin("drop-mid-retr"));
  ASSERT_EQ(r.error, "");
  for (const char* name : {"provider-fault:err_on_retr", "provider-fault:drop_in_retr",
                           "provider-fault:list_size_delta"}) {
    const auto* e = event(r, name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_TRUE(e->fired) << name << ": " << e->detail;
  }
  EXPECT_EQ(r.status(), "ok");
  EXPECT_TRUE(r.passed());
}

TEST(Exercised, AFaultForAMessageThatDoesNotExistIsNotExercised) {
  Scenario s = builtin("drop-mid-retr");
  s.messages.resize(1);  // err_on_retr [2] and drop_in_retr 3 have nothing to hit
  auto r = run_scenario(s);
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.report.findings.empty());
  ASSERT_NE(event(r, "provider-fault:drop_in_retr"), nullptr);
  EXPECT_FALSE(event(r, "provider-fault:drop_in_retr")->fired);
  EXPECT_FALSE(event(r, "provider-fault:err_on_retr")->fired);
  EXPECT_TRUE(event(r, "provider-fault:list_size_delta")->fired);
  EXPECT_EQ(r.status(), "not-exercised");
  EXPECT_FALSE(r.passed());
}

TEST(Exercised, OverlapDriftAndReceiverFaults) {
  auto overlap = run_scenario(builtin("overlap-locking"));
  ASSERT_EQ(overlap.error, "");
  ASSERT_NE(event(overlap, "overlap"), nullptr);
  EXPECT_TRUE(event(overlap, "overlap")->fired) << event(overlap, "overlap")->detail;

  Scenario late = builtin("overlap-locking");
  late.timeline.overlap_after = 1000;  // more than the maildrop holds: never triggers
  auto never = run_scenario(late);
  ASSERT_EQ(never.error, "");
  EXPECT_FALSE(event(never, "overlap")->fired);
  EXPECT_EQ(never.status(), "not-exercised");

  auto drift = run_scenario(builtin("provider-drift"));
  ASSERT_NE(event(drift, "drift"), nullptr);
  EXPECT_TRUE(event(drift, "drift")->fired) << event(drift, "drift")->detail;

  auto rcpt = run_scenario(builtin("smtp-4xx-recovery"));
  ASSERT_NE(event(rcpt, "receiver-fault:rcpt"), nullptr);
  EXPECT_TRUE(event(rcpt, "receiver-fault:rcpt")->fired);
  EXPECT_TRUE(rcpt.passed());
  Scenario never_rcpt = builtin("smtp-4xx-recovery");
  never_rcpt.receiver.only_transaction = 50;  // there are not that many transactions
  auto r = run_scenario(never_rcpt);
  EXPECT_FALSE(event(r, "receiver-fault:rcpt")->fired);
  EXPECT_EQ(r.status(), "not-exercised");

  auto slow = run_scenario(builtin("slow-receiver"));
  ASSERT_NE(event(slow, "receiver-fault:delay-data-end"), nullptr);
  EXPECT_TRUE(event(slow, "receiver-fault:delay-data-end")->fired);
}

TEST(Exercised, AScenarioWithoutScheduledEventsHasNone) {
  auto r = run_scenario(builtin("baseline"));
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.status(), "ok");
}

}  // namespace
}  // namespace dropcheck::runner

namespace dropcheck::runner {
namespace {

// Issue 18 item 5: CI fans the matrix out with --shard I/N; the shards cover the library once
// and each writes JUnit of its own.
TEST(Cli, MatrixShardsCoverTheLibraryOnceEachWithItsOwnJUnit) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("dropcheck-shard-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::multiset<std::string> seen;
  for (int i = 1; i <= 3; ++i) {
    const auto xml = (dir / fmt::format("s{}.xml", i)).string();
    std::string out;
    EXPECT_EQ(run_cli(fmt::format("matrix --fetchers core --shard {}/3 --junit {}", i, xml), out),
              0)
        << out;
    std::ifstream in(xml);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string junit = ss.str();
    EXPECT_EQ(junit.rfind("<?xml", 0), 0u) << junit.substr(0, 200);
    EXPECT_NE(junit.find("</testsuites>"), std::string::npos);
    for (auto at = junit.find("<testcase "); at != std::string::npos;
         at = junit.find("<testcase ", at + 1)) {
      const auto from = junit.find(" name=\"", at) + 7;
      seen.insert(junit.substr(from, junit.find('"', from) - from));
    }
  }
  std::multiset<std::string> all;
  for (const auto& s : builtin_scenarios()) all.insert(s.name);
  EXPECT_EQ(seen.size(), all.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size());
  std::string out;
  EXPECT_EQ(run_cli("matrix --shard 4/3", out), 2) << out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dropcheck::runner

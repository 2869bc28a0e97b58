// What the scenario format can say (issue 15 item 8): RCPT faults by address and cycle,
// any_of expectations, a per-scenario run limit, several overlapping invocations and
// byte-identical resends.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "result_summary.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {
namespace {

const std::string kWorld =
    "version: 1\nname: t\n"
    "world: {local_domains: [firma.example], users: [a@firma.example, b@firma.example, "
    "postmaster@firma.example], fallback: postmaster@firma.example}\n"
    "provider: {profile: x-envelope-to}\n";

Scenario load(const std::string& yaml) {
  auto s = parse_scenario(yaml, "t.yaml");
  if (!s.ok()) ADD_FAILURE() << s.error().message;
  return s.ok() ? std::move(s).value() : Scenario{};
}

const ScheduledEvent* event(const ScenarioResult& r, const std::string& name) {
  for (const auto& e : r.events)
    if (e.name == name) return &e;
  return nullptr;
}

TEST(RcptFaults, ByAddressOnlyInTheNamedCycle) {
  // b@ is refused (452) in cycle 1 only: the core keeps the message for b@ and brings it in
  // cycle 2, a@ gets it once in cycle 1.
  const Scenario s = load(kWorld +
                          "receiver: {rcpt_faults: [{address: B@firma.example, code: 452, "
                          "cycles: [1]}]}\n"
                          "timeline: {cycles: 2}\n"
                          "messages:\n  - {id: m, from: x@sender.example, to: [a@firma.example, "
                          "b@firma.example], headers: \"Subject: x\"}\n");
  ASSERT_EQ(s.receiver.rcpt_faults.size(), 1u);
  const ScenarioResult r = run_scenario(s);
  EXPECT_EQ(r.status(), "ok") << summary(r);
  const ScheduledEvent* e = event(r, "receiver-fault:rcpt-to:b@firma.example");
  ASSERT_NE(e, nullptr) << summary(r);
  EXPECT_TRUE(e->fired) << e->detail;
}

TEST(RcptFaults, AFaultForACycleThatRefusesNothingIsNotExercised) {
  // Cycle 2 has nothing left to deliver: the fault scheduled there never fires.
  const Scenario s = load(kWorld +
                          "receiver: {rcpt_faults: [{address: b@firma.example, cycles: [2]}]}\n"
                          "timeline: {cycles: 2}\n"
                          "messages:\n  - {from: x@sender.example, to: [b@firma.example], "
                          "headers: \"Subject: x\"}\n");
  const ScenarioResult r = run_scenario(s);
  EXPECT_EQ(r.status(), "not-exercised") << summary(r);
}

TEST(RcptFaults, LoaderChecksAddressAndCycles) {
  auto bad = parse_scenario(kWorld +
                                "receiver: {rcpt_faults: [{address: b@firma.example, "
                                "cycles: [3]}]}\ntimeline: {cycles: 2}\n"
                                "messages:\n  - {from: x@s.example, to: [b@firma.example], "
                                "headers: \"S: x\"}\n",
                            "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("receiver.rcpt_faults[0].cycles[0]: expected a cycle number "
                                     "1 .. 2"),
            std::string::npos)
      << bad.error().message;
}

analyzer::Finding finding(std::string type, std::string msg = "", std::string rcpt = "") {
  return {std::move(type), std::move(msg), std::move(rcpt), "", -1};
}

TEST(AnyOf, EitherOutcomePassesAndTheClosestIsReported) {
  const Scenario s = load(kWorld +
                          "messages:\n  - {id: m, from: x@s.example, to: [a@firma.example], "
                          "headers: \"S: x\"}\n"
                          "expect:\n  any_of:\n    - []\n"
                          "    - [{type: duplicate, message: m, recipient: a@firma.example}]\n");
  ASSERT_EQ(s.expect.any_of.size(), 2u);
  std::vector<std::string> missing, unexpected;
  EXPECT_EQ(compare_findings({}, s.expect, missing, unexpected), 0u);
  EXPECT_TRUE(missing.empty() && unexpected.empty());
  EXPECT_EQ(compare_findings({finding("duplicate", "m", "a@firma.example")}, s.expect, missing,
                             unexpected),
            1u);
  EXPECT_TRUE(missing.empty() && unexpected.empty());
  // Neither: the closest alternative's differences are what is reported.
  EXPECT_EQ(compare_findings({finding("duplicate", "m", "a@firma.example"), finding("stall")},
                             s.expect, missing, unexpected),
            1u);
  EXPECT_TRUE(missing.empty());
  EXPECT_EQ(unexpected.size(), 1u);
}

TEST(AnyOf, NeedsTwoListsAndWorksForDefectsAndFetchers) {
  auto one = parse_scenario(kWorld +
                                "messages:\n  - {from: x@s.example, to: [a@firma.example], "
                                "headers: \"S: x\"}\nexpect: {any_of: [[]]}\n",
                            "t.yaml");
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.error().message.find("expect.any_of: expected a list of at least two lists"),
            std::string::npos)
      << one.error().message;
  const Scenario s = load(kWorld +
                          "messages:\n  - {from: x@s.example, to: [a@firma.example], "
                          "headers: \"S: x\"}\n"
                          "defects: {no-lock: {any_of: [[], [{type: duplicate}]]}}\n"
                          "fetchers: {fetchmail: {any_of: [[], [{type: stall}]]}}\n");
  EXPECT_EQ(with_defect(s, fetcher::Defect::no_lock).expect.any_of.size(), 2u);
  EXPECT_EQ(with_fetcher(s, FetcherKind::fetchmail).expect.any_of.size(), 2u);
  EXPECT_TRUE(with_fetcher(s, FetcherKind::getmail6).expect.empty());
}

TEST(RunLimit, AScenarioLongerThanItsLimitIsAnErrorNamingTheLimit) {
  // The in-house server answers the end of DATA after 3 s; the scenario allows 1 s.
  const Scenario s = load(kWorld +
                          "receiver: {reply_delay: {data-end: 3s}}\n"
                          "timeline: {run_limit: 1s}\n"
                          "messages:\n  - {from: x@s.example, to: [a@firma.example], "
                          "headers: \"S: x\"}\n");
  EXPECT_EQ(s.timeline.run_limit_ms, 1000);
  const ScenarioResult r = run_scenario(s);
  EXPECT_EQ(r.status(), "error");
  EXPECT_NE(r.error.find("did not finish within 1000 ms (timeline.run_limit)"), std::string::npos)
      << r.error;
  auto bad = parse_scenario(kWorld +
                                "timeline: {run_limit: 7h}\nmessages:\n  - {from: x@s.example, "
                                "to: [a@firma.example], headers: \"S: x\"}\n",
                            "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("timeline.run_limit: expected 1s .. 6h"), std::string::npos);
}

TEST(Overlap, SeveralInvocationsStartTogether) {
  const Scenario s = load(kWorld +
                          "timeline: {cycles: 4, overlap: {cycle: 1, after_retrieved: 1, "
                          "invocations: 2}}\n"
                          "messages:\n  - {id: o, repeat: 5, from: x@s.example, "
                          "to: [a@firma.example], headers: \"S: x\"}\n");
  ASSERT_EQ(s.timeline.overlap_invocations, 2);
  const ScenarioResult r = run_scenario(s);
  EXPECT_EQ(r.status(), "ok") << summary(r);
  EXPECT_EQ(r.cycles.size(), 4u);
  const ScheduledEvent* e = event(r, "overlap");
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->detail.find("cycles 2..3 started"), std::string::npos) << e->detail;
}

TEST(Identical, ResendsAreByteIdenticalAndJudgedAsOneGroup) {
  const Scenario s = load(kWorld +
                          "messages:\n  - {id: r, repeat: 2, identical: true, from: x@s.example,"
                          " to: [a@firma.example], headers: \"Subject: x\\nMessage-ID: <r@s>\"}\n");
  ASSERT_EQ(s.messages.size(), 2u);
  EXPECT_EQ(s.messages[0].raw, s.messages[1].raw);
  EXPECT_EQ(s.messages[0].tag, "r");
  EXPECT_NE(s.messages[0].id, s.messages[1].id);
  // The core delivers a byte-identical resend once (with an alert): no loss, no duplicate.
  const ScenarioResult r = run_scenario(s);
  EXPECT_EQ(r.status(), "ok") << summary(r);
}

TEST(LargeEnvelope, TheCoreRoutesByAnEnvelopeHeaderOfMoreThan64KiB) {
  // 3,200 blind-copy recipients listed in one Envelope-To line of about 70 KB: each gets the
  // message, none sees the list, and the sender is kept (before: "unparsable header", the
  // whole message with the list to the postmaster, MAIL FROM:<>).
  std::string to;
  for (int i = 0; i < 3200; ++i)
    to += (i ? ", " : "") + ("u" + std::to_string(10'000 + i)) + "@firma.example";
  const Scenario s = load(
      "version: 1\nname: big\nworld: {local_domains: [firma.example], fallback: "
      "postmaster@firma.example}\nprovider: {profile: envelope-to}\nfetcher: {envelope: "
      "Envelope-To}\ntimeline: {run_limit: 10m}\nmessages:\n  - {id: big, from: x@s.example, to: "
      "[" +
      to + "], headers: \"To: undisclosed-recipients:;\\nMessage-ID: <big@s>\"}\n");
  const ScenarioResult r = run_scenario(s);
  EXPECT_EQ(r.error, "");
  // Only a stall may appear (timing: a sanitizer build is slow in DATA); nothing lost, leaked,
  // misrouted or rewritten.
  for (const auto& f : r.report.findings) EXPECT_EQ(f.type, "stall") << summary(r).substr(0, 2000);
  EXPECT_EQ(r.report.messages.at(0).copies > 0, true);
}

analyzer::Delivery delivery(std::uint64_t seq, const std::string& raw) {
  analyzer::Delivery d;
  d.seq = seq;
  d.mail_from = "x@s.example";
  d.rcpts = {{"a@firma.example", 250}};
  d.data_code = 250;
  d.message = raw;
  return d;
}

TEST(Identical, TheAnalyzerAllowsOneCopyPerMemberAndNoMore) {
  analyzer::Truth t;
  t.scenario = "t";
  t.local_domains = {"firma.example"};
  const std::string raw = "Subject: x\r\nX-Dropcheck-Id: r\r\n\r\nbody\r\n";
  t.messages = {{"r.1", "x@s.example", {"a@firma.example"}, raw, 0, "r"},
                {"r.2", "x@s.example", {"a@firma.example"}, raw, 0, "r"}};
  const auto types = [](const analyzer::Report& rep) {
    std::vector<std::string> out;
    for (const auto& f : rep.findings) out.push_back(f.type);
    return out;
  };
  EXPECT_TRUE(types(analyzer::analyze(t, {delivery(1, raw)})).empty());
  EXPECT_TRUE(types(analyzer::analyze(t, {delivery(1, raw), delivery(2, raw)})).empty());
  EXPECT_EQ(types(analyzer::analyze(t, {delivery(1, raw), delivery(2, raw), delivery(3, raw)})),
            std::vector<std::string>{"duplicate"});
  EXPECT_EQ(types(analyzer::analyze(t, {})),
            (std::vector<std::string>{"lost-recipient", "lost-recipient"}));
}

}  // namespace
}  // namespace dropcheck::runner

// Scenarios with several provider mailboxes (issue T2 4/7): the format's defaults and load
// errors, and the password-change event, which is no pass when it never met a login.
#include <gtest/gtest.h>

#include <string>

#include "result_summary.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {
namespace {

const std::string kWorld =
    "version: 1\nname: t\n"
    "world: {local_domains: [firma.example], users: [anna@firma.example, ben@firma.example, "
    "postmaster@firma.example], fallback: postmaster@firma.example}\n";
const std::string kBoxes =
    "provider:\n  profile: x-envelope-to\n  mailboxes:\n"
    "    - {user: catchall, catch_all: true}\n"
    "    - {user: anna, addresses: [anna@firma.example]}\n";
const std::string kMessage =
    "messages:\n  - {id: m, from: x@sender.example, to: [anna@firma.example], "
    "headers: \"Subject: x\"}\n";

TEST(MailboxScenarios, WithoutAccountsEveryMailboxIsPolled) {
  auto s = parse_scenario(kWorld + kBoxes + kMessage, "t.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->fetcher.accounts.size(), 2u);
  EXPECT_EQ(s->fetcher.accounts[0].mailbox, "catchall");
  EXPECT_EQ(s->fetcher.accounts[0].deliver_to, "");  // multidrop
  EXPECT_EQ(s->fetcher.accounts[1].mailbox, "anna");
  EXPECT_EQ(s->fetcher.accounts[1].deliver_to, "anna@firma.example");
  const ScenarioResult r = run_scenario(*s);
  EXPECT_EQ(r.status(), "ok") << summary(r);
}

struct Bad {
  std::string yaml;
  const char* expect;
};

class MailboxScenarioErrors : public ::testing::TestWithParam<Bad> {};

TEST_P(MailboxScenarioErrors, NameTheField) {
  auto s = parse_scenario(kWorld + GetParam().yaml + kMessage, "t.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(GetParam().expect), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("t.yaml:"), std::string::npos) << s.error().message;
}

const std::string kProvider = "provider:\n  profile: x-envelope-to\n  mailboxes:\n";

INSTANTIATE_TEST_SUITE_P(
    Loader, MailboxScenarioErrors,
    ::testing::Values(
        Bad{kProvider + "    - {user: a, addresses: [a@firma.example]}\n"
                        "    - {user: a, addresses: [b@firma.example]}\n",
            "duplicate mailbox a"},
        Bad{kProvider + "    - {user: x, catch_all: true}\n    - {user: y, catch_all: true}\n",
            "a second catch-all"},
        Bad{kProvider + "    - {user: a, addresses: [anna@firma.example]}\n"
                        "    - {user: b, addresses: [ANNA@firma.example]}\n",
            "owned by another mailbox"},
        Bad{kProvider + "    - {user: x, catch_all: true, addresses: [a@firma.example]}\n",
            "no addresses"},
        Bad{kProvider + "    - {user: x}\n", "provider.mailboxes[0].addresses: missing"},
        Bad{kProvider + "    - {user: Anna.B, addresses: [a@firma.example]}\n",
            "provider.mailboxes[0].user"},
        Bad{kProvider + "    - {user: a, addresses: [a@elsewhere.example]}\n",
            "say how it is fetched in fetcher.accounts"},
        Bad{"provider: {profile: x-envelope-to}\nfetcher: {accounts: [{mailbox: catchall}]}\n",
            "needs provider.mailboxes"},
        Bad{kBoxes + "fetcher: {accounts: [{mailbox: bob}]}\n", "no such mailbox"},
        Bad{kBoxes + "fetcher: {accounts: [{mailbox: anna}, {mailbox: anna}]}\n", "polled twice"},
        Bad{kBoxes + "fetcher: {accounts: [{mailbox: anna, deliver_to: anna@other.example}]}\n",
            "not at a world.local_domains domain"},
        Bad{kBoxes + "fetcher: {parallel: 17}\n", "fetcher.parallel"},
        Bad{kBoxes + "timeline: {cycles: 3, password_changes: [{mailbox: bob}]}\n",
            "timeline.password_changes[0].mailbox: no such mailbox"},
        Bad{kBoxes + "timeline: {cycles: 3, password_changes: [{mailbox: anna, before_cycle: 2, "
                     "fixed_before_cycle: 2}]}\n",
            "must come after before_cycle"},
        Bad{kBoxes + "timeline: {latency_budget: soon}\n", "timeline.latency_budget"}));

// The default catch-all's password changes before cycle 2 and is fixed before cycle 3: the
// fetcher is refused once (named), the mail waits and is delivered, nothing lost.
TEST(MailboxScenarios, APasswordChangeOfTheDefaultCatchAll) {
  auto s = parse_scenario(kWorld +
                              "provider: {profile: x-envelope-to}\n"
                              "timeline: {cycles: 3, password_changes: [{before_cycle: 2, "
                              "fixed_before_cycle: 3}], latency_budget: 4m}\n"
                              "messages:\n  - {id: m, from: x@sender.example, "
                              "to: [anna@firma.example], at: 1m, headers: \"Subject: x\"}\n"
                              "expect:\n  - {type: login-refused, recipient: catchall}\n"
                              "  - {type: delayed, message: m, recipient: anna@firma.example}\n",
                          "t.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const ScenarioResult r = run_scenario(*s);
  EXPECT_EQ(r.status(), "ok") << summary(r);
}

// A password change of a mailbox no account polls met no login: not exercised, never a pass.
TEST(MailboxScenarios, APasswordChangeNobodyMetIsNotExercised) {
  auto s = parse_scenario(kWorld + kBoxes +
                              "fetcher: {accounts: [{mailbox: catchall}]}\n"
                              "timeline: {cycles: 2, password_changes: [{mailbox: anna}]}\n"
                              "messages:\n  - {id: m, from: x@sender.example, "
                              "to: [ben@firma.example], headers: \"Subject: x\"}\n",
                          "t.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const ScenarioResult r = run_scenario(*s);
  EXPECT_EQ(r.status(), "not-exercised") << summary(r);
}

}  // namespace
}  // namespace dropcheck::runner

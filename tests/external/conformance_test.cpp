// Real fetchers under test (label conformance): fetchmail and getmail6 (+
// msmtp) play built-in scenarios and must produce exactly the findings recorded
// for them under `fetchers:` (their documented behaviour, explained in
// README.md "## Matrix"). Skipped when not installed.
#include <gtest/gtest.h>

#include "runner/external.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"
#include "../builtin_scenario.hpp"

namespace dropcheck::runner {
namespace {

std::vector<std::string> finding_keys(const ScenarioResult &r) {
  std::vector<std::string> out;
  for (const auto &f : r.report.findings)
    out.push_back(f.type + ":" + f.message + ":" + f.recipient);
  return out;
}

class RealFetcher
    : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(RealFetcher, FindingsAreTheDocumentedOnes) {
  const auto &[kind, name] = GetParam();
  std::string missing;
  if (!external_fetcher_available(kind, &missing))
    GTEST_SKIP() << kind << " not installed (missing: " << missing << ")";
  const Scenario s = with_fetcher(builtin(name), kind);
  const auto r = run_scenario(s);
  ASSERT_EQ(r.error, "");
  std::string cycles;
  for (const auto &c : r.cycles)
    cycles += c.detail + "\n";
  EXPECT_TRUE(r.passed()) << "findings "
                          << ::testing::PrintToString(finding_keys(r))
                          << "\nmissing " << ::testing::PrintToString(r.missing)
                          << "\nunexpected "
                          << ::testing::PrintToString(r.unexpected)
                          << "\ncycles:\n"
                          << cycles;
  ASSERT_FALSE(r.cycles.empty());
  EXPECT_EQ(r.cycles[0].outcome, fetcher::Outcome::ok) << r.cycles[0].detail;
}

INSTANTIATE_TEST_SUITE_P(
    Library, RealFetcher,
    ::testing::Combine(::testing::Values("fetchmail", "getmail6"),
                       ::testing::Values("baseline", "bcc", "cc-foreign")),
    [](const auto &param_info) {
      std::string n =
          std::get<0>(param_info.param) + "_" + std::get<1>(param_info.param);
      for (char &c : n)
        if (c == '-')
          c = '_';
      return n;
    });

TEST(RealFetcher, FetchmailRcIsPrivateAndAccepted) {
  if (!external_fetcher_available("fetchmail"))
    GTEST_SKIP() << "fetchmail not installed";
  // A second cycle with keep: fetchmail's UIDL file prevents a second copy.
  Scenario s = with_fetcher(builtin("baseline"), "fetchmail");
  s.fetcher.keep = true;
  s.timeline.cycles = 2;
  const auto r = run_scenario(s);
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.passed()) << ::testing::PrintToString(finding_keys(r));
}

} // namespace
} // namespace dropcheck::runner

// Several accounts in one configuration: the loader, single-drop routing, the refused-login
// back-off and the exit status over all accounts.
#include "fetcher/accounts.hpp"

#include <gtest/gtest.h>

#include "fetcher/config.hpp"
#include "fetcher/route.hpp"

namespace dropcheck::fetcher {
namespace {

constexpr const char* kAccounts = R"(version: 1
name: firma
smtp: {host: 127.0.0.1, port: 2525}
routing:
  local_domains: [firma.example]
  users: [anna@firma.example, ben@firma.example, postmaster@firma.example]
  fallback: postmaster@firma.example
parallel: 2
accounts:
  - name: catchall
    pop3: {host: 127.0.0.1, port: 1110, user: catchall, password: pw1}
  - name: anna
    pop3: {host: 127.0.0.1, port: 1110, user: anna, password: pw2}
    mode: single
    deliver_to: anna@Firma.Example
    keep: true
)";

TEST(Accounts, ParseSharedSettingsAndPerAccountOnes) {
  auto a = parse_accounts(kAccounts, "accounts.yaml");
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_EQ(a->accounts.size(), 2u);
  EXPECT_EQ(a->parallel, 2u);
  const Config& catchall = a->accounts[0];
  const Config& anna = a->accounts[1];
  EXPECT_EQ(catchall.name, "catchall");
  EXPECT_EQ(catchall.routing.mode, Mode::multidrop);
  EXPECT_FALSE(catchall.keep);
  EXPECT_EQ(anna.name, "anna");
  EXPECT_EQ(anna.pop3.user, "anna");
  EXPECT_EQ(anna.pop3.password, "pw2");
  EXPECT_EQ(anna.routing.mode, Mode::single);
  EXPECT_EQ(anna.routing.deliver_to, "anna@firma.example");
  EXPECT_TRUE(anna.keep);
  // Shared: delivery, routing; the top-level name is the installation's Received name.
  EXPECT_EQ(anna.smtp.port, 2525);
  EXPECT_EQ(anna.routing.fallback, "postmaster@firma.example");
  EXPECT_EQ(anna.received_by, "firma");
  EXPECT_EQ(catchall.received_by, "firma");
}

TEST(Accounts, TheOneAccountFormatStillLoads) {
  auto a = parse_accounts(
      "version: 1\nname: solo\npop3: {user: u, password: p}\nsmtp: {}\n"
      "routing: {local_domains: [firma.example]}\n",
      "one.yaml");
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_EQ(a->accounts.size(), 1u);
  EXPECT_EQ(a->accounts[0].name, "solo");
  EXPECT_EQ(a->parallel, 1u);
  // parse_config takes a one-account file in either format, never several accounts.
  auto several = parse_config(kAccounts, "accounts.yaml");
  ASSERT_FALSE(several.ok());
  EXPECT_NE(several.error().message.find("2 accounts"), std::string::npos);
}

struct BadAccounts {
  std::string replace;  // replaces the `accounts:` block of kAccounts
  const char* expect;
};

std::string with_accounts(const std::string& block) {
  const std::string base = kAccounts;
  return base.substr(0, base.find("accounts:\n")) + block;
}

class AccountErrors : public ::testing::TestWithParam<BadAccounts> {};

TEST_P(AccountErrors, NameFileLineAndField) {
  auto a = parse_accounts(with_accounts(GetParam().replace), "bad.yaml");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find(GetParam().expect), std::string::npos) << a.error().message;
  EXPECT_NE(a.error().message.find("bad.yaml:"), std::string::npos) << a.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Loader, AccountErrors,
    ::testing::Values(
        BadAccounts{"accounts: []\n", "non-empty list"},
        BadAccounts{"accounts:\n  - {name: a, pop3: {user: u, password: p}}\n"
                    "  - {name: a, pop3: {user: v, password: p}}\n",
                    "duplicate account name a"},
        BadAccounts{"accounts:\n  - {pop3: {user: u, password: p}}\n", "accounts[0].name"},
        BadAccounts{"accounts:\n  - {name: ../x, pop3: {user: u, password: p}}\n",
                    "accounts[0].name"},
        BadAccounts{"accounts:\n  - {name: a}\n", "accounts[0].pop3"},
        BadAccounts{"accounts:\n  - {name: a, pop3: {user: u}}\n", "accounts[0].pop3.password"},
        BadAccounts{"accounts:\n  - {name: a, pop3: {user: u, password: p}, mode: single}\n",
                    "deliver_to"},
        BadAccounts{"accounts:\n  - {name: a, pop3: {user: u, password: p}, mode: single, "
                    "deliver_to: a@elsewhere.example}\n",
                    "not at a local domain"},
        BadAccounts{"accounts:\n  - {name: a, pop3: {user: u, password: p}, mode: single, "
                    "deliver_to: zoe@firma.example}\n",
                    "not in routing.users"},
        BadAccounts{"accounts:\n  - {name: a, pop3: {user: u, password: p}, "
                    "deliver_to: anna@firma.example}\n",
                    "only with mode: single"},
        BadAccounts{"accounts:\n  - {name: a, pop3: {user: u, password: p}, mode: solo}\n",
                    "expected multidrop or single"},
        BadAccounts{"accounts:\n  - {name: a, pop3: {user: u, password: p}, port: 1}\n", "port"},
        BadAccounts{"pop3: {user: u, password: p}\naccounts:\n  - {name: a, pop3: {user: u, "
                    "password: p}}\n",
                    "pop3 and accounts exclude each other"}));

TEST(Accounts, ParallelOnlyWithAccountsAndBounded) {
  auto a = parse_accounts(
      "version: 1\npop3: {user: u, password: p}\nsmtp: {}\nparallel: 2\n"
      "routing: {local_domains: [firma.example]}\n",
      "p.yaml");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("only with accounts"), std::string::npos) << a.error().message;
  std::string big = kAccounts;
  big.replace(big.find("parallel: 2"), 11, "parallel: 99");
  auto b = parse_accounts(big, "p.yaml");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("parallel"), std::string::npos) << b.error().message;
}

RouteContext ctx() { return RouteContext{"firma", "pop.provider.example", "anna", {}}; }

// A per-user box is the recipient: To/Cc and the provider's envelope header name others (a
// Bcc copy, a list), and none of them gets a RCPT; the envelope header and Bcc go.
TEST(SingleDrop, EveryMessageGoesToTheOneMailboxWithEnvelopeHeadersStripped) {
  auto a = parse_accounts(kAccounts, "accounts.yaml");
  ASSERT_TRUE(a.ok()) << a.error().message;
  const Config& anna = a->accounts[1];
  const std::string m =
      "Return-Path: <s@sender.example>\r\nX-Envelope-To: anna@firma.example\r\n"
      "Delivered-To: anna@firma.example\r\nFrom: s@sender.example\r\n"
      "To: ben@firma.example, x@partner.example\r\nBcc: anna@firma.example\r\n"
      "Subject: s\r\n\r\nbody\r\n";
  const Route r = route_message(anna, m, ctx());
  EXPECT_EQ(r.recipients, std::vector<std::string>{"anna@firma.example"});
  EXPECT_EQ(r.mail_from, "s@sender.example");
  EXPECT_FALSE(r.unroutable);
  EXPECT_EQ(r.message.find("X-Envelope-To"), std::string::npos);
  EXPECT_EQ(r.message.find("Delivered-To"), std::string::npos);
  EXPECT_EQ(r.message.find("Bcc:"), std::string::npos);
  EXPECT_NE(r.message.find("for <anna@firma.example>"), std::string::npos);
  // The same in the catch-all account routes by the envelope header.
  const Route multi = route_message(a->accounts[0], m, ctx());
  EXPECT_EQ(multi.recipients, std::vector<std::string>{"anna@firma.example"});
}

TEST(SingleDrop, AnUnparsableHeaderStillReachesTheMailboxWithAnAlert) {
  auto a = parse_accounts(kAccounts, "accounts.yaml");
  ASSERT_TRUE(a.ok()) << a.error().message;
  const Route r =
      route_message(a->accounts[1], std::string("Bad header\0x\r\n\r\nb\r\n", 20), ctx());
  EXPECT_EQ(r.recipients, std::vector<std::string>{"anna@firma.example"});
  EXPECT_TRUE(r.alert);
  EXPECT_FALSE(r.unroutable);
}

// The loop guard is per installation: a copy that went out through the catch-all account and
// came back into anna's box is recognised there too.
TEST(SingleDrop, TheLoopGuardSpansAccounts) {
  auto a = parse_accounts(kAccounts, "accounts.yaml");
  ASSERT_TRUE(a.ok()) << a.error().message;
  const Route first = route_message(
      a->accounts[0], "X-Envelope-To: anna@firma.example\r\nSubject: s\r\n\r\nb\r\n", ctx());
  const Route again = route_message(a->accounts[1], first.message, ctx());
  EXPECT_TRUE(again.unroutable);
  EXPECT_TRUE(again.recipients.empty());
}

TEST(AuthBackoff, DoublesUpToTheCapAndResetsAfterALogin) {
  using std::chrono::minutes;
  AuthBackoff b(minutes(5));
  const base::Millis t0{1'000'000};
  EXPECT_TRUE(b.due("a", t0));
  b.record("a", Outcome::auth_failed, t0);
  EXPECT_EQ(b.failures("a"), 1u);
  EXPECT_FALSE(b.due("a", t0 + minutes(4)));
  EXPECT_TRUE(b.due("a", t0 + minutes(5)));
  EXPECT_TRUE(b.due("other", t0));  // per account
  b.record("a", Outcome::auth_failed, t0);
  EXPECT_EQ(*b.next_attempt("a"), t0 + minutes(10));
  b.record("a", Outcome::auth_failed, t0);
  EXPECT_EQ(*b.next_attempt("a"), t0 + minutes(20));
  for (int i = 0; i < 20; ++i) b.record("a", Outcome::auth_failed, t0);
  EXPECT_EQ(*b.next_attempt("a"), t0 + kMaxAuthBackoff);
  b.record("a", Outcome::pop3_error, t0);  // the network says nothing about the credentials
  EXPECT_EQ(b.failures("a"), 23u);
  b.record("a", Outcome::ok, t0);
  EXPECT_EQ(b.failures("a"), 0u);
  EXPECT_FALSE(b.next_attempt("a").has_value());
}

AccountResult result(Outcome o) {
  AccountResult r;
  r.result.outcome = o;
  return r;
}

TEST(Accounts, ExitStatusPutsARefusedLoginFirst) {
  EXPECT_EQ(exit_status({result(Outcome::ok), result(Outcome::ok)}), kExitFetchOk);
  EXPECT_EQ(exit_status({result(Outcome::ok), result(Outcome::locked)}), kExitFetchLocked);
  EXPECT_EQ(exit_status({result(Outcome::locked), result(Outcome::held)}), kExitFetchFailed);
  EXPECT_EQ(exit_status({result(Outcome::pop3_error), result(Outcome::auth_failed)}),
            kExitAuthFailed);
}

}  // namespace
}  // namespace dropcheck::fetcher

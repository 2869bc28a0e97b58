// Real fetchers under test (label conformance): fetchmail and getmail6 (+
// msmtp) play built-in scenarios and must produce exactly the findings recorded
// for them under `fetchers:` (their documented behaviour, explained in
// README.md "## Matrix"). Skipped when not installed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "../builtin_scenario.hpp"
#include "base/clock.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "fake_smtp/fake_smtp.hpp"
#include "net/asio.hpp"
#include "net/server.hpp"
#include "runner/external.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"
#include "temp_dir.hpp"

namespace dropcheck::runner {
namespace {

std::vector<std::string> finding_keys(const ScenarioResult &r) {
  std::vector<std::string> out;
  for (const auto &f : r.report.findings)
    out.push_back(f.type + ":" + f.message + ":" + f.recipient);
  return out;
}

class RealFetcher : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(RealFetcher, FindingsAreTheDocumentedOnes) {
  const auto &[kind, name] = GetParam();
  std::string missing;
  if (!external_fetcher_available(kind, &missing))
    GTEST_SKIP() << kind << " not installed (missing: " << missing << ")";
  const Scenario s = with_fetcher(builtin(name), *parse_fetcher_kind(kind));
  const auto r = run_scenario(s);
  ASSERT_EQ(r.error, "");
  std::string cycles;
  for (const auto &c : r.cycles) cycles += c.detail + "\n";
  EXPECT_TRUE(r.passed()) << "findings " << ::testing::PrintToString(finding_keys(r))
                          << "\nmissing " << ::testing::PrintToString(r.missing) << "\nunexpected "
                          << ::testing::PrintToString(r.unexpected) << "\ncycles:\n"
                          << cycles;
  ASSERT_FALSE(r.cycles.empty());
  EXPECT_EQ(r.cycles[0].outcome, fetcher::Outcome::ok) << r.cycles[0].detail;
}

INSTANTIATE_TEST_SUITE_P(Library, RealFetcher,
                         ::testing::Combine(::testing::Values("fetchmail", "getmail6"),
                                            ::testing::Values("baseline", "bcc", "cc-foreign")),
                         [](const auto &param_info) {
                           std::string n =
                               std::get<0>(param_info.param) + "_" + std::get<1>(param_info.param);
                           for (char &c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(RealFetcher, FetchmailRcIsPrivateAndAccepted) {
  if (!external_fetcher_available("fetchmail")) GTEST_SKIP() << "fetchmail not installed";
  // A second cycle with keep: fetchmail's UIDL file prevents a second copy.
  Scenario s = with_fetcher(builtin("baseline"), FetcherKind::fetchmail);
  s.fetcher.keep = true;
  s.timeline.cycles = 2;
  const auto r = run_scenario(s);
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.passed()) << ::testing::PrintToString(finding_keys(r));
}

// ---- several accounts in one invocation (issue 17 item 6)
// ---------------------------------------------
// A catch-all (multidrop) and a per-user mailbox (single-drop to alice), each
// on its own fake provider (one mailbox per provider), fetched by one fetchmail
// / getmail run into one fake-smtp.

namespace fs = std::filesystem;
namespace asio = net::asio;

// Real-time bound for one invocation (the child's own timeout is below it).
constexpr auto kAccountsBound = std::chrono::seconds(90);

using test_util::TempDir;

std::string message(const std::string &id, const std::string &from, const std::string &to,
                    const std::string &cc = "") {
  std::string m = "From: " + from + "\r\nTo: " + to + "\r\n";
  if (!cc.empty()) m += "Cc: " + cc + "\r\n";
  return m + "Subject: " + id + "\r\nMessage-ID: <" + id + "@sender.example>\r\n\r\nBody of " + id +
         ".\r\n";
}

std::string message_id(const std::string &data) {
  const auto at = data.find("Message-ID: <");
  if (at == std::string::npos) return "(none)";
  const auto start = at + 13;
  return data.substr(start, data.find('@', start) - start);
}

fs::perms mode_of(const fs::path &p) { return fs::status(p).permissions() & fs::perms::all; }

struct AccountsRun {
  fetcher::CycleResult cycle;
  bool done = false;
  // Message-ID -> recipients accepted for it (over every transaction); every
  // RCPT attempted, accepted or not.
  std::map<std::string, std::set<std::string>> accepted;
  std::set<std::string> attempted;
  std::size_t left_catchall = 0, left_alice = 0;
  std::string alice_login, catchall_login;
};

AccountsRun run_accounts(const std::string &kind, const fs::path &dir) {
  AccountsRun out;
  Scenario s = with_fetcher(builtin("baseline"), *parse_fetcher_kind(kind));
  s.fetcher.keep = false;
  // The catch-all stamps X-Envelope-To (what the scenario's intent reads); the
  // per-user box stamps nothing, as such boxes usually are: a multidrop reading
  // of it would route by To/Cc.
  auto profile = fake_pop3::load_profile("x-envelope-to");
  auto plain = fake_pop3::load_profile("none");
  if (!profile.ok() || !plain.ok()) {
    ADD_FAILURE() << "built-in profiles x-envelope-to, none";
    return out;
  }
  base::VirtualClock clock(base::Millis{1'795'420'800'000});
  asio::io_context io;
  const net::tcp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);
  fake_smtp::Journal journal(dir / "journal");
  fake_smtp::Policy policy;
  policy.local_domains = {"firma.example"};
  fake_smtp::Receiver receiver(policy, journal, clock);
  net::Server smtp(io, loopback, receiver.factory());
  fake_pop3::Provider catchall(*profile, "catchall", "pw-catchall", clock);
  fake_pop3::Provider alice(*plain, "alice", "pw \"alice\"", clock);
  net::Server pop_catchall(
      io, loopback, [&](const net::Peer &p) { return catchall.make_pop3_session(p); },
      catchall.pop3_server_options());
  net::Server pop_alice(
      io, loopback, [&](const net::Peer &p) { return alice.make_pop3_session(p); },
      alice.pop3_server_options());
  smtp.start();
  pop_catchall.start();
  pop_alice.start();

  // The catch-all: carol is a BCC recipient (only the envelope names her).
  catchall.deliver("x@sender.example", {"bob@firma.example", "carol@firma.example"},
                   message("ca-1", "x@sender.example", "bob@firma.example"));
  // Alice's own mailbox: whatever the headers say, every message is hers (a
  // multidrop reading of al-1 would send it to bob, or to dave outside).
  alice.deliver("y@sender.example", {"alice@firma.example"},
                message("al-1", "y@sender.example", "dave@elsewhere.example", "bob@firma.example"));
  alice.deliver("", {"alice@firma.example"},
                message("al-2", "mailer-daemon@sender.example", "alice@firma.example"));

  ExternalContext ctx;
  ctx.scenario = &s;
  ctx.workdir = (dir / "external").string();
  ctx.pop3_port = pop_catchall.local_endpoint().port();
  ctx.smtp_port = smtp.local_endpoint().port();
  ctx.timeout = std::chrono::seconds(60);
  ctx.accounts = {
      {"catchall", "catchall", "pw-catchall", "", 0},
      {"alice", "alice", "pw \"alice\"", "alice@firma.example", pop_alice.local_endpoint().port()},
  };
  auto play = [&]() -> net::awaitable<void> {
    out.cycle = co_await run_external_cycle(ctx);
    out.done = true;
    smtp.stop();
    pop_catchall.stop();
    pop_alice.stop();
  };
  asio::co_spawn(io, play(), asio::detached);
  io.run_for(kAccountsBound);

  auto records = fake_smtp::read_journal(dir / "journal");
  if (!records.ok()) {
    ADD_FAILURE() << records.error().message;
    return out;
  }
  for (const auto &rec : *records) {
    for (const auto &rc : rec.rcpts) {
      out.attempted.insert(rc.address);
      const bool ok = rc.code / 100 == 2 && (!rec.lmtp || rc.data_code / 100 == 2);
      if (ok && rec.accepted) out.accepted[message_id(rec.message)].insert(rc.address);
    }
  }
  out.left_catchall = catchall.stored_count();
  out.left_alice = alice.stored_count();
  for (const auto &e : catchall.session_log())
    out.catchall_login += e.user + ":" + e.auth_result + " ";
  for (const auto &e : alice.session_log()) out.alice_login += e.user + ":" + e.auth_result + " ";
  return out;
}

class SeveralAccounts : public ::testing::TestWithParam<std::string> {};

TEST_P(SeveralAccounts, CatchAllAndPerUserMailboxInOneInvocation) {
  const std::string kind = GetParam();
  std::string missing;
  if (!external_fetcher_available(kind, &missing))
    GTEST_SKIP() << kind << " not installed (missing: " << missing << ")";
  TempDir dir("dc-acct");
  const AccountsRun r = run_accounts(kind, dir.path);
  ASSERT_TRUE(r.done) << "no result within the bound";
  EXPECT_EQ(r.cycle.outcome, fetcher::Outcome::ok) << r.cycle.detail;
  const std::map<std::string, std::set<std::string>> want = {
      {"ca-1", {"bob@firma.example", "carol@firma.example"}},
      {"al-1", {"alice@firma.example"}},
      {"al-2", {"alice@firma.example"}},
  };
  EXPECT_EQ(r.accepted, want) << r.cycle.detail;
  // Nothing else was even tried (no dave@elsewhere, no postmaster fallback).
  EXPECT_EQ(r.attempted, (std::set<std::string>{"alice@firma.example", "bob@firma.example",
                                                "carol@firma.example"}))
      << r.cycle.detail;
  // Both mailboxes were logged into with their own credentials and emptied.
  EXPECT_NE(r.catchall_login.find("catchall:ok"), std::string::npos) << r.catchall_login;
  EXPECT_NE(r.alice_login.find("alice:ok"), std::string::npos) << r.alice_login;
  EXPECT_EQ(r.left_catchall, 0u);
  EXPECT_EQ(r.left_alice, 0u);
  // Every file holding a password is private.
  const fs::path work = dir.path / "external" / kind;
  const std::vector<fs::path> secret =
      kind == "fetchmail"
          ? std::vector<fs::path>{work / "fetchmailrc"}
          : std::vector<fs::path>{work / "getmailrc-catchall", work / "getmailrc-alice"};
  for (const auto &p : secret) {
    ASSERT_TRUE(fs::exists(p)) << p;
    EXPECT_EQ(mode_of(p), fs::perms::owner_read | fs::perms::owner_write) << p;
  }
}

INSTANTIATE_TEST_SUITE_P(Real, SeveralAccounts, ::testing::Values("fetchmail", "getmail6"));

}  // namespace
}  // namespace dropcheck::runner

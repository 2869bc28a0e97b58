// The fetcher core against hostile and unusual providers and receivers (scripted peers on
// loopback): the deletion invariant — a message leaves the provider only after a local mailbox
// has it — and "one bad message never blocks the ones behind it".
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "fetcher/fetcher.hpp"
#include "scripted_servers.hpp"

namespace dropcheck::fetcher {
namespace {

using testing::Pop3Script;
using testing::ScriptedMessage;
using testing::ScriptedPop3;
using testing::ScriptedSmtp;
using testing::SmtpScript;

std::string message(const std::string& envelope_to, const std::string& id,
                    const std::string& body = "hello\r\n", const std::string& extra = "") {
  return "Return-Path: <alice@sender.example>\r\n"
         "Received: from mx by provider.example with ESMTP id " +
         id +
         "\r\n"
         "X-Envelope-To: " +
         envelope_to + "\r\n" + extra +
         "From: Alice <alice@sender.example>\r\n"
         "To: team@firma.example\r\n"
         "Message-ID: <" +
         id +
         "@sender.example>\r\n"
         "Subject: test " +
         id +
         "\r\n"
         "\r\n" +
         body;
}

struct Harness {
  std::filesystem::path dir;
  Config config;
  base::VirtualClock clock{std::chrono::milliseconds(1'700'000'000'000)};
  std::vector<std::string> lines;

  Harness(std::uint16_t pop3_port, std::uint16_t smtp_port) {
    dir = std::filesystem::temp_directory_path() /
          ("dropcheck-hostile-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(dir);
    config = default_config();
    config.pop3.host = "127.0.0.1";
    config.pop3.port = pop3_port;
    config.pop3.user = "catchall";
    config.pop3.password = "secret";
    config.pop3.auth = "user";
    config.pop3.timeout = std::chrono::seconds(5);
    config.smtp.port = smtp_port;
    config.smtp.timeout = std::chrono::seconds(5);
    config.routing.local_domains = {"firma.example"};
    config.routing.fallback = "postmaster@firma.example";
    config.state_dir = dir.string();
  }
  ~Harness() { std::filesystem::remove_all(dir); }
  static int& counter() {
    static int n = 0;
    return n;
  }
  Hooks hooks;
  CycleResult cycle() {
    Fetcher f(
        config, clock, [this](const std::string& l) { lines.push_back(l); }, hooks);
    return f.run_cycle_blocking();
  }
  std::string log() const {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

int accept_all(const std::string&, std::size_t) { return 250; }

std::vector<std::string> all_recipients(const ScriptedSmtp& smtp) {
  std::vector<std::string> out;
  for (const auto& t : smtp.transactions())
    for (const auto& r : t.accepted) out.push_back(r);
  return out;
}

TEST(HostileProvider, MessageWithA200KbHeaderLineIsDeliveredAndTheNextToo) {
  const std::string long_line = "X-Long: " + std::string(200 * 1024, 'a') + "\r\n";
  Pop3Script script;
  script.messages = {{message("a@firma.example", "m1", "hello\r\n", long_line), "u1"},
                     {message("b@firma.example", "m2"), "u2"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  ASSERT_EQ(smtp.transactions().size(), 2u) << h.log();
  EXPECT_NE(smtp.transactions()[0].data.find(long_line), std::string::npos);
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{true, true}));
}

TEST(HostileProvider, AMessageGrowingPastTheLimitStaysAndTheNextIsDelivered) {
  Pop3Script script;
  const std::string big = message("a@firma.example", "m1", std::string(20'000, 'x') + "\r\n");
  script.messages = {{big, "u1"}, {message("b@firma.example", "m2"), "u2"}};
  script.listed_sizes = {2'000, 0};  // LIST says it fits
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  h.config.pop3.max_message_size = 4096;
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::held) << r.detail << "\n" << h.log();
  EXPECT_EQ(all_recipients(smtp), (std::vector<std::string>{"b@firma.example"}));
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false, true}));
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_TRUE(r.messages[0].alert);
}

TEST(HostileProvider, AMessageListedOverTheLimitStaysAndTheNextIsDelivered) {
  Pop3Script script;
  const std::string big = message("a@firma.example", "m1", std::string(20'000, 'x') + "\r\n");
  script.messages = {{big, "u1"}, {message("b@firma.example", "m2"), "u2"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  h.config.pop3.max_message_size = 4096;
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::held) << h.log();
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false, true}));
  for (const auto& c : pop.commands()) EXPECT_NE(c, "RETR 1");
}

TEST(HostileProvider, TwoMessagesSharingAUidlAreBothDelivered) {
  Pop3Script script;
  script.messages = {{message("a@firma.example", "m1"), "same"},
                     {message("b@firma.example", "m2"), "same"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail;
  EXPECT_EQ(all_recipients(smtp), (std::vector<std::string>{"a@firma.example", "b@firma.example"}))
      << h.log();
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{true, true}));
  EXPECT_NE(h.log().find("event=provider-defect"), std::string::npos) << h.log();
}

TEST(HostileProvider, AResponseOutOfStepAbandonsTheSessionWithoutDeletingAnything) {
  Pop3Script script;
  script.repeat_uidl_answer = true;
  script.messages = {{message("a@firma.example", "m1"), "u1"},
                     {message("b@firma.example", "m2"), "u2"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  for (int i = 0; i < 3; ++i) {
    auto r = h.cycle();
    EXPECT_EQ(r.outcome, Outcome::pop3_error) << h.log();
    h.clock.advance(std::chrono::hours(1));
  }
  // Nothing was delivered from a response read out of step, nothing deleted.
  EXPECT_TRUE(smtp.transactions().empty()) << h.log();
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false, false}));
  for (const auto& c : pop.commands()) EXPECT_NE(c.substr(0, 4), "DELE") << h.log();
}

TEST(HostileProvider, ABareLfDotLineIsContentNotTheEnd) {
  Pop3Script script;
  script.raw_wire = true;
  const std::string body = "line one\r\nsignature follows\n.\nstill the message\r\n";
  script.messages = {{message("a@firma.example", "m1", body), "u1"},
                     {message("b@firma.example", "m2"), "u2"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  ASSERT_EQ(smtp.transactions().size(), 2u) << h.log();
  EXPECT_NE(smtp.transactions()[0].data.find("still the message"), std::string::npos);
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{true, true}));
}

TEST(HostileProvider, ATricklingMessageHitsItsDeadlineAndDoesNotBlockTheNext) {
  Pop3Script script;
  std::string body;
  for (int i = 0; i < 40; ++i) body += "slow line " + std::to_string(i) + "\r\n";
  script.messages = {{message("a@firma.example", "m1", body), "u1"},
                     {message("b@firma.example", "m2"), "u2"}};
  script.trickle_message = 1;
  script.trickle_delay = std::chrono::milliseconds(50);
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  h.config.pop3.message_deadline = std::chrono::milliseconds(500);
  auto r1 = h.cycle();
  EXPECT_EQ(r1.outcome, Outcome::pop3_error) << h.log();
  EXPECT_NE(r1.detail.find("deadline"), std::string::npos) << r1.detail;
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false, false}));
  // Next cycle: message 1 is held (back-off), message 2 goes through.
  h.clock.advance(std::chrono::minutes(1));
  auto r2 = h.cycle();
  EXPECT_EQ(r2.outcome, Outcome::held) << h.log();
  EXPECT_EQ(all_recipients(smtp), (std::vector<std::string>{"b@firma.example"}));
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false, true}));
}

TEST(HostileReceiver, EveryRecipientAndTheFallbackRefusedKeepsTheMessageOnTheProvider) {
  Pop3Script script;
  script.messages = {{message("a@firma.example", "m1"), "u1"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp([](const std::string&, std::size_t) { return 550; });
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::held) << h.log();
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false}));
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_TRUE(r.messages[0].alert);
  // Within the back-off nothing is tried again; after it, it is.
  h.clock.advance(std::chrono::minutes(1));
  auto r2 = h.cycle();
  EXPECT_EQ(r2.outcome, Outcome::held);
  EXPECT_EQ(r2.retrieved, 0u);
  h.clock.advance(std::chrono::minutes(10));
  auto r3 = h.cycle();
  EXPECT_EQ(r3.retrieved, 1u);
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false}));
}

TEST(HostileReceiver, FiveHundredFiftyTwoAtEndOfDataForAllKeepsTheMessage) {
  Pop3Script script;
  script.messages = {{message("a@firma.example", "m1"), "u1"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all, 552);
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::held) << h.log();
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false}));
}

TEST(HostileReceiver, RefusedRecipientGoesToTheFallbackAndTheMessageIsDeleted) {
  Pop3Script script;
  script.messages = {{message("a@firma.example", "m1"), "u1"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp([](const std::string& r, std::size_t) {
    return r == "postmaster@firma.example" ? 250 : 550;
  });
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << h.log();
  EXPECT_EQ(all_recipients(smtp), (std::vector<std::string>{"postmaster@firma.example"}));
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{true}));
}

// A message kept for a deferred recipient comes back next cycle with its refused one: the
// fallback already has the copy for it and must not get another (a RapidCheck case of the
// deletion property).
TEST(HostileReceiver, TheFallbackGetsARefusedRecipientsCopyOnceAcrossCycles) {
  Pop3Script script;
  script.messages = {{message("a@firma.example, c@firma.example", "m1"), "u1"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp([](const std::string& r, std::size_t) {
    if (r == "a@firma.example") return 450;
    return r == "postmaster@firma.example" ? 250 : 550;
  });
  Harness h(pop.port(), smtp.port());
  for (int i = 0; i < 3; ++i) {
    (void)h.cycle();
    h.clock.advance(std::chrono::minutes(10));
  }
  EXPECT_EQ(all_recipients(smtp), (std::vector<std::string>{"postmaster@firma.example"}))
      << h.log();
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false}));
}

TEST(HostileReceiver, TooManyRecipientsAreSentInFurtherTransactionsOfTheSameCycle) {
  std::string to;
  std::vector<std::string> want;
  for (int i = 0; i < 7; ++i) {
    const std::string a = "u" + std::to_string(i) + "@firma.example";
    to += (to.empty() ? "" : ", ") + a;
    want.push_back(a);
  }
  Pop3Script script;
  script.messages = {{message(to, "m1"), "u1"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp([](const std::string&, std::size_t n) { return n < 3 ? 250 : 452; });
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << h.log();
  EXPECT_EQ(all_recipients(smtp), want) << h.log();
  EXPECT_EQ(smtp.transactions().size(), 3u);
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{true}));
}

TEST(Dedup, TwoDeliveriesOfTheSameMailByTheWorldAreBothDelivered) {
  // Same Message-ID and body, two transactions at the provider (two Received lines).
  std::string first = message("a@firma.example", "same");
  std::string second = first;
  second.replace(second.find("id same"), 7, "id othr");
  Pop3Script script;
  script.messages = {{first, "u1"}, {second, "u2"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << h.log();
  EXPECT_EQ(smtp.transactions().size(), 2u) << h.log();
}

TEST(Dedup, TheSameProviderCopyUnderANewUidlIsSkippedWithAnAlert) {
  const std::string m = message("a@firma.example", "m1");
  Pop3Script script;
  script.messages = {{m, "u1"}, {m, "u2"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << h.log();
  EXPECT_EQ(smtp.transactions().size(), 1u) << h.log();
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_TRUE(r.messages[1].skipped);
  EXPECT_TRUE(r.messages[1].alert) << h.log();
}

TEST(ReachingTheProvider, HostsAreNamesNotOnlyAddresses) {
  Pop3Script script;
  script.messages = {{message("a@firma.example", "m1"), "u1"}};
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(accept_all);
  Harness h(pop.port(), smtp.port());
  h.config.pop3.host = "localhost";
  h.config.smtp.host = "localhost";
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{true}));
}

// Pipelining (RFC 2449 6.6) and group commit: one state-log sync per batch, before any DELE
// of that batch.

std::vector<ScriptedMessage> numbered_messages(std::size_t n) {
  std::vector<ScriptedMessage> out;
  for (std::size_t i = 1; i <= n; ++i)
    out.push_back({message(fmt::format("u{}@firma.example", i), fmt::format("m{}", i)),
                   fmt::format("uidl-{}", i)});
  return out;
}

// `n` numbered messages at a scripted provider, offering PIPELINING or not, and a receiver
// that accepts everything.
struct Drain {
  Drain(std::size_t n, bool pipelining)
      : pop(script(n, pipelining)), smtp(accept_all), h(pop.port(), smtp.port()) {}
  static Pop3Script script(std::size_t n, bool pipelining) {
    Pop3Script sc;
    sc.messages = numbered_messages(n);
    if (pipelining) sc.extra_capa = {"PIPELINING"};
    return sc;
  }
  ScriptedPop3 pop;
  ScriptedSmtp smtp;
  Harness h;
};

std::size_t count_verb(const std::vector<std::string>& commands, const std::string& verb) {
  return static_cast<std::size_t>(
      std::count_if(commands.begin(), commands.end(),
                    [&](const std::string& c) { return c.rfind(verb, 0) == 0; }));
}

TEST(Pipelining, RetrsArePipelinedAndNoDeleGoesOutBeforeTheBatchIsDurable) {
  Drain d(3, true);
  std::vector<std::vector<std::string>> at_sync;  // the server's commands at each sync
  d.h.hooks.before_state_sync = [&] {
    at_sync.push_back(d.pop.commands());
    return true;
  };
  auto r = d.h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << d.h.log();
  EXPECT_EQ(d.smtp.transactions().size(), 3u);
  EXPECT_EQ(d.pop.deleted(), (std::vector<bool>{true, true, true}));
  ASSERT_EQ(at_sync.size(), 1u);
  EXPECT_EQ(count_verb(at_sync[0], "RETR"), 3u);
  EXPECT_EQ(count_verb(at_sync[0], "DELE"), 0u);
  EXPECT_EQ(count_verb(d.pop.commands(), "DELE"), 3u);
  // RETR 1 and 2 (each with the next behind it), DELE 1 and 2 likewise.
  EXPECT_GE(d.pop.pipelined_commands(), 4u);
}

TEST(Pipelining, AServerWithoutPipeliningGetsOneCommandAtATime) {
  Drain d(3, false);
  auto r = d.h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << d.h.log();
  EXPECT_EQ(d.smtp.transactions().size(), 3u);
  EXPECT_EQ(d.pop.deleted(), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(d.pop.pipelined_commands(), 0u);
}

TEST(GroupCommit, AFailedStateSyncAfterTheSmtpAckDeletesNothing) {
  Drain d(2, true);
  d.h.hooks.before_state_sync = [] { return false; };  // the disk fails after both 250s
  auto r = d.h.cycle();
  EXPECT_EQ(r.outcome, Outcome::state_error) << d.h.log();
  EXPECT_EQ(d.smtp.transactions().size(), 2u);
  EXPECT_EQ(count_verb(d.pop.commands(), "DELE"), 0u);
  EXPECT_EQ(count_verb(d.pop.commands(), "QUIT"), 0u);
  EXPECT_EQ(d.pop.deleted(), (std::vector<bool>{false, false}));
  // The records were written (only their sync failed): the next cycle deletes without
  // delivering again.
  d.h.hooks = {};
  r = d.h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << d.h.log();
  EXPECT_EQ(d.smtp.transactions().size(), 2u);
  EXPECT_EQ(d.pop.deleted(), (std::vector<bool>{true, true}));
}

TEST(GroupCommit, PipelinedDelesOnlyForTheCommittedBatch) {
  Drain d(70, true);  // two batches: 64 + 6
  int syncs = 0;
  d.h.hooks.before_state_sync = [&] { return ++syncs == 1; };  // the second batch's sync fails
  auto r = d.h.cycle();
  EXPECT_EQ(r.outcome, Outcome::state_error) << d.h.log();
  EXPECT_EQ(syncs, 2);
  EXPECT_EQ(d.smtp.transactions().size(), 70u);
  const auto cmds = d.pop.commands();
  EXPECT_EQ(count_verb(cmds, "DELE"), 64u);
  for (std::size_t n = 65; n <= 70; ++n)
    EXPECT_EQ(std::count(cmds.begin(), cmds.end(), fmt::format("DELE {}", n)), 0) << n;
  EXPECT_EQ(count_verb(cmds, "QUIT"), 0u);  // nothing applied: deleted at the next cycle
  d.h.hooks = {};
  r = d.h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << d.h.log();
  EXPECT_EQ(d.smtp.transactions().size(), 70u);
  EXPECT_EQ(d.pop.deleted(), std::vector<bool>(70, true));
}

// SMTP pipelining across messages (RFC 2920 3.1): message N+1's envelope goes out with N's
// content, before N's final reply is read. Each message is still judged by its own replies,
// read in order, and settled (deleted) only after its own final 2xx.

Pop3Script pipelined_pop3(std::vector<ScriptedMessage> messages) {
  Pop3Script sc;
  sc.messages = std::move(messages);
  sc.extra_capa = {"PIPELINING"};
  return sc;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Deliveries of message `id` (by its Subject) to `rcpt` in the receiver's transactions.
std::size_t copies(const ScriptedSmtp& smtp, const std::string& id, const std::string& rcpt) {
  std::size_t n = 0;
  for (const auto& t : smtp.transactions())
    if (t.data.find("Subject: test " + id + "\r\n") != std::string::npos)
      n += static_cast<std::size_t>(std::count(t.accepted.begin(), t.accepted.end(), rcpt));
  return n;
}

TEST(SmtpPipelining, EachEnvelopeGoesOutBeforeThePreviousFinalReply) {
  ScriptedPop3 pop(pipelined_pop3(numbered_messages(4)));
  ScriptedSmtp smtp(SmtpScript{accept_all, {}, true});
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  EXPECT_EQ(all_recipients(smtp),
            (std::vector<std::string>{"u1@firma.example", "u2@firma.example", "u3@firma.example",
                                      "u4@firma.example"}));
  EXPECT_EQ(pop.deleted(), std::vector<bool>(4, true));
  EXPECT_EQ(smtp.commands_ahead_of_final_reply(), 3u);  // all but the batch's last
}

TEST(SmtpPipelining, AFinalDeferralOrRefusalKeepsOnlyThatMessage) {
  ScriptedPop3 pop(pipelined_pop3(numbered_messages(4)));
  SmtpScript sc{accept_all, [](std::size_t, const std::string& rcpt) {
                  if (rcpt == "u2@firma.example") return 451;
                  return rcpt == "u3@firma.example" || rcpt == "postmaster@firma.example" ? 554
                                                                                          : 250;
                }};
  sc.pipelining = true;
  ScriptedSmtp smtp(sc);
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::held) << r.detail << "\n" << h.log();
  EXPECT_GE(smtp.commands_ahead_of_final_reply(), 3u);
  EXPECT_EQ(all_recipients(smtp),
            (std::vector<std::string>{"u1@firma.example", "u4@firma.example"}));
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{true, false, false, true})) << h.log();
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[1].deferred, (std::vector<std::string>{"u2@firma.example"}));
  EXPECT_TRUE(r.messages[1].delivered.empty());
  EXPECT_TRUE(r.messages[2].held);
  EXPECT_TRUE(r.messages[2].delivered.empty());
  EXPECT_EQ(r.messages[3].delivered, (std::vector<std::string>{"u4@firma.example"}));
}

TEST(SmtpPipelining, AConnectionCutAfterAnEndOfDataLosesNothing) {
  ScriptedPop3 pop(pipelined_pop3(numbered_messages(4)));
  SmtpScript sc{accept_all, {}, true};
  sc.drop_at_end = 2;  // message 2's "." read, then the connection is gone: no reply
  ScriptedSmtp smtp(sc);
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  // Message 2's outcome is unknown and message 3's envelope went out with it: both stay.
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{true, false, false, true})) << h.log();
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_FALSE(r.messages[1].deferred.empty());
  EXPECT_FALSE(r.messages[2].deferred.empty());
  EXPECT_GE(smtp.sessions(), 2u);  // message 4 went over a new connection
  h.clock.advance(std::chrono::minutes(10));
  r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  EXPECT_EQ(pop.deleted(), std::vector<bool>(4, true));
  for (int i = 1; i <= 4; ++i)
    EXPECT_EQ(copies(smtp, fmt::format("m{}", i), fmt::format("u{}@firma.example", i)), 1u) << i;
}

TEST(SmtpPipelining, ARefusedRecipientOfTheNextMessageIsNotTakenForThePreviousReply) {
  ScriptedPop3 pop(pipelined_pop3(numbered_messages(3)));
  ScriptedSmtp smtp(SmtpScript{
      [](const std::string& rcpt, std::size_t) { return rcpt == "u2@firma.example" ? 550 : 250; },
      {},
      true});
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  EXPECT_GE(smtp.commands_ahead_of_final_reply(), 1u);
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].delivered, (std::vector<std::string>{"u1@firma.example"}));
  EXPECT_EQ(r.messages[1].delivered, (std::vector<std::string>{"postmaster@firma.example"}));
  EXPECT_EQ(copies(smtp, "m2", "u2@firma.example"), 0u);
  EXPECT_EQ(r.messages[2].delivered, (std::vector<std::string>{"u3@firma.example"}));
  EXPECT_EQ(copies(smtp, "m2", "postmaster@firma.example"), 1u);
  EXPECT_EQ(pop.deleted(), std::vector<bool>(3, true));
}

TEST(SmtpPipelining, AReceiverWithoutPipeliningGetsOneCommandAtATime) {
  ScriptedPop3 pop(pipelined_pop3(numbered_messages(3)));
  ScriptedSmtp smtp(SmtpScript{accept_all, {}, false});
  Harness h(pop.port(), smtp.port());
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  EXPECT_EQ(smtp.transactions().size(), 3u);
  EXPECT_EQ(smtp.commands_ahead_of_final_reply(), 0u);
  EXPECT_EQ(pop.deleted(), std::vector<bool>(3, true));
}

TEST(SmtpPipelining, LmtpRepliesPerRecipientAreReadForTheirOwnMessage) {
  ScriptedPop3 pop(pipelined_pop3({{message("a@firma.example, b@firma.example", "m1"), "u1"},
                                   {message("c@firma.example", "m2"), "u2"},
                                   {message("d@firma.example", "m3"), "u3"},
                                   {message("e@firma.example", "m4"), "u4"}}));
  SmtpScript sc{accept_all, [](std::size_t, const std::string& rcpt) {
                  if (rcpt == "b@firma.example") return 450;
                  return rcpt == "d@firma.example" ? 550 : 250;
                }};
  sc.pipelining = true;
  sc.lmtp = true;
  ScriptedSmtp smtp(sc);
  Harness h(pop.port(), smtp.port());
  h.config.smtp.lmtp = true;
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  EXPECT_GE(smtp.commands_ahead_of_final_reply(), 3u);
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].delivered, (std::vector<std::string>{"a@firma.example"}));
  EXPECT_EQ(r.messages[0].deferred, (std::vector<std::string>{"b@firma.example"}));
  EXPECT_EQ(r.messages[1].delivered, (std::vector<std::string>{"c@firma.example"}));
  EXPECT_EQ(r.messages[2].delivered, (std::vector<std::string>{"postmaster@firma.example"}));
  EXPECT_EQ(r.messages[3].delivered, (std::vector<std::string>{"e@firma.example"}));
  EXPECT_EQ(sorted(all_recipients(smtp)),
            (std::vector<std::string>{"a@firma.example", "c@firma.example", "e@firma.example",
                                      "postmaster@firma.example"}));
  EXPECT_EQ(pop.deleted(), (std::vector<bool>{false, true, true, true}));
}

// A message that is not at hand yet (here: trickling) may take as long as its deadline: the
// message in flight is concluded first, not left inside DATA with its reply unread.
TEST(SmtpPipelining, TheMessageInFlightIsConcludedBeforeASlowRetrieval) {
  Pop3Script script = pipelined_pop3(numbered_messages(3));
  script.trickle_message = 2;
  script.trickle_delay = std::chrono::milliseconds(20);
  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(SmtpScript{accept_all, {}, true});
  Harness h(pop.port(), smtp.port());
  std::size_t accepted_when_second_retrieved = 0;
  h.hooks.on_retrieved = [&](std::size_t n) {
    if (n == 2) accepted_when_second_retrieved = smtp.transactions().size();
  };
  auto r = h.cycle();
  EXPECT_EQ(r.outcome, Outcome::ok) << r.detail << "\n" << h.log();
  EXPECT_EQ(accepted_when_second_retrieved, 1u);
  EXPECT_EQ(pop.deleted(), std::vector<bool>(3, true));
}

}  // namespace
}  // namespace dropcheck::fetcher

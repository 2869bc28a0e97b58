// Receiver: policy (relay, users, catch-all, null sender, loop check), LMTP, faults, journaling.
#include "fake_smtp/receiver.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "base/clock.hpp"
#include "test_util.hpp"

namespace dropcheck::fake_smtp {
namespace {

using test::talk;

struct Fixture {
  test::TempDir dir;
  Journal journal{dir.path()};
  base::VirtualClock clock{base::Millis{60'000}};
  std::vector<TransactionRecord> records;
  std::unique_ptr<Receiver> receiver;
  explicit Fixture(Policy p) {
    if (p.local_domains.empty()) p.local_domains = {"Firma.example"};
    receiver = std::make_unique<Receiver>(std::move(p), journal, clock);
    receiver->set_on_record([this](const TransactionRecord& r) { records.push_back(r); });
  }
};

const std::string kHead = "EHLO fetcher\r\nMAIL FROM:<a@provider.example>\r\n";

std::string msg_cmds(const std::string& rcpts,
                     const std::string& body = "Subject: t\r\n\r\nhi\r\n") {
  return kHead + rcpts + "DATA\r\n" + body + ".\r\nQUIT\r\n";
}

TEST(Receiver, LocalRecipientAcceptedAndJournaled) {
  Fixture f({});
  const std::string out = talk(*f.receiver, msg_cmds("RCPT TO:<hans@firma.example>\r\n"));
  EXPECT_NE(out.find("250 2.0.0 Ok: queued"), std::string::npos) << out;
  ASSERT_EQ(f.records.size(), 1u);
  const auto& r = f.records[0];
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.message, "Subject: t\r\n\r\nhi\r\n");
  EXPECT_EQ(r.virtual_ms, 60'000);
  EXPECT_GT(r.real_ms, 1'600'000'000'000);
  EXPECT_EQ(r.client, "127.0.0.1:40000");
  EXPECT_EQ(r.rcpts.at(0).mailbox, "hans@firma.example");
  EXPECT_TRUE(r.rcpts.at(0).local);
  EXPECT_FALSE(r.relayed_out);
  auto back = read_journal(f.dir.path());
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].message, r.message);
  EXPECT_EQ((*back)[0].session_id, r.session_id);
}

TEST(Receiver, ForeignRecipientRelayDeniedIsEvidence) {
  Fixture f({});
  const std::string out =
      talk(*f.receiver, kHead + "RCPT TO:<user3@firma3.example>\r\nDATA\r\nQUIT\r\n");
  EXPECT_NE(out.find("550 5.7.1 <user3@firma3.example>: Relay access denied: relaying denied"),
            std::string::npos)
      << out;
  ASSERT_EQ(f.records.size(), 1u);
  const auto& r = f.records[0];
  EXPECT_FALSE(r.accepted);
  EXPECT_TRUE(r.data_attempted);
  EXPECT_EQ(r.data_start_code, 554);
  EXPECT_EQ(r.rcpts.at(0).code, 550);
  EXPECT_FALSE(r.rcpts.at(0).local);
  EXPECT_EQ(r.end_reason, "quit");
}

TEST(Receiver, OpenRelayMarksRelayedOut) {
  Policy p;
  p.relay = RelayMode::open;
  Fixture f(p);
  talk(*f.receiver, msg_cmds("RCPT TO:<hans@firma.example>\r\nRCPT TO:<user3@firma3.example>\r\n"));
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_TRUE(f.records[0].relayed_out);
  EXPECT_TRUE(f.records[0].rcpts.at(1).relayed);
  EXPECT_FALSE(f.records[0].rcpts.at(0).relayed);
}

TEST(Receiver, UnknownUserAndCatchAll) {
  Policy p;
  p.users = {"hans", "grete@firma.example"};
  Fixture f(p);
  const std::string out =
      talk(*f.receiver, kHead +
                            "RCPT TO:<Hans@FIRMA.example>\r\nRCPT TO:<grete@firma.example>\r\n"
                            "RCPT TO:<deleted@firma.example>\r\nRCPT TO:<postmaster>\r\n"
                            "QUIT\r\n");
  EXPECT_NE(out.find("550 5.1.1 <deleted@firma.example>"), std::string::npos) << out;
  ASSERT_EQ(f.records.size(), 1u);
  const auto& rc = f.records[0].rcpts;
  EXPECT_EQ(rc.at(0).code, 250);
  EXPECT_EQ(rc.at(1).code, 250);
  EXPECT_EQ(rc.at(2).code, 550);
  EXPECT_EQ(rc.at(3).code, 250);  // RFC 5321 4.5.1

  p.catch_all = "fallback@firma.example";
  Fixture g(p);
  talk(*g.receiver, msg_cmds("RCPT TO:<deleted@firma.example>\r\n"));
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(g.records[0].rcpts.at(0).code, 250);
  EXPECT_EQ(g.records[0].rcpts.at(0).mailbox, "fallback@firma.example");
}

TEST(Receiver, NullSender) {
  Fixture ok({});
  talk(*ok.receiver,
       "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<hans@firma.example>\r\nDATA\r\nx\r\n.\r\n");
  ASSERT_EQ(ok.records.size(), 1u);
  EXPECT_TRUE(ok.records[0].mail_from_null);
  EXPECT_TRUE(ok.records[0].accepted);

  Policy p;
  p.reject_null_sender = true;
  Fixture no(p);
  const std::string out =
      talk(*no.receiver, "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<hans@firma.example>\r\n");
  EXPECT_NE(out.find("550 5.7.1 <>"), std::string::npos) << out;
  ASSERT_EQ(no.records.size(), 1u);
  EXPECT_TRUE(no.records[0].mail_from_null);
  EXPECT_EQ(no.records[0].mail_code, 550);
}

TEST(Receiver, LoopCheck) {
  Policy p;
  p.loop_check = true;
  Fixture f(p);
  const std::string body =
      "Delivered-To: other@firma.example\r\nDelivered-To: Hans@Firma.Example\r\n\r\nx\r\n";
  const std::string out = talk(*f.receiver, msg_cmds("RCPT TO:<hans@firma.example>\r\n", body));
  EXPECT_NE(out.find("554 5.4.6"), std::string::npos) << out;
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_FALSE(f.records[0].accepted);
  EXPECT_EQ(f.records[0].message, body);  // kept as evidence
  talk(*f.receiver, msg_cmds("RCPT TO:<grete@firma.example>\r\n", body));
  ASSERT_EQ(f.records.size(), 2u);
  EXPECT_TRUE(f.records[1].accepted);
}

TEST(Receiver, LmtpPerRecipientReplies) {
  Policy p;
  p.lmtp = true;
  p.loop_check = true;
  Fixture f(p);
  const std::string body = "Delivered-To: grete@firma.example\r\n\r\nx\r\n";
  const std::string out = talk(*f.receiver,
                               "LHLO fetcher\r\nMAIL FROM:<a@b.example>\r\n"
                               "RCPT TO:<hans@firma.example>\r\nRCPT TO:<x@foreign.example>\r\n"
                               "RCPT TO:<grete@firma.example>\r\nDATA\r\n" +
                                   body + ".\r\n");
  ASSERT_EQ(f.records.size(), 1u);
  const auto& r = f.records[0];
  EXPECT_TRUE(r.lmtp);
  EXPECT_EQ(r.rcpts.at(0).data_code, 250);
  EXPECT_EQ(r.rcpts.at(1).data_code, 0);  // refused at RCPT
  EXPECT_EQ(r.rcpts.at(2).data_code, 554);
  EXPECT_TRUE(r.accepted);
  EXPECT_NE(out.find("250 2.0.0 Ok: queued"), std::string::npos);
  EXPECT_NE(out.find("554 5.4.6 <grete@firma.example>"), std::string::npos);
}

TEST(Receiver, FaultConnect421) {
  Policy p;
  p.faults.connect_code = 421;
  Fixture f(p);
  const std::string out = talk(*f.receiver, "EHLO x\r\n");
  EXPECT_TRUE(out.starts_with("421 4.3.2")) << out;
  EXPECT_EQ(out.find("250"), std::string::npos);
  // No transaction, so only the session record shows the refused connection.
  EXPECT_TRUE(f.records.empty());
  auto sessions = read_sessions(f.dir.path());
  ASSERT_TRUE(sessions.ok()) << sessions.error().message;
  ASSERT_EQ(sessions->records.size(), 1u);
  const auto& r = sessions->records[0];
  EXPECT_EQ(r.greeting_code, 421);
  EXPECT_EQ(r.faults, std::vector<std::string>{"connect-421"});
  EXPECT_EQ(r.transactions, 0u);
  EXPECT_EQ(r.client, "127.0.0.1:40000");
}

// Every connection gets a session record: what happened outside transactions, the totals.
TEST(Receiver, SessionRecordForEveryConnection) {
  Fixture f({});
  talk(*f.receiver, "EHLO probe\r\nNOOP\r\nBOGUS\r\nQUIT\r\n");
  talk(*f.receiver, msg_cmds("RCPT TO:<h@firma.example>\r\nRCPT TO:<x@foreign.example>\r\n"));
  std::string flood = "HELO f\r\n";
  for (int i = 0; i < 150; ++i) flood += "NOOP\r\n";
  talk(*f.receiver, flood, 0, "timeout");
  auto sessions = read_sessions(f.dir.path());
  ASSERT_TRUE(sessions.ok()) << sessions.error().message;
  ASSERT_EQ(sessions->records.size(), 3u);
  const auto& a = sessions->records[0];
  EXPECT_EQ(a.seq, 1u);
  EXPECT_EQ(a.greeting_code, 220);
  EXPECT_EQ(a.helo_verb, "EHLO");
  EXPECT_EQ(a.helo, "probe");
  EXPECT_EQ(a.end_reason, "closed");
  ASSERT_EQ(a.commands.size(), 4u);
  EXPECT_EQ(a.commands[1].line, "NOOP");
  EXPECT_EQ(a.commands[2].code, 500);
  EXPECT_EQ(a.commands[3].code, 221);
  EXPECT_EQ(a.errors, 1u);
  EXPECT_EQ(a.transactions, 0u);
  const auto& b = sessions->records[1];
  EXPECT_EQ(b.transactions, 1u);
  EXPECT_EQ(b.messages, 1u);
  EXPECT_EQ(b.rcpts_accepted, 1u);
  EXPECT_EQ(b.rcpts_refused, 1u);
  EXPECT_EQ(b.commands.size(), 2u);  // EHLO and QUIT; MAIL .. DATA are in the transaction
  EXPECT_EQ(b.session_id, f.records.at(0).session_id);
  const auto& c = sessions->records[2];
  EXPECT_EQ(c.end_reason, "timeout");
  EXPECT_EQ(c.commands.size(), protocol::kSmtpMaxSessionCommands);
  EXPECT_EQ(c.commands_dropped, 151 - protocol::kSmtpMaxSessionCommands);
}

TEST(Receiver, FaultRcptK) {
  Policy p;
  p.faults.rcpt_fail_at = 2;
  p.faults.rcpt_fail_code = 452;
  Fixture f(p);
  const std::string out =
      talk(*f.receiver, msg_cmds("RCPT TO:<a@firma.example>\r\nRCPT TO:<b@firma.example>\r\n"
                                 "RCPT TO:<c@firma.example>\r\n"));
  EXPECT_NE(out.find("452 4.3.1"), std::string::npos) << out;
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.records[0].rcpts.at(1).code, 452);
  EXPECT_EQ(f.records[0].rcpts.at(2).code, 250);
  EXPECT_EQ(f.records[0].faults, std::vector<std::string>{"rcpt-2-452"});
  EXPECT_TRUE(f.records[0].accepted);
}

TEST(Receiver, FaultDataAndDataEndOnlyFirstTransaction) {
  Policy p;
  p.faults.data_fail_code = 451;
  p.faults.only_transaction = 1;
  Fixture f(p);
  const std::string txn = "MAIL FROM:<a@b.example>\r\nRCPT TO:<h@firma.example>\r\nDATA\r\n";
  const std::string out = talk(*f.receiver, "EHLO x\r\n" + txn + "RSET\r\n" + txn + "x\r\n.\r\n");
  EXPECT_NE(out.find("451 4.3.0"), std::string::npos) << out;
  ASSERT_EQ(f.records.size(), 2u);
  EXPECT_EQ(f.records[0].data_start_code, 451);
  EXPECT_TRUE(f.records[1].accepted);

  Policy q;
  q.faults.data_end_fail_code = 452;
  Fixture g(q);
  talk(*g.receiver, msg_cmds("RCPT TO:<h@firma.example>\r\n"));
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(g.records[0].data_code, 452);
  EXPECT_FALSE(g.records[0].accepted);
}

TEST(Receiver, FaultDisconnectMidData) {
  Policy p;
  p.faults.disconnect_after_data_octets = 5;
  Fixture f(p);
  for (std::size_t chunk : {0u, 1u, 3u}) {
    f.records.clear();
    const std::string out = talk(*f.receiver, msg_cmds("RCPT TO:<h@firma.example>\r\n"), chunk);
    EXPECT_EQ(out.find("250 2.0.0 Ok: queued"), std::string::npos) << out;
    EXPECT_NE(out.find("354"), std::string::npos);
    ASSERT_EQ(f.records.size(), 1u);
    EXPECT_EQ(f.records[0].end_reason, "fault-disconnect");
    EXPECT_FALSE(f.records[0].data_complete);
    EXPECT_EQ(f.records[0].faults, std::vector<std::string>{"disconnect-mid-data"});
  }
}

TEST(Receiver, ByteByByteEqualsWhole) {
  Fixture a({}), b({});
  const std::string in = msg_cmds("RCPT TO:<h@firma.example>\r\nRCPT TO:<x@y.example>\r\n");
  talk(*a.receiver, in, 0);
  talk(*b.receiver, in, 1);
  ASSERT_EQ(a.records.size(), 1u);
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_EQ(a.records[0].message, b.records[0].message);
  EXPECT_EQ(a.records[0].rcpts.size(), b.records[0].rcpts.size());
}

TEST(Receiver, TimeoutJournalsAbortedTransaction) {
  Fixture f({});
  const std::string out =
      talk(*f.receiver, kHead + "RCPT TO:<h@firma.example>\r\nDATA\r\npart", 0, "timeout");
  EXPECT_NE(out.find("421 4.4.2"), std::string::npos);
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.records[0].end_reason, "timeout");
}

TEST(Receiver, LogLinePerSession) {
  Fixture f({});
  std::vector<std::string> lines;
  f.receiver->set_log([&](std::string_view l) { lines.emplace_back(l); });
  talk(*f.receiver, "EHLO x\r\nQUIT\r\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("event=disconnect session=")) << lines[0];
  EXPECT_NE(lines[0].find("reason=closed"), std::string::npos) << lines[0];
}

TEST(Receiver, JournalFailureAnswers421NotOk) {
  test::TempDir dir;
  // Message files: a "messages" that is not a directory makes the store fail.
  auto journal = std::make_unique<Journal>(dir.path(), false, MessageStore::files);
  base::VirtualClock clock;
  Policy p;
  p.local_domains = {"firma.example"};
  Receiver r(p, *journal, clock);
  std::string fatal;
  r.set_on_fatal([&](const std::string& e) { fatal = e; });
  std::filesystem::remove_all(dir.path() / "messages");
  std::filesystem::create_directories(dir.path());
  std::ofstream(dir.path() / "messages") << "not a directory";
  const std::string out = talk(r, msg_cmds("RCPT TO:<h@firma.example>\r\n"));
  EXPECT_EQ(out.find("250 2.0.0 Ok: queued"), std::string::npos) << out;
  EXPECT_NE(out.find("421 4.3.0"), std::string::npos) << out;
  EXPECT_TRUE(r.failed());
  EXPECT_FALSE(fatal.empty());
}

}  // namespace
}  // namespace dropcheck::fake_smtp

namespace dropcheck::fake_smtp {
namespace {

TEST(Receiver, SlowRepliesAndIdleTimeoutReachTheIoLayer) {
  Policy p;
  p.faults.reply_rate = 40;
  p.idle_timeout = std::chrono::seconds(7);
  Fixture f(p);
  auto s = f.receiver->make_session(net::Peer{"127.0.0.1", 1, false});
  EXPECT_EQ(s->write_rate(), 40u);
  EXPECT_EQ(s->idle_timeout(), std::chrono::seconds(7));
}

}  // namespace
}  // namespace dropcheck::fake_smtp

// SmtpServerSession: every rule and state transition, each input fed whole, byte by byte and in
// 7-octet pieces (the outputs must be identical).
#include "protocol/smtp_server.hpp"

#include <gtest/gtest.h>

#include "smtp_test_util.hpp"

namespace dropcheck::protocol {
namespace {

using smtp_testing::codes;
using smtp_testing::drive;
using smtp_testing::SessionRun;
using V = std::vector<int>;

SessionRun run(std::string_view input, const SmtpServerConfig& cfg = {}) {
  SessionRun whole;
  drive(whole, cfg, input, 0);
  for (std::size_t chunk : {1u, 2u, 7u}) {
    SessionRun split;
    drive(split, cfg, input, chunk);
    EXPECT_EQ(split.out, whole.out) << "chunk " << chunk;
    EXPECT_EQ(split.handler.messages, whole.handler.messages) << "chunk " << chunk;
    EXPECT_EQ(split.handler.txns.size(), whole.handler.txns.size()) << "chunk " << chunk;
  }
  return whole;
}

constexpr std::string_view kHello = "EHLO client.example\r\n";

TEST(SmtpServer, GreetingNamesHost) {
  SmtpServerConfig cfg;
  cfg.hostname = "mx.test";
  SessionRun r = run("", cfg);
  EXPECT_TRUE(r.out.starts_with("220 mx.test ESMTP")) << r.out;
}

TEST(SmtpServer, FullTransactionPipelined) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<a@src.example>\r\nRCPT TO:<b@firma.example>\r\nDATA\r\n"
                     "Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 250, 221}));
  ASSERT_EQ(r.handler.messages.size(), 1u);
  EXPECT_EQ(r.handler.messages[0], "Subject: x\r\n\r\nhello\r\n");
  ASSERT_EQ(r.handler.txns.size(), 1u);
  const auto& t = r.handler.txns[0];
  EXPECT_EQ(t.end_reason, "data");
  EXPECT_EQ(t.helo_verb, "EHLO");
  EXPECT_EQ(t.helo, "client.example");
  EXPECT_EQ(t.reverse_path, "a@src.example");
  ASSERT_EQ(t.rcpts.size(), 1u);
  EXPECT_EQ(t.rcpts[0].forward_path, "b@firma.example");
  EXPECT_TRUE(t.accepted());
  EXPECT_EQ(t.message_octets, std::string("Subject: x\r\n\r\nhello\r\n.\r\n").size());
  ASSERT_EQ(t.commands.size(), 3u);
  EXPECT_EQ(t.commands[2].line, "DATA");
  EXPECT_EQ(t.commands[2].code, 354);
  EXPECT_GT(t.data_end.virtual_ms, t.commands[2].at.virtual_ms);
  EXPECT_TRUE(r.closing);
}

TEST(SmtpServer, EhloAdvertisesExtensions) {
  SmtpServerConfig cfg;
  cfg.starttls_available = true;
  SessionRun r = run(kHello, cfg);
  for (const char* kw : {"PIPELINING", "SIZE 33554432", "8BITMIME", "ENHANCEDSTATUSCODES",
                         "SMTPUTF8", "DSN", "CHUNKING", "STARTTLS"})
    EXPECT_TRUE(r.out.find(std::string("250-") + kw + "\r\n") != std::string::npos ||
                r.out.find(std::string("250 ") + kw + "\r\n") != std::string::npos)
        << kw;
  EXPECT_EQ(codes(r.out), (V{220, 250}));
}

TEST(SmtpServer, HeloRequiresArgument) {
  SessionRun r = run("HELO\r\nEHLO\r\nHELO x\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 501, 501, 250}));
}

TEST(SmtpServer, NullSender) {
  SessionRun r = run(std::string(kHello) + "MAIL FROM:<>\r\nRCPT TO:<b@firma.example>\r\nRSET\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250}));
  ASSERT_EQ(r.handler.mails.size(), 1u);
  EXPECT_EQ(r.handler.mails[0], "|");
  EXPECT_TRUE(r.handler.txns.at(0).null_sender);
  ASSERT_EQ(r.handler.txns.size(), 1u);
  EXPECT_EQ(r.handler.txns[0].end_reason, "rset");
  EXPECT_FALSE(r.handler.txns[0].data_attempted);
}

TEST(SmtpServer, LenientPathForms) {
  // Space after the colon, no brackets, source route: accepted (Postfix does too).
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM: <a@x.example>\r\nRSET\r\nMAIL FROM:a@x.example\r\n"
                     "RCPT TO:<@relay.example,@r2.example:b@firma.example>\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250, 250}));
  EXPECT_EQ(r.handler.rcpts.at(0), "b@firma.example");
}

TEST(SmtpServer, BadPaths) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<a@x\r\nMAIL TO:<a@x>\r\nMAIL FROM:<a@x>\r\n"
                     "RCPT TO:<>\r\nRCPT TO:<b c@x>\r\nRCPT <b@x>\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 501, 501, 250, 501, 501, 501}));
  EXPECT_EQ(r.handler.txns.at(0).mail_reply.code, 501);
  EXPECT_FALSE(r.handler.txns.at(0).null_sender);
}

TEST(SmtpServer, SequenceErrors) {
  SessionRun r = run("MAIL FROM:<a@x>\r\n" + std::string(kHello) +
                     "RCPT TO:<b@x>\r\nDATA\r\nMAIL FROM:<a@x>\r\nDATA\r\nMAIL FROM:<c@x>\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 503, 250, 503, 503, 250, 554, 503}));
  EXPECT_NE(r.out.find("503 5.5.1 Error: send HELO/EHLO first"), std::string::npos);
  EXPECT_NE(r.out.find("554 5.5.1 Error: no valid recipients"), std::string::npos);
  EXPECT_NE(r.out.find("nested MAIL"), std::string::npos);
  EXPECT_TRUE(r.handler.txns.at(0).data_attempted);
  EXPECT_EQ(r.handler.txns.at(0).data_start_reply.code, 554);
}

TEST(SmtpServer, RefusedOnlyTransactionIsRecorded) {
  SessionRun r =
      run(std::string(kHello) +
          "MAIL FROM:<a@x>\r\nRCPT TO:<u@foreign.example>\r\nRCPT TO:<v@foreign.example>\r\n"
          "DATA\r\nQUIT\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 550, 550, 554, 221}));
  ASSERT_EQ(r.handler.txns.size(), 1u);
  const auto& t = r.handler.txns[0];
  EXPECT_EQ(t.end_reason, "quit");
  ASSERT_EQ(t.rcpts.size(), 2u);
  EXPECT_EQ(t.rcpts[1].reply.code, 550);
  EXPECT_EQ(t.accepted_rcpts(), 0u);
  EXPECT_TRUE(r.handler.messages.empty());
}

TEST(SmtpServer, RefusedMailThenNewMail) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<bad@sender.example>\r\nRCPT TO:<b@x>\r\n"
                     "MAIL FROM:<ok@x>\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 550, 503, 250}));
  ASSERT_EQ(r.handler.txns.size(), 2u);
  EXPECT_EQ(r.handler.txns[0].end_reason, "mail");
  EXPECT_EQ(r.handler.txns[0].commands.size(), 2u);  // MAIL and the refused RCPT
  EXPECT_EQ(r.handler.txns[1].end_reason, "peer-closed");
}

TEST(SmtpServer, UnknownCommandsAndErrorBudget) {
  SmtpServerConfig cfg;
  cfg.max_errors = 3;
  SessionRun r = run("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\nNOOP\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 500, 500, 500, 421}));
  EXPECT_NE(r.out.find("421 4.7.0 localhost Error: too many errors"), std::string::npos);
  EXPECT_TRUE(r.closing);
}

TEST(SmtpServer, ErrorBudgetExactlyAtLimitStillServes) {
  SmtpServerConfig cfg;
  cfg.max_errors = 3;
  SessionRun r = run("FOO\r\nBAR\r\nNOOP\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 500, 500, 250}));
}

TEST(SmtpServer, LineLimitExactAndOneOver) {
  // 1000 octets including CRLF is the limit (RFC 5321 4.5.3.1.6).
  const std::string ok = "NOOP " + std::string(1000 - 5 - 2, 'x') + "\r\n";
  const std::string over = "NOOP " + std::string(1000 - 5 - 1, 'x') + "\r\n";
  ASSERT_EQ(ok.size(), 1000u);
  ASSERT_EQ(over.size(), 1001u);
  SessionRun r = run(ok + over + "NOOP\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 500, 250}));
  EXPECT_NE(r.out.find("500 5.5.2 Error: line too long"), std::string::npos);
}

TEST(SmtpServer, NulInCommand) {
  SessionRun r = run(std::string("NO\0OP\r\n", 7));
  EXPECT_EQ(codes(r.out), (V{220, 500}));
}

TEST(SmtpServer, RecipientLimitExactAndOneOver) {
  SmtpServerConfig cfg;
  cfg.max_rcpts = 2;
  SessionRun r = run(std::string(kHello) +
                         "MAIL FROM:<a@x>\r\nRCPT TO:<1@x>\r\nRCPT TO:<2@x>\r\n"
                         "RCPT TO:<3@x>\r\n",
                     cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250, 452}));
  EXPECT_NE(r.out.find("452 4.5.3"), std::string::npos);
  EXPECT_EQ(r.handler.rcpts.size(), 2u);  // the third never reached the policy
}

TEST(SmtpServer, SizeParameter) {
  SmtpServerConfig cfg;
  cfg.max_message = 100;
  SessionRun r =
      run(std::string(kHello) +
              "MAIL FROM:<a@x> SIZE=100\r\nRSET\r\nMAIL FROM:<a@x> SIZE=101\r\n"
              "MAIL FROM:<a@x> SIZE=abc\r\nMAIL FROM:<a@x> SIZE=99999999999999999999\r\n",
          cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 552, 501, 501}));
  EXPECT_NE(r.out.find("552 5.3.4"), std::string::npos);
}

TEST(SmtpServer, MessageSizeExactAndOneOver) {
  SmtpServerConfig cfg;
  cfg.max_message = 10;
  const std::string head = std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n";
  SessionRun ok = run(head + "12345678\r\n.\r\nNOOP\r\n", cfg);
  EXPECT_EQ(codes(ok.out), (V{220, 250, 250, 250, 354, 250, 250}));
  SessionRun over = run(head + "123456789\r\n.\r\nNOOP\r\n", cfg);
  EXPECT_EQ(codes(over.out), (V{220, 250, 250, 250, 354, 552, 250}));
  EXPECT_TRUE(over.handler.messages.empty());
  ASSERT_EQ(over.handler.txns.size(), 1u);
  EXPECT_TRUE(over.handler.txns[0].too_large);
  EXPECT_FALSE(over.handler.txns[0].accepted());
}

TEST(SmtpServer, HugeLineInDataIsDiscardedAndTerminatorStillFound) {
  SmtpServerConfig cfg;
  cfg.max_message = 100;
  for (std::string_view term : {"\r\n.\r\n", "\r\n..\r\n.\r\n", "\n\r\n.\r\n"}) {
    SessionRun r = run(std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n" +
                           std::string(5000, 'y') + std::string(term) + "NOOP\r\n",
                       cfg);
    EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 552, 250})) << term;
  }
}

TEST(SmtpServer, MailParameters) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<a@x> BODY=8BITMIME RET=HDRS ENVID=QQ+2B1 SMTPUTF8\r\n"
                     "RCPT TO:<b@x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@x\r\n"
                     "RCPT TO:<c@x> NOTIFY=NEVER,DELAY\r\n"
                     "RCPT TO:<d@x> FOO=1\r\n"
                     "RSET\r\nMAIL FROM:<a@x> FOO=bar\r\nMAIL FROM:<a@x> BODY=BINARYMIME\r\n"
                     "MAIL FROM:<a@x> RET=ALL\r\nMAIL FROM:<a@x> SIZE=1 SIZE=2\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 501, 555, 250, 555, 501, 501, 501}));
  const auto& t = r.handler.txns.at(0);
  EXPECT_EQ(t.mail_params, "BODY=8BITMIME RET=HDRS ENVID=QQ+2B1 SMTPUTF8");
  EXPECT_EQ(t.body_type, "8BITMIME");
  EXPECT_TRUE(t.smtputf8);
  EXPECT_EQ(t.rcpts.at(0).params, "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@x");
}

TEST(SmtpServer, Smtputf8RequiredForEightBitAddresses) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<j\xc3\xb6rg@x>\r\nMAIL FROM:<j\xc3\xb6rg@x> SMTPUTF8\r\n"
                     "RCPT TO:<m\xc3\xbcller@firma.example>\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 553, 250, 250}));
}

TEST(SmtpServer, VrfyHelpExpnNoopRset) {
  SessionRun r =
      run(std::string(kHello) + "VRFY hans\r\nVRFY\r\nHELP\r\nEXPN list\r\nNOOP\r\nRSET\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 252, 501, 214, 502, 250, 250}));
}

TEST(SmtpServer, HeloInTransactionResetsIt) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nHELO again\r\nRCPT TO:<c@x>\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250, 503}));
  EXPECT_EQ(r.handler.txns.at(0).end_reason, "helo");
}

TEST(SmtpServer, DotStuffingRemoved) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"
                     "..leading dot\r\n.\r\n");
  EXPECT_EQ(r.handler.messages.at(0), ".leading dot\r\n");
}

TEST(SmtpServer, EmptyMessage) {
  SessionRun r = run(std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n.\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 250}));
  EXPECT_EQ(r.handler.messages.at(0), "");
}

TEST(SmtpServer, BareLfAcceptedAndRecorded) {
  SessionRun r = run("EHLO x\nMAIL FROM:<a@x>\nRCPT TO:<b@x>\nDATA\nline one\nline two\r\n.\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 250}));
  EXPECT_EQ(r.handler.messages.at(0), "line one\nline two\r\n");
  const auto& t = r.handler.txns.at(0);
  EXPECT_TRUE(t.bare_lf_in_data);
  EXPECT_TRUE(t.bare_lf_in_commands);
}

TEST(SmtpServer, BareLfRejectedWhenConfigured) {
  SmtpServerConfig cfg;
  cfg.reject_bare_lf = true;
  SessionRun r =
      run(std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nbare\n.\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 521}));
  EXPECT_TRUE(r.closing);
  EXPECT_TRUE(r.handler.messages.empty());
  ASSERT_EQ(r.handler.txns.size(), 1u);
  EXPECT_EQ(r.handler.txns[0].end_reason, "bare-lf");
  EXPECT_TRUE(r.handler.txns[0].bare_lf_in_data);
}

TEST(SmtpServer, DataStartFault) {
  SessionRun whole;
  whole.handler.data_start = smtp_reply(451, "4.3.0 injected");
  drive(whole, {}, std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nRSET\r\n", 0);
  EXPECT_EQ(codes(whole.out), (V{220, 250, 250, 250, 451, 250}));
  EXPECT_EQ(whole.handler.txns.at(0).data_start_reply.code, 451);
}

TEST(SmtpServer, Handler421ClosesSession) {
  SessionRun c;
  c.handler.data_replies = {smtp_reply(421, "4.3.2 going down")};
  drive(c, {},
        std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n", 0);
  EXPECT_EQ(codes(c.out), (V{220, 250, 250, 250, 354, 421}));
  EXPECT_TRUE(c.closing);
}

TEST(SmtpServer, TimeoutEndsTransactionWith421) {
  SessionRun t;
  {
    SmtpServerSession s2({}, t.handler);
    t.out = s2.greeting();
    s2.receive(std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\npartial", t.out);
    EXPECT_EQ(s2.state(), SmtpState::data);
    EXPECT_EQ(s2.data_octets(), 7u);
    const std::string bye = s2.finish("timeout");
    EXPECT_TRUE(bye.starts_with("421 4.4.2")) << bye;
    EXPECT_EQ(s2.finish("timeout"), "");  // once
  }
  ASSERT_EQ(t.handler.txns.size(), 1u);
  EXPECT_EQ(t.handler.txns[0].end_reason, "timeout");
  EXPECT_FALSE(t.handler.txns[0].data_complete);
  EXPECT_EQ(t.handler.end_reason, "timeout");
}

TEST(SmtpServer, ConnectRefusal554WaitsForQuit) {
  class Refuse : public smtp_testing::RecordingHandler {
    SmtpReply on_connect() override { return smtp_reply(554, "5.3.2 no service"); }
  } h;
  SmtpServerSession s({}, h);
  std::string out = s.greeting();
  s.receive("EHLO x\r\nMAIL FROM:<a@x>\r\nQUIT\r\n", out);
  EXPECT_EQ(codes(out), (V{554, 503, 503, 221}));
  EXPECT_TRUE(s.closing());
}

TEST(SmtpServer, ConnectRefusal421Closes) {
  class Refuse : public smtp_testing::RecordingHandler {
    SmtpReply on_connect() override { return smtp_reply(421, "4.3.2 busy"); }
  } h;
  SmtpServerSession s({}, h);
  EXPECT_EQ(s.greeting(), "421 4.3.2 busy\r\n");
  EXPECT_TRUE(s.closing());
}

TEST(SmtpServer, StartTlsDiscardsPipelinedCommands) {
  SmtpServerConfig cfg;
  cfg.starttls_available = true;
  smtp_testing::RecordingHandler h;
  SmtpServerSession s(cfg, h);
  std::string out = s.greeting();
  s.receive("STARTTLS\r\n", out);
  EXPECT_EQ(codes(out), (V{220, 503}));  // before EHLO
  out.clear();
  s.receive("EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n", out);
  EXPECT_EQ(codes(out), (V{250, 220}));
  EXPECT_EQ(s.state(), SmtpState::tls_pending);
  EXPECT_EQ(s.stats().discarded_after_starttls, std::string("MAIL FROM:<evil@x>\r\n").size());
  EXPECT_TRUE(s.take_tls_request());
  EXPECT_FALSE(s.take_tls_request());
  s.on_tls_started();
  out.clear();
  s.receive("MAIL FROM:<a@x>\r\nEHLO x\r\nSTARTTLS\r\n", out);
  EXPECT_EQ(codes(out), (V{503, 250, 554}));  // EHLO again required; TLS already active
  EXPECT_EQ(out.find("STARTTLS\r\n"), std::string::npos);  // not offered under TLS
  EXPECT_TRUE(h.mails.empty());
}

TEST(SmtpServer, StartTlsNotOffered) {
  SessionRun r = run(std::string(kHello) + "STARTTLS\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 502}));
}

TEST(SmtpServer, AuthIsRefusedAndRedacted) {
  SessionRun r = run(std::string(kHello) + "MAIL FROM:<a@x>\r\nAUTH PLAIN c2VjcmV0\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 502}));
  const auto& cmds = r.handler.txns.at(0).commands;
  EXPECT_EQ(cmds.at(1).line, "AUTH PLAIN <redacted>");
}

TEST(SmtpServer, EnhancedCodesCanBeStripped) {
  SmtpServerConfig cfg;
  cfg.enhanced_status_codes = false;
  SessionRun r = run(std::string(kHello) + "NOOP\r\n", cfg);
  EXPECT_NE(r.out.find("250 Ok\r\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ENHANCEDSTATUSCODES"), std::string::npos);
}

TEST(SmtpServer, Lmtp) {
  SmtpServerConfig cfg;
  cfg.lmtp = true;
  SessionRun r =
      run("EHLO x\r\nLHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<u@foreign.example>\r\n"
          "RCPT TO:<c@x>\r\nDATA\r\nhi\r\n.\r\n",
          cfg);
  // One reply per accepted recipient (2), the handler's single reply padded.
  EXPECT_EQ(codes(r.out), (V{220, 500, 250, 250, 250, 550, 250, 354, 250, 250}));
  EXPECT_EQ(r.handler.txns.at(0).data_replies.size(), 2u);
}

TEST(SmtpServer, LmtpPerRecipientReplies) {
  SmtpServerConfig cfg;
  cfg.lmtp = true;
  SessionRun r;
  r.handler.data_replies = {smtp_reply(250, "2.0.0 ok"), smtp_reply(452, "4.2.2 full")};
  drive(r, cfg,
        "LHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\nhi\r\n.\r\n", 1);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250, 354, 250, 452}));
  EXPECT_TRUE(r.handler.txns.at(0).accepted());
}

TEST(SmtpServer, Lmtp421MidListEndsRepliesAndSession) {
  // The handler's replies reach the client in order up to the first 421, which closes the
  // session; the journaled transaction keeps all of them and ended as "data".
  SmtpServerConfig cfg;
  cfg.lmtp = true;
  SessionRun r;
  r.handler.data_replies = {smtp_reply(250, "2.0.0 ok"), smtp_reply(421, "4.3.2 going down"),
                            smtp_reply(250, "2.0.0 ok")};
  drive(r, cfg,
        "LHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nRCPT TO:<d@x>\r\n"
        "DATA\r\nhi\r\n.\r\nNOOP\r\n",
        0);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250, 250, 354, 250, 421}));
  EXPECT_TRUE(r.closing);
  ASSERT_EQ(r.handler.txns.size(), 1u);
  EXPECT_EQ(r.handler.txns[0].data_replies.size(), 3u);
  EXPECT_EQ(r.handler.txns[0].end_reason, "data");
}

TEST(SmtpServer, Lmtp421WithoutEnhancedCodes) {
  SmtpServerConfig cfg;
  cfg.lmtp = true;
  cfg.enhanced_status_codes = false;
  SessionRun r;
  r.handler.data_replies = {smtp_reply(250, "2.0.0 ok"), smtp_reply(421, "4.3.2 going down")};
  drive(r, cfg,
        "LHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\nhi\r\n.\r\n", 0);
  EXPECT_NE(r.out.find("\r\n250 ok\r\n421 going down\r\n"), std::string::npos) << r.out;
  EXPECT_TRUE(r.closing);
}

TEST(SmtpServer, LmtpNoRecipients503) {
  SmtpServerConfig cfg;
  cfg.lmtp = true;
  SessionRun r = run("LHLO x\r\nMAIL FROM:<a@x>\r\nDATA\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 503}));
}

TEST(SmtpServer, Bdat) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n"
                     "BDAT 7\r\nHello\r\nBDAT 8 LAST\r\n.World\r\nNOOP\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250, 250, 250}));
  EXPECT_EQ(r.handler.messages.at(0), "Hello\r\n.World\r\n");  // no dot-unstuffing in BDAT
  EXPECT_TRUE(r.handler.txns.at(0).bdat);
}

TEST(SmtpServer, BdatZeroLast) {
  SessionRun r =
      run(std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250, 250}));
  EXPECT_EQ(r.handler.messages.at(0), "abc");
}

TEST(SmtpServer, BdatWithoutTransactionConsumesChunk) {
  SessionRun r = run(std::string(kHello) + "BDAT 6\r\nQUIT\r\nNOOP\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 503, 250}));
}

TEST(SmtpServer, BdatNoRecipientsThenDataRefused) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<a@x>\r\nBDAT 2 LAST\r\nxy"
                     "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 1\r\nzDATA\r\nBDAT 1 LAST\r\nw");
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 554, 250, 250, 250, 503, 250}));
  EXPECT_EQ(r.handler.messages.at(0), "zw");
}

TEST(SmtpServer, BdatTooLarge) {
  SmtpServerConfig cfg;
  cfg.max_message = 4;
  SessionRun r = run(
      std::string(kHello) + "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde",
      cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 250, 552}));
  EXPECT_TRUE(r.handler.messages.empty());
}

TEST(SmtpServer, BdatBadSyntax) {
  SessionRun r = run(std::string(kHello) + "BDAT x\r\nBDAT 1 FIRST\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 501, 501}));
}

TEST(SmtpServer, ChunkingOffMeansBdatUnknown) {
  SmtpServerConfig cfg;
  cfg.chunking = false;
  SessionRun r = run(std::string(kHello) + "BDAT 1 LAST\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 500}));
  EXPECT_EQ(r.out.find("CHUNKING"), std::string::npos);
}

TEST(SmtpServer, InputAfterQuitIgnored) {
  SessionRun r = run("QUIT\r\nNOOP\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 221}));
}

TEST(SmtpServer, StateNames) {
  EXPECT_EQ(to_string(SmtpState::tls_pending), "tls-pending");
  EXPECT_EQ(to_string(SmtpState::rcpt), "rcpt");
}

}  // namespace
}  // namespace dropcheck::protocol

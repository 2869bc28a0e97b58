#include "protocol/pop3_server.hpp"

#include <gtest/gtest.h>

#include <string>

#include "memory_maildrop.hpp"
#include "protocol/dot.hpp"

namespace dropcheck::protocol {
namespace {

using testing::MemoryMaildrop;

MemoryMaildrop two_messages() {
  MemoryMaildrop m;
  m.messages.push_back({"Subject: one\r\n\r\nbody one\r\n", "uid-1"});
  m.messages.push_back({"Subject: two\r\n\r\n.dotted line\r\nsecond\r\nthird\r\n", "uid-2"});
  return m;
}

// Runs `input` through a fresh server, in one piece or byte by byte.
std::string run(MemoryMaildrop& m, std::string_view input, bool bytewise,
                Pop3ServerOptions opts = {}) {
  Pop3Server s(m, opts);
  std::string out;
  if (bytewise) {
    for (char c : input) s.receive(std::string_view(&c, 1), out);
  } else {
    s.receive(input, out);
  }
  return out;
}

// Feeds the input whole, byte by byte and split at every point; all must give the same replies.
std::string run_all_splits(std::string_view input, Pop3ServerOptions opts = {}) {
  auto m0 = two_messages();
  const std::string whole = run(m0, input, false, opts);
  auto m1 = two_messages();
  EXPECT_EQ(run(m1, input, true, opts), whole);
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    auto m = two_messages();
    Pop3Server s(m, opts);
    std::string out;
    s.receive(input.substr(0, cut), out);
    s.receive(input.substr(cut), out);
    EXPECT_EQ(out, whole) << "split at " << cut;
  }
  return whole;
}

const char kLogin[] = "USER u\r\nPASS p\r\n";

TEST(Pop3Server, GreetingAndStateStartsInAuthorization) {
  MemoryMaildrop m;
  Pop3Server s(m, {});
  EXPECT_EQ(s.greeting(), "+OK dropcheck POP3 server ready\r\n");
  EXPECT_EQ(s.state(), Pop3State::authorization);
}

TEST(Pop3Server, ApopGreetingCarriesTimestamp) {
  MemoryMaildrop m;
  Pop3ServerOptions o;
  o.apop = true;
  o.apop_timestamp = "<1.2@host>";
  Pop3Server s(m, o);
  EXPECT_EQ(s.greeting(), "+OK dropcheck POP3 server ready <1.2@host>\r\n");
}

TEST(Pop3Server, UserPassLogsInAndLocks) {
  auto m = two_messages();
  Pop3Server s(m, {});
  std::string out;
  s.receive(kLogin, out);
  EXPECT_EQ(out,
            "+OK send PASS\r\n+OK maildrop has 2 messages (" +
                std::to_string(pop3_octets(m.messages[0].data) + pop3_octets(m.messages[1].data)) +
                " octets)\r\n");
  EXPECT_EQ(s.state(), Pop3State::transaction);
  EXPECT_TRUE(m.locked);
  ASSERT_EQ(m.auth_calls.size(), 1u);
  EXPECT_EQ(m.auth_calls[0].mechanism, Pop3AuthMechanism::user_pass);
  EXPECT_EQ(s.user(), "u");
}

TEST(Pop3Server, PasswordMayContainSpaces) {
  auto m = two_messages();
  m.password = "with space";
  const auto out = run(m, "USER u\r\nPASS with space\r\n", false);
  EXPECT_NE(out.find("+OK maildrop"), std::string::npos);
}

TEST(Pop3Server, WrongPasswordStaysInAuthorizationWithAuthCode) {
  auto m = two_messages();
  Pop3Server s(m, {});
  std::string out;
  s.receive("USER u\r\nPASS x\r\n", out);
  EXPECT_EQ(out, "+OK send PASS\r\n-ERR [AUTH] authentication failed\r\n");
  EXPECT_EQ(s.state(), Pop3State::authorization);
  EXPECT_FALSE(m.locked);
}

TEST(Pop3Server, AuthCodeOmittedWithoutAuthRespCode) {
  auto m = two_messages();
  Pop3ServerOptions o;
  o.auth_resp_code = false;
  EXPECT_EQ(run(m, "USER u\r\nPASS x\r\n", false, o),
            "+OK send PASS\r\n-ERR authentication failed\r\n");
}

TEST(Pop3Server, ClosesAfterMaxAuthFailures) {
  auto m = two_messages();
  Pop3Server s(m, {});
  std::string out;
  for (std::size_t i = 0; i < kPop3DefaultMaxAuthFailures; ++i) {
    EXPECT_FALSE(s.closing());
    s.receive("USER u\r\nPASS bad\r\n", out);
  }
  EXPECT_TRUE(s.closing());
  EXPECT_EQ(s.stats().auth_failures, kPop3DefaultMaxAuthFailures);
}

TEST(Pop3Server, PassWithoutUserIsAnError) {
  auto m = two_messages();
  EXPECT_EQ(run(m, "PASS p\r\n", false), "-ERR PASS without USER\r\n");
  EXPECT_TRUE(m.auth_calls.empty());
}

TEST(Pop3Server, PassMustDirectlyFollowUser) {
  auto m = two_messages();
  const auto out = run(m, "USER u\r\nCAPA\r\nPASS p\r\n", false);
  EXPECT_NE(out.find("-ERR PASS without USER"), std::string::npos);
}

TEST(Pop3Server, InUseAndLoginDelayResponseCodes) {
  auto m = two_messages();
  m.locked_elsewhere = true;
  Pop3Server s(m, {});
  std::string out;
  s.receive(kLogin, out);
  EXPECT_EQ(out, "+OK send PASS\r\n-ERR [IN-USE] maildrop already locked by another session\r\n");
  EXPECT_TRUE(s.closing());

  auto m2 = two_messages();
  m2.auth_policy = Pop3AuthStatus::login_delay;
  Pop3Server s2(m2, {});
  out.clear();
  s2.receive(kLogin, out);
  EXPECT_NE(out.find("-ERR [LOGIN-DELAY]"), std::string::npos);
  EXPECT_TRUE(s2.closing());
}

TEST(Pop3Server, RespCodesDisabledLeavesThemOut) {
  auto m = two_messages();
  m.locked_elsewhere = true;
  Pop3ServerOptions o;
  o.resp_codes = false;
  EXPECT_EQ(run(m, kLogin, false, o),
            "+OK send PASS\r\n-ERR maildrop already locked by another session\r\n");
}

TEST(Pop3Server, ApopAcceptsRightDigestOnly) {
  Pop3ServerOptions o;
  o.apop = true;
  o.apop_timestamp = "<1896.697170952@dbc.mtview.ca.us>";
  // RFC 1939 7 example.
  EXPECT_EQ(apop_digest(o.apop_timestamp, "tanstaaf"), "c4c9334bac560ecc979e58001b3e22fb");
  auto m = two_messages();
  m.user = "mrose";
  m.password = "tanstaaf";
  const auto out = run(m, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", false, o);
  EXPECT_EQ(out.substr(0, 21), "+OK maildrop has 2 me");
  auto m2 = two_messages();
  m2.user = "mrose";
  EXPECT_EQ(run(m2, "APOP mrose c4c9334bac560ecc979e58001b3e22fc\r\n", false, o),
            "-ERR [AUTH] authentication failed\r\n");
  auto m3 = two_messages();
  EXPECT_EQ(run(m3, "APOP mrose C4C9334BAC560ECC979E58001B3E22FB\r\n", false, o),
            "-ERR syntax: APOP name digest\r\n");
}

TEST(Pop3Server, ApopRefusedWhenNotOffered) {
  auto m = two_messages();
  EXPECT_EQ(run(m, "APOP u c4c9334bac560ecc979e58001b3e22fb\r\n", false),
            "-ERR APOP not supported\r\n");
}

TEST(Pop3Server, SaslPlainInitialResponseAndContinuation) {
  // base64("\0u\0p") = "AHUAcA=="
  auto m = two_messages();
  auto out = run(m, "AUTH PLAIN AHUAcA==\r\n", false);
  EXPECT_EQ(out.substr(0, 16), "+OK maildrop has");
  ASSERT_EQ(m.auth_calls.size(), 1u);
  EXPECT_EQ(m.auth_calls[0].mechanism, Pop3AuthMechanism::sasl_plain);
  auto m2 = two_messages();
  out = run(m2, "AUTH PLAIN\r\nAHUAcA==\r\n", true);
  EXPECT_EQ(out.substr(0, 20), "+ \r\n+OK maildrop has");
  auto m3 = two_messages();
  EXPECT_EQ(run(m3, "AUTH PLAIN\r\n*\r\n", false), "+ \r\n-ERR authentication cancelled\r\n");
  auto m4 = two_messages();
  EXPECT_EQ(run(m4, "AUTH PLAIN !!!!\r\n", false), "-ERR malformed SASL PLAIN response\r\n");
  auto m5 = two_messages();
  EXPECT_EQ(run(m5, "AUTH CRAM-MD5\r\n", false), "-ERR unsupported SASL mechanism\r\n");
  auto m6 = two_messages();
  EXPECT_EQ(run(m6, "AUTH\r\n", false), "+OK\r\nPLAIN\r\n.\r\n");
}

TEST(Pop3Server, CapaInAuthorizationAndTransaction) {
  auto m = two_messages();
  Pop3ServerOptions o;
  o.stls = true;
  o.expire = "NEVER";
  o.login_delay_s = 900;
  Pop3Server s(m, o);
  std::string out;
  s.receive("CAPA\r\n", out);
  EXPECT_EQ(out,
            "+OK capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\nSTLS\r\n"
            "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nLOGIN-DELAY 900\r\n"
            "IMPLEMENTATION dropcheck\r\n.\r\n");
  out.clear();
  s.receive(kLogin, out);
  out.clear();
  s.receive("CAPA\r\n", out);
  EXPECT_EQ(out.find("USER\r\n"), std::string::npos);
  EXPECT_EQ(out.find("STLS"), std::string::npos);
  EXPECT_NE(out.find("PIPELINING"), std::string::npos);
}

TEST(Pop3Server, StlsRequestsHandshakeAndDiscardsPipelinedInput) {
  auto m = two_messages();
  Pop3ServerOptions o;
  o.stls = true;
  Pop3Server s(m, o);
  std::string out;
  s.receive("STLS\r\nUSER u\r\n", out);
  EXPECT_EQ(out, "+OK begin TLS negotiation\r\n");
  EXPECT_TRUE(s.take_tls_request());
  EXPECT_FALSE(s.take_tls_request());
  s.on_tls_started();
  EXPECT_TRUE(s.tls());
  out.clear();
  s.receive("STLS\r\n", out);
  EXPECT_EQ(out, "-ERR STLS not available\r\n");
  out.clear();
  s.receive(kLogin, out);
  ASSERT_EQ(m.auth_calls.size(), 1u);
  EXPECT_TRUE(m.auth_calls[0].tls);
  EXPECT_FALSE(m.auth_calls[0].stls_offered);
}

TEST(Pop3Server, CleartextLoginWhileStlsOfferedIsReported) {
  auto m = two_messages();
  Pop3ServerOptions o;
  o.stls = true;
  (void)run(m, kLogin, false, o);
  ASSERT_EQ(m.auth_calls.size(), 1u);
  EXPECT_FALSE(m.auth_calls[0].tls);
  EXPECT_TRUE(m.auth_calls[0].stls_offered);
}

TEST(Pop3Server, PlaintextRefusedWithoutTlsWhenConfigured) {
  auto m = two_messages();
  Pop3ServerOptions o;
  o.stls = true;
  o.plaintext_without_tls = false;
  EXPECT_EQ(run(m, "USER u\r\n", false, o),
            "-ERR [AUTH] plaintext authentication disallowed without TLS, use STLS\r\n");
}

TEST(Pop3Server, StatListUidl) {
  const std::string o1 = std::to_string(pop3_octets("Subject: one\r\n\r\nbody one\r\n"));
  const std::string o2 =
      std::to_string(pop3_octets("Subject: two\r\n\r\n.dotted line\r\nsecond\r\nthird\r\n"));
  const auto out =
      run_all_splits(std::string(kLogin) + "STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 1\r\n");
  const std::string tail = out.substr(out.find(")\r\n") + 3);
  EXPECT_EQ(tail, "+OK 2 " + std::to_string(std::stoul(o1) + std::stoul(o2)) + "\r\n" +
                      "+OK 2 messages (" + std::to_string(std::stoul(o1) + std::stoul(o2)) +
                      " octets)\r\n1 " + o1 + "\r\n2 " + o2 + "\r\n.\r\n" + "+OK 2 " + o2 + "\r\n" +
                      "+OK unique-id listing follows\r\n1 uid-1\r\n2 uid-2\r\n.\r\n" +
                      "+OK 1 uid-1\r\n");
}

TEST(Pop3Server, RetrIsByteStuffedWithOctetCount) {
  const auto out = run_all_splits(std::string(kLogin) + "RETR 2\r\n");
  const std::string msg = "Subject: two\r\n\r\n.dotted line\r\nsecond\r\nthird\r\n";
  EXPECT_NE(out.find("+OK " + std::to_string(msg.size()) +
                     " octets\r\nSubject: two\r\n\r\n..dotted line\r\nsecond\r\nthird\r\n.\r\n"),
            std::string::npos);
}

TEST(Pop3Server, RetrOfBareLfMessageSendsCrlfAndCountsIt) {
  MemoryMaildrop m;
  m.messages.push_back({"A: b\n\nx\n.y", "u1"});
  const auto out = run(m, std::string(kLogin) + "LIST 1\r\nRETR 1\r\n", false);
  // 4+2 + 2 + 1+2 + 2+2 = "A: b\r\n\r\nx\r\n.y\r\n" = 15 octets
  EXPECT_NE(out.find("+OK 1 15\r\n"), std::string::npos);
  EXPECT_NE(out.find("+OK 15 octets\r\nA: b\r\n\r\nx\r\n..y\r\n.\r\n"), std::string::npos);
}

TEST(Pop3Server, TopSendsHeaderBlankLineAndNLines) {
  const auto out = run_all_splits(std::string(kLogin) + "TOP 2 1\r\nTOP 2 0\r\nTOP 1 99\r\n");
  EXPECT_NE(out.find("+OK top of message follows\r\nSubject: two\r\n\r\n..dotted line\r\n.\r\n"
                     "+OK top of message follows\r\nSubject: two\r\n\r\n.\r\n"
                     "+OK top of message follows\r\nSubject: one\r\n\r\nbody one\r\n.\r\n"),
            std::string::npos);
}

TEST(Pop3Server, DeleHidesMessageAndQuitCommits) {
  auto m = two_messages();
  Pop3Server s(m, {});
  std::string out;
  s.receive(std::string(kLogin) + "DELE 1\r\n", out);
  out.clear();
  s.receive("RETR 1\r\nDELE 1\r\nLIST 1\r\nSTAT\r\nLIST\r\nUIDL\r\n", out);
  const std::string o2 = std::to_string(pop3_octets(m.messages[1].data));
  EXPECT_EQ(out,
            "-ERR message 1 already deleted\r\n-ERR message 1 already deleted\r\n"
            "-ERR message 1 already deleted\r\n+OK 1 " +
                o2 + "\r\n+OK 1 messages (" + o2 + " octets)\r\n2 " + o2 +
                "\r\n.\r\n+OK unique-id listing follows\r\n2 uid-2\r\n.\r\n");
  EXPECT_FALSE(m.commit_called);
  out.clear();
  s.receive("QUIT\r\n", out);
  EXPECT_EQ(out, "+OK dropcheck POP3 server signing off (1 messages left)\r\n");
  EXPECT_TRUE(m.commit_called);
  EXPECT_EQ(m.committed, std::vector<std::size_t>{0});
  EXPECT_EQ(m.releases, 1);
  EXPECT_TRUE(s.closing());
  EXPECT_EQ(s.stats().committed_deletions, 1u);
}

TEST(Pop3Server, RsetUnmarksDeletions) {
  auto m = two_messages();
  const auto out =
      run(m, std::string(kLogin) + "DELE 1\r\nDELE 2\r\nRSET\r\nSTAT\r\nQUIT\r\n", false);
  EXPECT_NE(out.find("+OK 2 "), std::string::npos);
  EXPECT_TRUE(m.committed.empty());
}

TEST(Pop3Server, NoUpdateWithoutQuit) {
  auto m = two_messages();
  {
    Pop3Server s(m, {});
    std::string out;
    s.receive(std::string(kLogin) + "DELE 1\r\n", out);
    s.finish();
    EXPECT_TRUE(s.closing());
  }
  EXPECT_FALSE(m.commit_called);
  EXPECT_EQ(m.releases, 1);
}

TEST(Pop3Server, ReleaseOnceEvenWhenDestroyedWithoutFinish) {
  auto m = two_messages();
  {
    Pop3Server s(m, {});
    std::string out;
    s.receive(kLogin, out);
  }
  EXPECT_EQ(m.releases, 1);
}

TEST(Pop3Server, CommitFailureGivesSysTemp) {
  auto m = two_messages();
  m.commit_fails = true;
  const auto out = run(m, std::string(kLogin) + "DELE 1\r\nQUIT\r\n", false);
  EXPECT_NE(out.find("-ERR [SYS/TEMP] some deleted messages not removed\r\n"), std::string::npos);
}

TEST(Pop3Server, QuitInAuthorizationDoesNotCommit) {
  auto m = two_messages();
  EXPECT_EQ(run(m, "QUIT\r\nNOOP\r\n", false), "+OK bye\r\n");
  EXPECT_FALSE(m.commit_called);
  EXPECT_EQ(m.releases, 0);
}

TEST(Pop3Server, CommandsOutsideTheirState) {
  auto m = two_messages();
  EXPECT_EQ(run(m, "STAT\r\nRETR 1\r\nNOOP\r\n", false),
            "-ERR command not valid in this state\r\n-ERR command not valid in this state\r\n"
            "-ERR command not valid in this state\r\n");
  auto m2 = two_messages();
  const auto out = run(m2, std::string(kLogin) + "USER u\r\nSTLS\r\n", false);
  EXPECT_NE(out.find("-ERR command not valid in this state\r\n-ERR command not valid"),
            std::string::npos);
}

TEST(Pop3Server, VerbsAreCaseInsensitive) {
  auto m = two_messages();
  const auto out = run(m, "user u\r\npAsS p\r\nstat\r\n", false);
  EXPECT_NE(out.find("+OK 2 "), std::string::npos);
}

TEST(Pop3Server, StrictMessageNumbers) {
  auto m = two_messages();
  const auto out = run(m,
                       std::string(kLogin) +
                           "RETR 0\r\nRETR 3\r\nRETR +1\r\nRETR 1x\r\nRETR\r\nRETR 1 2\r\n"
                           "LIST 99999999999999999999999999\r\n",
                       false);
  EXPECT_NE(out.find("-ERR no such message\r\n-ERR no such message\r\n"
                     "-ERR syntax: message number expected\r\n"
                     "-ERR syntax: message number expected\r\n-ERR syntax: RETR msg\r\n"
                     "-ERR syntax: RETR msg\r\n-ERR syntax: message number expected\r\n"),
            std::string::npos);
}

TEST(Pop3Server, LineOf255OctetsAcceptedAnd256Refused) {
  // "NOOP " + filler + CRLF: NOOP takes no argument, so the 255-octet line gets the syntax
  // error, not "line too long".
  const std::string ok_line = "NOOP " + std::string(kPop3MaxCommandOctets - 7, 'x') + "\r\n";
  ASSERT_EQ(ok_line.size(), kPop3MaxCommandOctets);
  const std::string long_line = "NOOP " + std::string(kPop3MaxCommandOctets - 6, 'x') + "\r\n";
  const auto out = run_all_splits(std::string(kLogin) + ok_line + long_line + "NOOP\r\n");
  EXPECT_NE(out.find("-ERR syntax: NOOP\r\n-ERR line too long\r\n+OK\r\n"), std::string::npos);
  const std::string bare = "NOOP " + std::string(kPop3MaxCommandOctets - 7, 'x') + "\n";
  auto m = two_messages();
  EXPECT_EQ(run(m, bare, false), "-ERR command not valid in this state\r\n");
}

TEST(Pop3Server, VeryLongLineIsDiscardedNotBuffered) {
  auto m = two_messages();
  Pop3Server s(m, {});
  std::string out;
  const std::string junk(100'000, 'a');
  s.receive(junk, out);
  s.receive(junk, out);
  s.receive("\r\nQUIT\r\n", out);
  EXPECT_EQ(out, "-ERR line too long\r\n+OK bye\r\n");
}

TEST(Pop3Server, ErrorBudgetClosesAfterMaxErrors) {
  auto m = two_messages();
  Pop3Server s(m, {});
  std::string out;
  for (std::size_t i = 0; i + 1 < kPop3DefaultMaxErrors; ++i) s.receive("BOGUS\r\n", out);
  EXPECT_FALSE(s.closing());
  out.clear();
  s.receive("BOGUS\r\nNOOP\r\n", out);
  EXPECT_EQ(out, "-ERR [SYS/PERM] too many errors, closing\r\n");
  EXPECT_TRUE(s.closing());
  EXPECT_TRUE(s.stats().too_many_errors);
}

TEST(Pop3Server, PipelinedCommandsAnsweredInOrder) {
  const auto out = run_all_splits(std::string(kLogin) + "NOOP\r\nUIDL 2\r\nNOOP\r\nQUIT\r\n");
  EXPECT_NE(out.find("+OK\r\n+OK 2 uid-2\r\n+OK\r\n+OK dropcheck POP3 server signing off"),
            std::string::npos);
}

TEST(Pop3Server, RetrErrorFromMaildropIsNotCounted) {
  auto m = two_messages();
  m.err_on_retr = 0;
  Pop3Server s(m, {});
  std::string out;
  s.receive(std::string(kLogin) + "RETR 1\r\n", out);
  EXPECT_NE(out.find("-ERR [SYS/TEMP] cannot read\r\n"), std::string::npos);
  EXPECT_EQ(s.stats().errors, 0u);
  EXPECT_FALSE(s.closing());
}

TEST(Pop3Server, DropInsideRetrTruncatesAndCloses) {
  auto m = two_messages();
  m.drop_in_retr = 1;
  m.drop_after = 10;
  Pop3Server s(m, {});
  std::string out;
  s.receive(std::string(kLogin) + "RETR 2\r\nNOOP\r\n", out);
  const std::string tail = out.substr(out.find("octets\r\n") + 8);
  EXPECT_EQ(tail, "Subject: t");
  EXPECT_TRUE(s.closing());
  EXPECT_EQ(m.releases, 1);
  EXPECT_FALSE(m.commit_called);
}

TEST(Pop3Server, InputAfterQuitIsIgnored) {
  auto m = two_messages();
  EXPECT_EQ(run(m, std::string(kLogin) + "QUIT\r\nSTAT\r\n", false).find("+OK 2 "),
            std::string::npos);
}

TEST(Pop3Helpers, Pop3Octets) {
  EXPECT_EQ(pop3_octets(""), 0u);
  EXPECT_EQ(pop3_octets("a\r\n"), 3u);
  EXPECT_EQ(pop3_octets("a\n"), 3u);
  EXPECT_EQ(pop3_octets("a"), 3u);
  EXPECT_EQ(pop3_octets("a\r"), 3u);
  EXPECT_EQ(pop3_octets("\n\n"), 4u);
  for (std::string_view msg : {"x\ny\r\nz", "..\n.\r\n", "a\r\n\r\n"}) {
    std::string wire;
    dot_stuff(msg, wire);
    DotDecoder d;
    d.feed(wire);
    EXPECT_EQ(d.body().size(), pop3_octets(msg)) << msg;
  }
}

TEST(Pop3Helpers, TopWithoutBlankLine) {
  EXPECT_EQ(pop3_top("A: b\r\nC: d\r\n", 5), "A: b\r\nC: d\r\n");
  EXPECT_EQ(pop3_top("A: b\n\nl1\nl2\n", 1), "A: b\n\nl1\n");
}

}  // namespace
}  // namespace dropcheck::protocol

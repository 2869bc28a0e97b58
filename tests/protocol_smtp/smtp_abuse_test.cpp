// SmtpServerSession against hostile input (issue 16): SMTP smuggling terminators, the bounded
// partial DATA line, malformed UTF-8 addresses, control characters in EHLO, AUTH redaction and
// streaming. Each input is fed whole and split (the outputs must be identical).
#include <gtest/gtest.h>

#include "protocol/dot.hpp"
#include "protocol/smtp_server.hpp"
#include "smtp_test_util.hpp"

namespace dropcheck::protocol {
namespace {

using smtp_testing::codes;
using smtp_testing::drive;
using smtp_testing::SessionRun;
using V = std::vector<int>;

constexpr std::string_view kHello = "EHLO client.example\r\n";
constexpr std::string_view kTxn = "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n";

SessionRun run(std::string_view input, const SmtpServerConfig& cfg = {}, bool stream = false) {
  SessionRun whole;
  whole.handler.stream = stream;
  drive(whole, cfg, input, 0);
  for (std::size_t chunk : {1u, 3u}) {
    SessionRun split;
    split.handler.stream = stream;
    drive(split, cfg, input, chunk);
    EXPECT_EQ(split.out, whole.out) << "chunk " << chunk;
    EXPECT_EQ(split.handler.messages, whole.handler.messages) << "chunk " << chunk;
    EXPECT_EQ(split.handler.streamed, whole.handler.streamed) << "chunk " << chunk;
  }
  return whole;
}

// "<LF>.<LF>", "<CRLF>.<LF>", "<LF>.<CRLF>" followed by a forged second transaction.
std::string smuggle(std::string_view term) {
  return std::string(kHello) + std::string(kTxn) + "first" + std::string(term) +
         "MAIL FROM:<forged@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n";
}

TEST(SmtpAbuse, SmugglingTerminatorsAreMessageContent) {
  for (std::string_view term : {"\n.\n", "\r\n.\n", "\n.\r\n"}) {
    SessionRun r = run(smuggle(term));
    EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 250, 221})) << term;
    ASSERT_EQ(r.handler.messages.size(), 1u) << term;
    EXPECT_NE(r.handler.messages[0].find("MAIL FROM:<forged@x>"), std::string::npos);
    EXPECT_EQ(r.handler.mails.size(), 1u) << "a second MAIL was acted on";
    ASSERT_EQ(r.handler.txns.size(), 1u);
    EXPECT_TRUE(r.handler.txns[0].bare_lf_in_data) << term;
  }
}

TEST(SmtpAbuse, SmugglingRefusedWithRejectBareLf) {
  SmtpServerConfig cfg;
  cfg.reject_bare_lf = true;
  for (std::string_view term : {"\n.\n", "\r\n.\n", "\n.\r\n"}) {
    SessionRun r = run(smuggle(term), cfg);
    EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 521})) << term;
    EXPECT_TRUE(r.closing);
    EXPECT_TRUE(r.handler.messages.empty());
    EXPECT_EQ(r.handler.mails.size(), 1u);
  }
}

TEST(SmtpAbuse, BareLfCommandRefusedWithRejectBareLf) {
  SmtpServerConfig cfg;
  cfg.reject_bare_lf = true;
  SessionRun r = run("EHLO x\nNOOP\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 521}));
  EXPECT_TRUE(r.closing);
}

TEST(SmtpAbuse, DotDecoderHoldsAtMostTheBoundOfAPartialLine) {
  for (const std::string lead : {"", "."}) {
    const std::string line = lead + std::string(kDotMaxPendingLine, 'x');  // bound + 0 or 1
    DotDecoder whole(DotDecoder::Terminator::crlf_only);
    whole.feed(line);
    EXPECT_LE(whole.pending(), kDotMaxPendingLine);
    whole.feed("y\r\n.\r\n");
    ASSERT_TRUE(whole.done());
    EXPECT_EQ(whole.body(), std::string(kDotMaxPendingLine, 'x') + "y\r\n");
    DotDecoder bytes(DotDecoder::Terminator::crlf_only);
    const std::string wire = line + "y\r\n.\r\n";
    for (char c : wire) {
      bytes.feed(std::string_view(&c, 1));
      EXPECT_LE(bytes.pending(), kDotMaxPendingLine);
    }
    EXPECT_EQ(bytes.body(), whole.body());
  }
}

TEST(SmtpAbuse, LongLineEndingInBareLfIsRecorded) {
  DotDecoder d(DotDecoder::Terminator::crlf_only);
  d.feed(std::string(kDotMaxPendingLine + 10, 'x'));
  d.feed("\n.\r\n");  // a bare LF ends the long line: the "." after it is content
  EXPECT_TRUE(d.saw_bare_lf());
  EXPECT_FALSE(d.done());
  d.feed("\r\n.\r\n");
  EXPECT_TRUE(d.done());
}

TEST(SmtpAbuse, EndlessDataLineKeepsSessionMemoryBounded) {
  SmtpServerConfig cfg;
  cfg.max_message = 1000;
  SessionRun r = run(
      std::string(kHello) + std::string(kTxn) + std::string(20000, 'z') + "\r\n.\r\nNOOP\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 552, 250}));
  EXPECT_TRUE(r.handler.txns.at(0).too_large);
}

TEST(SmtpAbuse, Smtputf8AddressesMustBeUtf8) {
  SessionRun r = run(std::string(kHello) +
                     "MAIL FROM:<j\xc3@x> SMTPUTF8\r\n"          // truncated sequence
                     "MAIL FROM:<j\xc0\xaf@x> SMTPUTF8\r\n"      // overlong
                     "MAIL FROM:<j\xc3\xb6rg@x> SMTPUTF8\r\n"    // valid
                     "RCPT TO:<\xed\xa0\x80@firma.example>\r\n"  // a surrogate
                     "RCPT TO:<\xff@firma.example>\r\n"
                     "RCPT TO:<m\xc3\xbcller@firma.example>\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 250, 553, 553, 250, 553, 553, 250}));
  EXPECT_EQ(r.handler.rcpts.size(), 1u);
}

TEST(SmtpAbuse, HeloWithControlCharactersRefused) {
  SessionRun r = run("EHLO a\rb\r\nHELO a\tb\r\nEHLO a\x01\r\nEHLO ok.example\r\n");
  EXPECT_EQ(codes(r.out), (V{220, 501, 501, 501, 250}));
}

TEST(SmtpAbuse, AuthRedactedHoweverSpacedAndSaslResponsesToo) {
  smtp_testing::RecordingHandler h;
  SmtpServerSession s({}, h);
  std::string out = s.greeting();
  s.receive(std::string(kHello) +
                "AUTH\tPLAIN\tc2VjcmV0MQ==\r\n  AUTH PLAIN c2VjcmV0Mg==\r\n"
                "AUTH LOGIN\r\nc2VjcmV0Mw==\r\nc2VjcmV0NA==\r\nNOOP\r\n"
                "MAIL FROM:<a@x>\r\nauth plain\r\nc2VjcmV0NQ==\r\nRSET\r\n",
            out);
  std::vector<std::string> lines;
  for (const auto& c : s.session_commands()) lines.push_back(c.line);
  for (const auto& c : h.txns.at(0).commands) lines.push_back(c.line);
  for (const auto& l : lines) EXPECT_EQ(l.find("c2VjcmV0"), std::string::npos) << l;
  EXPECT_NE(std::find(lines.begin(), lines.end(), "NOOP"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "RSET"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "AUTH PLAIN <redacted>"), lines.end());
}

// Every command record of the session and its transactions.
std::vector<std::string> recorded_lines(const SessionRun& r) {
  std::vector<std::string> lines;
  for (const auto& t : r.handler.txns)
    for (const auto& c : t.commands) lines.push_back(c.line);
  return lines;
}

// Found by fuzz/smtp_server_fuzz: the redaction kept a mechanism of any length and replaced
// a short argument with the longer " <redacted>", so a line within max_line was recorded
// longer than max_line (SmtpCommandRecord::line promises at most max_line octets).
TEST(SmtpAbuse, AuthRecordNoLongerThanTheLineLimit) {
  SmtpServerConfig cfg;
  cfg.max_line = 64;
  const std::string junk = "PLAI\x01" + std::string(50, 'y');  // no SASL mechanism name
  const std::string line = "AUTH " + junk + " x\r\n";
  ASSERT_EQ(line.size(), cfg.max_line);
  const std::string over = "AUTH " + junk + std::string(20, 'z') + " x\r\n";
  SessionRun r = run(std::string(kHello) + "MAIL FROM:<a@x>\r\n" + line + over +
                         "AUTH CRAM-MD5\r\nAUTH PLAIN x\r\n",
                     cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 502, 500, 502, 502}));
  const auto lines = recorded_lines(r);
  for (const auto& l : lines) EXPECT_LE(l.size(), cfg.max_line) << l;
  EXPECT_EQ(lines,
            (std::vector<std::string>{"MAIL FROM:<a@x>", "AUTH <redacted>", "AUTH <redacted>",
                                      "AUTH CRAM-MD5", "AUTH PLAIN <redacted>"}));
}

// A max_line below the longest redacted form still bounds the record.
TEST(SmtpAbuse, RecordCutToATinyLineLimit) {
  SmtpServerConfig cfg;
  cfg.max_line = 16;
  SessionRun r = run("EHLO x\r\nMAIL FROM:<>\r\nAUTH PLAIN x\r\nAUTH LOGIN\r\nxyz\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 502, 502, 500}));
  EXPECT_EQ(recorded_lines(r), (std::vector<std::string>{"MAIL FROM:<>", "AUTH PLAIN <reda",
                                                         "AUTH LOGIN", "<redacted SASL r"}));
}

// An over-long command line is a command like any other for the session's policies: it
// counts against max_errors (a flood of them ends in 421, not in endless 500s) ...
TEST(SmtpAbuse, OverlongLinesCountAgainstTheErrorBudget) {
  SmtpServerConfig cfg;
  cfg.max_line = 64;
  cfg.max_errors = 2;
  const std::string over = std::string(100, 'x') + "\r\n";
  SessionRun r = run(std::string(kHello) + over + over + over + over + "NOOP\r\n", cfg);
  EXPECT_EQ(codes(r.out), (V{220, 250, 500, 500, 421}));
  EXPECT_TRUE(r.closing);
  EXPECT_EQ(r.handler.end_stats.commands, 4u);
}

// ... and its line ending is judged like any other: a bare LF is counted, and refused with
// reject_bare_lf, however far past max_line it comes. A CR just before the LF is no bare LF,
// also when the cut at max_line falls between them.
TEST(SmtpAbuse, OverlongLineEndingInBareLf) {
  SmtpServerConfig cfg;
  cfg.max_line = 64;
  const std::string bare = std::string(100, 'x') + "\n";
  const std::string crlf = std::string(63, 'x') + "\r\n" + std::string(64, 'x') + "\r\n";
  SessionRun counted = run(std::string(kHello) + crlf + bare + "NOOP\r\n", cfg);
  EXPECT_EQ(codes(counted.out), (V{220, 250, 500, 500, 500, 250}));
  EXPECT_EQ(counted.handler.end_stats.bare_lf, 1u);
  cfg.reject_bare_lf = true;
  SessionRun refused = run(std::string(kHello) + crlf + bare + "NOOP\r\n", cfg);
  EXPECT_EQ(codes(refused.out), (V{220, 250, 500, 500, 521}));
  EXPECT_TRUE(refused.closing);
}

TEST(SmtpAbuse, StreamingHandlerGetsPiecesAndSessionKeepsNone) {
  const std::string body = std::string(200'000, 'a') + "\r\n..dot\r\n";
  SessionRun r = run(std::string(kHello) + std::string(kTxn) + body + ".\r\n", {}, true);
  EXPECT_EQ(codes(r.out), (V{220, 250, 250, 250, 354, 250}));
  EXPECT_EQ(r.handler.streamed, std::string(200'000, 'a') + "\r\n.dot\r\n");
  EXPECT_LE(r.handler.max_piece, kSmtpDataSlice + kDotMaxPendingLine);
  ASSERT_EQ(r.handler.messages.size(), 1u);
  EXPECT_TRUE(r.handler.messages[0].empty());
  EXPECT_TRUE(r.handler.txns.at(0).message.empty());
  EXPECT_EQ(r.handler.txns.at(0).message_size, r.handler.streamed.size());
}

TEST(SmtpAbuse, StreamingBdatAndTooLarge) {
  SmtpServerConfig cfg;
  cfg.max_message = 10;
  SessionRun ok = run(std::string(kHello) +
                          "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n"
                          "BDAT 4\r\nabcdBDAT 3 LAST\r\nefg",
                      cfg, true);
  EXPECT_EQ(codes(ok.out), (V{220, 250, 250, 250, 250, 250}));
  EXPECT_EQ(ok.handler.streamed, "abcdefg");
  SessionRun big =
      run(std::string(kHello) + std::string(kTxn) + "0123456789ABC\r\n.\r\n", cfg, true);
  EXPECT_EQ(codes(big.out), (V{220, 250, 250, 250, 354, 552}));
  EXPECT_TRUE(big.handler.streamed.empty());
  EXPECT_TRUE(big.handler.txns.at(0).too_large);
}

}  // namespace
}  // namespace dropcheck::protocol

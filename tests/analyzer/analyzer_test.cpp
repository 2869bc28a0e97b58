#include "analyzer/analyzer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "truth_fixture.hpp"

namespace dropcheck::analyzer {
namespace {

const std::string kRaw =
    "From: alice@sender.example\r\n"
    "To: a@firma.example\r\n"
    "Cc: x@foreign.example\r\n"
    "Subject: hi\r\n"
    "X-Dropcheck-Id: m1\r\n"
    "\r\n"
    "body\r\n";

Truth truth() { return fixture::one_message_truth(kRaw); }

Delivery copy(std::uint64_t seq, std::vector<std::string> rcpts, std::string message = kRaw,
              std::string from = "alice@sender.example") {
  Delivery d;
  d.seq = seq;
  d.mail_from = std::move(from);
  for (auto& r : rcpts) d.rcpts.push_back({r, 250});
  d.data_code = 250;
  d.message = std::move(message);
  return d;
}

std::vector<std::string> types(const Report& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings) out.push_back(f.type + ":" + f.recipient);
  return out;
}

TEST(Analyzer, CleanRunHasNoFindings) {
  auto r = analyze(truth(), {copy(1, {"a@firma.example", "b@firma.example"})});
  EXPECT_TRUE(r.findings.empty()) << ::testing::PrintToString(types(r));
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].copies, 1u);
}

// The pictures draw one edge per delivery from this list: a transaction accepted for two
// mailboxes is two deliveries, a second transaction to one of them a third.
TEST(Analyzer, ListsEachAcceptedDeliveryPerMailbox) {
  Delivery second = copy(2, {"B@firma.example"});
  second.virtual_ms = 300'000;
  Delivery refused = copy(3, {"a@firma.example"});
  refused.rcpts[0].code = 550;
  auto r = analyze(truth(), {copy(1, {"a@firma.example", "b@firma.example"}), second, refused});
  ASSERT_EQ(r.messages.size(), 1u);
  const auto& d = r.messages[0].deliveries;
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(r.messages[0].deliveries_total, 3u);
  EXPECT_EQ(d[0].mailbox, "a@firma.example");
  EXPECT_EQ(d[1].mailbox, "b@firma.example");
  EXPECT_EQ(d[2].mailbox, "b@firma.example");  // normalised
  EXPECT_EQ(d[0].journal_seq, 1u);
  EXPECT_EQ(d[2].journal_seq, 2u);
  EXPECT_EQ(d[2].virtual_ms, 300'000);
  EXPECT_EQ(r.messages[0].injected_ms, 0);
}

TEST(Analyzer, DeliveriesListedAreBoundedAndCounted) {
  std::vector<Delivery> journal;
  for (std::uint64_t i = 1; i <= kMaxDeliveriesListed + 1; ++i)
    journal.push_back(copy(i, {"a@firma.example"}));
  auto r = analyze(truth(), journal);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].deliveries.size(), kMaxDeliveriesListed);
  EXPECT_EQ(r.messages[0].deliveries_total, kMaxDeliveriesListed + 1);
}

TEST(Analyzer, LostRecipient) {
  auto r = analyze(truth(), {copy(1, {"a@firma.example"})});
  EXPECT_EQ(types(r), std::vector<std::string>{"lost-recipient:b@firma.example"});
}

TEST(Analyzer, Duplicate) {
  auto r = analyze(truth(),
                   {copy(1, {"a@firma.example", "b@firma.example"}), copy(2, {"a@firma.example"})});
  EXPECT_EQ(types(r), std::vector<std::string>{"duplicate:a@firma.example"});
}

TEST(Analyzer, EnvelopeHeaderLeakPlainFoldedEncodedAndQmail) {
  const std::vector<std::string> leaks = {
      "X-Envelope-To: a@firma.example, b@firma.example\r\n",
      "X-Envelope-To: a@firma.example,\r\n b@firma.example\r\n",
      "X-Envelope-To: =?utf-8?B?YkBmaXJtYS5leGFtcGxl?=\r\n",
      "X-Envelope-To: =?utf-8?Q?b=40firma.example?=\r\n",
      "Delivered-To: firma.example-b@firma.example\r\n",
      "X-Original-To: B@Firma.Example\r\n",
  };
  for (const auto& h : leaks) {
    auto r = analyze(truth(), {copy(1, {"a@firma.example", "b@firma.example"}, h + kRaw)});
    EXPECT_EQ(types(r), std::vector<std::string>{"envelope-header-leak:b@firma.example"}) << h;
  }
}

// Evidence is bounded: a 200 KB envelope header is quoted around the hit, with offsets.
TEST(Analyzer, LeakEvidenceQuotesAFewHundredOctetsOfAHugeHeader) {
  std::string list;
  for (int i = 0; i < 10'000; ++i) list += "u" + std::to_string(i) + "@firma.example, ";
  const std::string h = "X-Envelope-To: " + list + "b@firma.example\r\n";
  auto r = analyze(truth(), {copy(1, {"a@firma.example", "b@firma.example"}, h + kRaw)});
  ASSERT_EQ(types(r), std::vector<std::string>{"envelope-header-leak:b@firma.example"});
  const std::string& ev = r.findings[0].evidence;
  EXPECT_LT(ev.size(), 600u) << ev.size();
  EXPECT_NE(ev.find("b@firma.example"), std::string::npos) << ev;
  EXPECT_NE(ev.find("octets"), std::string::npos) << ev;
}

TEST(Analyzer, NoLeakWhenTheOnlyReaderIsTheBccRecipient) {
  auto r =
      analyze(truth(), {copy(1, {"a@firma.example"}),
                        copy(2, {"b@firma.example"}, "X-Envelope-To: b@firma.example\r\n" + kRaw)});
  EXPECT_TRUE(r.findings.empty()) << ::testing::PrintToString(types(r));
}

TEST(Analyzer, AddressBoundariesAvoidFalsePositives) {
  EXPECT_FALSE(mentions_address("To: bob@firma.example\r\n\r\n", "b@firma.example"));
  EXPECT_FALSE(mentions_address("To: b@firma.example.org\r\n\r\n", "b@firma.example"));
  EXPECT_TRUE(mentions_address("To: <b@firma.example>\r\n\r\n", "b@firma.example"));
  EXPECT_TRUE(mentions_address("X: b@firma.example.\r\n\r\n", "b@firma.example"));
}

TEST(Analyzer, RelayAttemptAndLeak) {
  Delivery d = copy(1, {"a@firma.example", "b@firma.example"});
  d.rcpts.push_back({"x@foreign.example", 550});
  Delivery e = copy(2, {"x@foreign.example"});
  auto r = analyze(truth(), {d, e});
  EXPECT_EQ(types(r), (std::vector<std::string>{"relay-attempt:x@foreign.example",
                                                "relay-leak:x@foreign.example"}));
}

TEST(Analyzer, SenderRewrittenIncludingNullSender) {
  Truth t = truth();
  t.messages[0].envelope_from = "";
  auto r =
      analyze(t, {copy(1, {"a@firma.example", "b@firma.example"}, kRaw, "daemon@firma.example")});
  EXPECT_EQ(types(r), std::vector<std::string>{"sender-rewritten:"});
}

TEST(Analyzer, MessageAlteredAndBccHeaderLeak) {
  std::string altered = kRaw;
  altered.replace(altered.find("body"), 4, "BODY");
  auto r = analyze(truth(), {copy(1, {"a@firma.example", "b@firma.example"},
                                  "Bcc: b@firma.example\r\n" + altered)});
  auto t = types(r);
  EXPECT_NE(std::find(t.begin(), t.end(), "bcc-header-leak:a@firma.example"), t.end());
  EXPECT_NE(std::find(t.begin(), t.end(), "message-altered:a@firma.example"), t.end());
}

TEST(Analyzer, MisrouteAndUnknownMessage) {
  auto r = analyze(truth(), {copy(1, {"a@firma.example", "b@firma.example", "c@firma.example"}),
                             copy(2, {"a@firma.example"}, "Subject: other\r\n\r\nzzz\r\n")});
  EXPECT_EQ(types(r), (std::vector<std::string>{"misroute:c@firma.example", "unknown-message:"}));
}

TEST(Analyzer, RefusedDataIsNotADelivery) {
  Delivery d = copy(1, {"a@firma.example", "b@firma.example"});
  d.data_code = 451;
  auto r = analyze(truth(), {d});
  EXPECT_EQ(types(r), (std::vector<std::string>{"lost-recipient:a@firma.example",
                                                "lost-recipient:b@firma.example"}));
}

TEST(Truth, SaveLoadRoundTripKeepsBytes) {
  Truth t = truth();
  t.messages[0].raw += std::string("\x00\xff\x80 8bit", 9);
  const std::string path = ::testing::TempDir() + "/truth.json";
  ASSERT_TRUE(save_truth(path, t).ok());
  auto back = load_truth(path);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->messages[0].raw, t.messages[0].raw);
  EXPECT_EQ(back->messages[0].envelope_to, t.messages[0].envelope_to);
}

}  // namespace
}  // namespace dropcheck::analyzer

namespace dropcheck::analyzer {
namespace {

TEST(AnalyzerSessions, OverPollingAndCleartextCredentials) {
  Truth t = truth();
  t.login_delay_ms = 900'000;
  t.pop3_sessions = {{1, 0, false, false, "ok", {}, {}, "", true},
                     {2, 300'000, false, true, "login-delay", {}, {}, "", true},
                     {3, 900'000, true, false, "ok", {}, {}, "", true}};
  auto r = analyze(t, {copy(1, {"a@firma.example", "b@firma.example"})});
  EXPECT_EQ(types(r), (std::vector<std::string>{"cleartext-credentials:", "over-polling:"}));
}

TEST(AnalyzerSessions, StuckQueueWhenDeliveryStops) {
  Truth t = truth();
  t.interval_ms = 300'000;
  t.end_ms = 3'000'000;
  TruthMessage m2 = t.messages[0];
  m2.id = "m2";
  m2.injected_ms = 600'000;
  m2.raw.replace(m2.raw.find("m1"), 2, "m2");
  m2.raw.replace(m2.raw.find("body"), 4, "two!");
  TruthMessage m3 = m2;
  m3.id = "m3";
  m3.raw.replace(m3.raw.find("m2"), 2, "m3");
  m3.raw.replace(m3.raw.find("two!"), 4, "tre!");
  t.messages.push_back(m2);
  t.messages.push_back(m3);
  auto r = analyze(t, {copy(1, {"a@firma.example", "b@firma.example"})});
  const auto ty = types(r);
  EXPECT_NE(std::find(ty.begin(), ty.end(), "stuck-queue:"), ty.end())
      << ::testing::PrintToString(ty);
  // Not stuck when the later message did arrive.
  Delivery d3 = copy(2, {"a@firma.example", "b@firma.example"}, m3.raw);
  auto r2 = analyze(t, {copy(1, {"a@firma.example", "b@firma.example"}), d3});
  const auto ty2 = types(r2);
  EXPECT_EQ(std::find(ty2.begin(), ty2.end(), "stuck-queue:"), ty2.end())
      << ::testing::PrintToString(ty2);
}

TEST(AnalyzerSessions, StallWhenTheMedianDataPhaseIsSlow) {
  Truth t = truth();
  std::vector<Delivery> j;
  for (int i = 0; i < 3; ++i) {
    TruthMessage m = t.messages[0];
    m.id = "s" + std::to_string(i);
    m.raw.replace(m.raw.find("m1"), 2, m.id);
    m.raw.replace(m.raw.find("body"), 4, "bod" + std::to_string(i));
    t.messages.push_back(m);
    Delivery d =
        copy(static_cast<std::uint64_t>(i + 2), {"a@firma.example", "b@firma.example"}, m.raw);
    d.data_real_ms = 1000;
    d.data_end_real_ms = 1000 + kStallMs + 10;
    j.push_back(d);
  }
  j.push_back(copy(1, {"a@firma.example", "b@firma.example"}));
  EXPECT_EQ(types(analyze(t, j)), std::vector<std::string>{"stall:"});
  // One slow copy among fast ones (a load spike) is not a stall.
  for (std::size_t i = 1; i < j.size() - 1; ++i) j[i].data_end_real_ms = 1002;
  EXPECT_TRUE(analyze(t, j).findings.empty()) << ::testing::PrintToString(types(analyze(t, j)));
  // Too few copies to judge: two slow copies are not a stall.
  j[1].data_end_real_ms = j[2].data_end_real_ms = 1000 + kStallMs + 10;
  const auto few = types(analyze(t, {j[1], j[2], j[3]}));
  EXPECT_EQ(std::count(few.begin(), few.end(), "stall:"), 0) << ::testing::PrintToString(few);
}

TEST(AnalyzerSessions, LoopWhenRelayedMailComesBack) {
  Delivery out = copy(1, {"x@foreign.example"});
  out.relayed_out = true;
  Delivery back = copy(2, {"a@firma.example", "b@firma.example"});
  auto r = analyze(truth(), {out, back});
  const auto ty = types(r);
  EXPECT_NE(std::find(ty.begin(), ty.end(), "loop:"), ty.end()) << ::testing::PrintToString(ty);
}

}  // namespace
}  // namespace dropcheck::analyzer

namespace dropcheck::analyzer {
namespace {

TEST(Analyzer, SameMailboxTwiceInOneTransactionIsOneCopy) {
  auto r = analyze(truth(), {copy(1, {"a@firma.example", "b@firma.example", "A@firma.example"})});
  EXPECT_TRUE(r.findings.empty()) << ::testing::PrintToString(types(r));
}

}  // namespace
}  // namespace dropcheck::analyzer

namespace dropcheck::analyzer {
namespace {

// Issue 14 item 5: a stored message naming no local envelope recipient belongs in the
// fallback mailbox; delivered nowhere, it is lost.
TEST(Analyzer, NoLocalEnvelopeRecipientBelongsToTheFallback) {
  Truth t = truth();
  t.fallback = "postmaster@firma.example";
  t.messages[0].envelope_to = {"x@foreign.example"};
  auto nowhere = analyze(t, {});
  EXPECT_EQ(types(nowhere), std::vector<std::string>{"lost-recipient:postmaster@firma.example"});
  auto parked = analyze(t, {copy(1, {"postmaster@firma.example"})});
  EXPECT_TRUE(parked.findings.empty()) << ::testing::PrintToString(types(parked));
}

// One stored copy per recipient: each foreign recipient's copy may be parked at the fallback.
TEST(Analyzer, FallbackMayGetOneCopyPerForeignEnvelopeRecipient) {
  Truth t = truth();
  t.fallback = "postmaster@firma.example";
  t.messages[0].envelope_to = {"a@firma.example", "x@foreign.example"};
  auto ok = analyze(t, {copy(1, {"a@firma.example"}), copy(2, {"postmaster@firma.example"})});
  EXPECT_TRUE(ok.findings.empty()) << ::testing::PrintToString(types(ok));
  auto twice = analyze(t, {copy(1, {"a@firma.example"}), copy(2, {"postmaster@firma.example"}),
                           copy(3, {"postmaster@firma.example"})});
  EXPECT_EQ(types(twice), std::vector<std::string>{"duplicate:postmaster@firma.example"});
}

}  // namespace
}  // namespace dropcheck::analyzer

// Issue 15 item 2: a leak is what the copy shows and the sender did not send.
namespace dropcheck::analyzer {
namespace {

// kRaw with `body` as its body (the BCC recipient b@ is envelope-only).
std::string sent_with_body(const std::string& body) {
  std::string raw = kRaw;
  raw.replace(raw.find("body\r\n"), 6, body);
  return raw;
}

Truth truth_sent(const std::string& raw) {
  Truth t = truth();
  t.messages[0].raw = raw;
  return t;
}

TEST(AnalyzerLeak, AddressTheSenderWroteIsNoLeak) {
  const std::vector<std::string> bodies = {
      "Questions? Write to b@firma.example.\r\n",                // a signature
      "> On Monday b@firma.example wrote:\r\n> figures\r\n",     // a quoted reply
      "Forwarded by \"b@firma.example\" <b@firma.example>\r\n",  // a display name
  };
  for (const auto& body : bodies) {
    const std::string raw = sent_with_body(body);
    auto r = analyze(truth_sent(raw), {copy(1, {"a@firma.example", "b@firma.example"}, raw)});
    EXPECT_TRUE(r.findings.empty()) << body << ::testing::PrintToString(types(r));
  }
}

TEST(AnalyzerLeak, AddressInTheSubjectAsSentIsNoLeak) {
  std::string raw = kRaw;
  raw.replace(raw.find("Subject: hi"), 11, "Subject: =?utf-8?Q?for_b=40firma.example?=");
  auto r = analyze(truth_sent(raw), {copy(1, {"a@firma.example", "b@firma.example"}, raw)});
  EXPECT_TRUE(r.findings.empty()) << ::testing::PrintToString(types(r));
}

TEST(AnalyzerLeak, EnvelopeHeaderIsALeakEvenWhenTheBodyNamesTheAddress) {
  const std::string raw = sent_with_body("Questions? Write to b@firma.example.\r\n");
  for (const std::string h : {"Envelope-To: a@firma.example, b@firma.example\r\n",
                              "X-Envelope-To: =?utf-8?Q?b=40firma.example?=\r\n",
                              "Delivered-To: firma.example-b@firma.example\r\n"}) {
    auto r = analyze(truth_sent(raw), {copy(1, {"a@firma.example", "b@firma.example"}, h + raw)});
    EXPECT_EQ(types(r), std::vector<std::string>{"envelope-header-leak:b@firma.example"}) << h;
  }
}

}  // namespace
}  // namespace dropcheck::analyzer

// Issue 15 item 3: the worst failure named — a message the provider deleted that no local
// mailbox received — and a queue that never moved at all.
namespace dropcheck::analyzer {
namespace {

Pop3SessionFact deleting_session(std::vector<std::string> deleted) {
  Pop3SessionFact f{1, 0, false, false, "ok", {}, {}, "", true};
  f.deleted = std::move(deleted);
  return f;
}

bool has(const Report& r, const std::string& key) {
  const auto t = types(r);
  return std::find(t.begin(), t.end(), key) != t.end();
}

TEST(AnalyzerLost, DeletedAndDeliveredNowhereIsALostMessage) {
  Truth t = truth();
  t.pop3_sessions = {deleting_session({"m1"})};
  auto r = analyze(t, {});
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings.front().type, "lost-message");  // the worst: reported first
  EXPECT_EQ(r.findings.front().message, "m1");
  EXPECT_TRUE(has(r, "lost-recipient:a@firma.example"));
  // Delivered to one mailbox: lost recipients, not a lost message.
  auto one = analyze(t, {copy(1, {"a@firma.example"})});
  EXPECT_EQ(types(one), std::vector<std::string>{"lost-recipient:b@firma.example"});
  // Refused by the receiver (no accepted copy) is no delivery.
  Delivery refused = copy(1, {"a@firma.example", "b@firma.example"});
  refused.data_code = 554;
  EXPECT_TRUE(has(analyze(t, {refused}), "lost-message:"));
  // Not deleted (still on the server): no lost message.
  EXPECT_FALSE(has(analyze(truth(), {}), "lost-message:"));
}

TEST(AnalyzerLost, AMessageNamingNoLocalRecipientIsLostToo) {
  Truth t = truth();
  t.messages[0].envelope_to = {"x@foreign.example"};
  t.pop3_sessions = {deleting_session({"m1"})};
  EXPECT_EQ(types(analyze(t, {})), std::vector<std::string>{"lost-message:"});
  // Relayed out (a foreign copy) is not a local mailbox either.
  Delivery out = copy(1, {"x@foreign.example"});
  out.relayed_out = true;
  EXPECT_TRUE(has(analyze(t, {out}), "lost-message:"));
}

TEST(AnalyzerLost, StuckQueueWhenNothingAtAllWasDelivered) {
  Truth t = truth();
  t.interval_ms = 300'000;
  t.end_ms = 3'000'000;
  auto r = analyze(t, {});
  EXPECT_TRUE(has(r, "stuck-queue:")) << ::testing::PrintToString(types(r));
  // Injected within the last interval: not yet due, not stuck.
  t.messages[0].injected_ms = t.end_ms - t.interval_ms / 2;
  EXPECT_FALSE(has(analyze(t, {}), "stuck-queue:"));
}

}  // namespace
}  // namespace dropcheck::analyzer

// Issue 15 item 5: reports never abort on bytes. Evidence quotes raw header lines, which may
// hold Latin-1 (or any) octets; nlohmann::json refuses to dump invalid UTF-8.
#include "analyzer/report.hpp"

namespace dropcheck::analyzer {
namespace {

TEST(Report, Latin1EvidenceDumpsAsJsonWithItsOctetsInHex) {
  Report r;
  r.scenario = "t";
  r.findings.push_back({"bcc-header-leak", "m1", "a@firma.example",
                        "journal #1: \"Bcc: J\xFCrgen <b@firma.example>\"", 1});
  nlohmann::json j = to_json(r);
  std::string text;
  ASSERT_NO_THROW(text = j.dump());
  const auto& f = j["findings"][0];
  EXPECT_EQ(f["evidence"], "journal #1: \"Bcc: J\u00fcrgen <b@firma.example>\"");
  EXPECT_EQ(f["evidence_hex"].get<std::string>().substr(0, 8), "6a6f7572");  // "jour"
  EXPECT_FALSE(f.contains("recipient_hex"));  // only where bytes were not UTF-8
}

TEST(Report, Utf8TextKeepsValidUtf8AndReadsEveryOtherOctetAsLatin1) {
  EXPECT_EQ(utf8_text("J\xC3\xBCrgen"), "J\xC3\xBCrgen");            // valid: unchanged
  EXPECT_EQ(utf8_text("J\xFCrgen"), "J\xC3\xBCrgen");                // Latin-1 u-umlaut
  EXPECT_EQ(utf8_text("\xC3"), "\xC3\x83");                          // truncated sequence
  EXPECT_EQ(utf8_text("\xC0\xAF"), "\xC3\x80\xC2\xAF");              // overlong '/'
  EXPECT_EQ(utf8_text("\xED\xA0\x80"), "\xC3\xAD\xC2\xA0\xC2\x80");  // a surrogate
  EXPECT_EQ(utf8_text("\xF4\x90\x80\x80").size(), 8u);               // above U+10FFFF
  EXPECT_EQ(utf8_text("\xF0\x9F\x93\xA7"), "\xF0\x9F\x93\xA7");      // U+1F4E7
  for (int b = 0; b < 256; ++b) {  // every single octet gives JSON that dumps
    nlohmann::json j = std::string(1, static_cast<char>(b));
    utf8_safe(j);
    EXPECT_NO_THROW((void)j.dump()) << b;
  }
}

}  // namespace
}  // namespace dropcheck::analyzer

// Issue 17: per-recipient delivery latency against a budget; refused logins per POP3 account,
// and whether the fetcher under test reported them.
namespace dropcheck::analyzer {
namespace {

const std::string kA = "a@firma.example";
const std::string kB = "b@firma.example";

Delivery copy_at(std::uint64_t seq, std::int64_t virtual_ms, std::vector<std::string> rcpts) {
  Delivery d = copy(seq, std::move(rcpts));
  d.virtual_ms = virtual_ms;
  return d;
}

// m1 injected at +1 min with a 15 min budget.
Truth budgeted() {
  Truth t = truth();
  t.messages[0].injected_ms = 60'000;
  t.latency_budget_ms = 900'000;
  return t;
}

TEST(AnalyzerDelayed, OverTheBudgetIsDelayedPerRecipient) {
  const auto r = analyze(budgeted(), {copy_at(7, 60'000 + 1'200'000, {kA, kB})});
  ASSERT_EQ(types(r), (std::vector<std::string>{"delayed:" + kA, "delayed:" + kB}));
  EXPECT_EQ(r.findings[0].message, "m1");
  EXPECT_EQ(r.findings[0].evidence, "delivered 20 min after injection (budget 15 min), journal #7");
  EXPECT_EQ(r.findings[0].journal_seq, 7);
  // One millisecond over is over.
  EXPECT_EQ(types(analyze(budgeted(), {copy_at(1, 60'000 + 900'001, {kA, kB})})),
            (std::vector<std::string>{"delayed:" + kA, "delayed:" + kB}));
}

TEST(AnalyzerDelayed, AtOrUnderTheBudgetIsNotDelayed) {
  const auto at = analyze(budgeted(), {copy_at(1, 60'000 + 900'000, {kA, kB})});
  EXPECT_TRUE(at.findings.empty()) << ::testing::PrintToString(types(at));
  const auto under = analyze(budgeted(), {copy_at(1, 60'000 + 30'000, {kA, kB})});
  EXPECT_TRUE(under.findings.empty()) << ::testing::PrintToString(types(under));
}

TEST(AnalyzerDelayed, BudgetZeroMeansNoBudget) {
  Truth t = budgeted();
  t.latency_budget_ms = 0;
  const auto r = analyze(t, {copy_at(1, 86'400'000, {kA, kB})});
  EXPECT_TRUE(r.findings.empty()) << ::testing::PrintToString(types(r));
  EXPECT_EQ(r.messages[0].latency_ms, 86'400'000 - 60'000);  // still measured
}

TEST(AnalyzerDelayed, TwoRecipientsOneLate) {
  const auto r = analyze(budgeted(), {copy_at(1, 120'000, {kA}), copy_at(2, 1'860'000, {kB})});
  ASSERT_EQ(types(r), std::vector<std::string>{"delayed:" + kB});
  EXPECT_EQ(r.findings[0].evidence, "delivered 30 min after injection (budget 15 min), journal #2");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].latency_ms, 60'000);
  EXPECT_EQ(r.messages[0].recipient_latency_ms,
            (std::map<std::string, std::int64_t>{{kA, 60'000}, {kB, 1'800'000}}));
}

// The first accepted copy counts: a late duplicate is a duplicate, not a delay; a refused
// early attempt is no delivery, so the late accepted one is.
TEST(AnalyzerDelayed, LatencyIsToTheFirstAcceptedCopy) {
  const auto dup =
      analyze(budgeted(), {copy_at(1, 120'000, {kA, kB}), copy_at(2, 3'600'000, {kA})});
  EXPECT_EQ(types(dup), std::vector<std::string>{"duplicate:" + kA});
  Delivery refused = copy_at(1, 120'000, {kA, kB});
  refused.data_code = 451;
  const auto late = analyze(budgeted(), {refused, copy_at(2, 3'600'000, {kA, kB})});
  EXPECT_EQ(types(late), (std::vector<std::string>{"delayed:" + kA, "delayed:" + kB}));
}

// Never delivered is lost, not delayed; a mailbox the message was not for is a misroute only.
TEST(AnalyzerDelayed, LostAndMisroutedCopiesAreNotDelayed) {
  Truth t = budgeted();
  t.latency_budget_ms = 1;
  EXPECT_EQ(types(analyze(t, {})),
            (std::vector<std::string>{"lost-recipient:" + kA, "lost-recipient:" + kB}));
  const auto mis = analyze(
      budgeted(), {copy_at(1, 120'000, {kA, kB}), copy_at(2, 3'600'000, {"c@firma.example"})});
  EXPECT_EQ(types(mis), std::vector<std::string>{"misroute:c@firma.example"});
}

// The fallback mailbox is a recipient the message was for when it holds a foreign recipient's
// copy: judged like any other.
TEST(AnalyzerDelayed, FallbackCopyIsJudgedToo) {
  Truth t = budgeted();
  t.fallback = "postmaster@firma.example";
  t.messages[0].envelope_to = {kA, "x@foreign.example"};
  const auto r =
      analyze(t, {copy_at(1, 120'000, {kA}), copy_at(2, 3'600'000, {"postmaster@firma.example"})});
  EXPECT_EQ(types(r), std::vector<std::string>{"delayed:postmaster@firma.example"});
}

Pop3SessionFact session(std::uint64_t id, std::int64_t at_ms, std::string user, std::string result,
                        bool reported = true) {
  Pop3SessionFact f;
  f.id = id;
  f.started_ms = at_ms;
  f.user = std::move(user);
  f.auth_result = std::move(result);
  f.reported = reported;
  return f;
}

// The message delivered in full, and these sessions.
Report with_sessions(std::vector<Pop3SessionFact> sessions) {
  Truth t = truth();
  t.pop3_sessions = std::move(sessions);
  return analyze(t, {copy(1, {kA, kB})});
}

TEST(AnalyzerCredentials, LoginRefusedOncePerAccountWithCounts) {
  const auto r =
      with_sessions({session(1, 0, "alice", "bad-credentials"), session(2, 300'000, "bob", "ok"),
                     session(3, 600'000, "alice", "bad-credentials"),
                     session(4, 900'000, "carol", "bad-credentials"),
                     session(5, 1'200'000, "alice", "bad-credentials")});
  ASSERT_EQ(types(r), (std::vector<std::string>{"login-refused:alice", "login-refused:carol"}));
  EXPECT_EQ(r.findings[0].evidence,
            "3 login(s) refused (bad credentials): first POP3 session #1 at +0 s (0.0 min), "
            "last #5 at +1200 s (20.0 min)");
  EXPECT_EQ(r.findings[1].evidence,
            "1 login(s) refused (bad credentials): POP3 session #4 at +900 s (15.0 min)");
  EXPECT_EQ(r.findings[0].message, "");
  EXPECT_EQ(r.findings[0].journal_seq, -1);
}

// LOGIN-DELAY and a locked maildrop are other refusals, not bad credentials.
TEST(AnalyzerCredentials, OnlyBadCredentialsAreLoginRefused) {
  const auto r = with_sessions({session(1, 0, "alice", "ok"),
                                session(2, 60'000, "alice", "login-delay", false),
                                session(3, 120'000, "alice", "in-use", false)});
  EXPECT_EQ(types(r), std::vector<std::string>{"over-polling:"});
}

TEST(AnalyzerCredentials, RefusedThenAcceptedIsStillLoginRefused) {
  const auto r = with_sessions(
      {session(1, 0, "alice", "bad-credentials"), session(2, 300'000, "alice", "ok")});
  EXPECT_EQ(types(r), std::vector<std::string>{"login-refused:alice"});
}

TEST(AnalyzerCredentials, SilentLoginFailureOnlyWhenUnreported) {
  const auto reported = with_sessions({session(1, 0, "alice", "bad-credentials"),
                                       session(2, 300'000, "alice", "bad-credentials"),
                                       session(3, 600'000, "bob", "ok", false)});
  EXPECT_EQ(types(reported), std::vector<std::string>{"login-refused:alice"});
  const auto silent = with_sessions({session(1, 0, "alice", "bad-credentials"),
                                     session(2, 300'000, "alice", "bad-credentials", false),
                                     session(3, 600'000, "bob", "bad-credentials")});
  ASSERT_EQ(types(silent), (std::vector<std::string>{"login-refused:alice", "login-refused:bob",
                                                     "silent-login-failure:alice"}));
  EXPECT_EQ(silent.findings[2].evidence,
            "the fetcher did not report 1 of 2 refused login(s): POP3 session #2 at +300 s "
            "(5.0 min)");
}

TEST(AnalyzerCredentials, SilentLoginFailureEvidenceIsBounded) {
  std::vector<Pop3SessionFact> sessions;
  for (std::uint64_t i = 1; i <= 25; ++i)
    sessions.push_back(
        session(i, static_cast<std::int64_t>(i) * 60'000, "alice", "bad-credentials", false));
  const auto r = with_sessions(sessions);
  ASSERT_EQ(types(r),
            (std::vector<std::string>{"login-refused:alice", "silent-login-failure:alice"}));
  const std::string& ev = r.findings[1].evidence;
  EXPECT_NE(ev.find("25 of 25"), std::string::npos) << ev;
  EXPECT_NE(ev.find("#10 at"), std::string::npos) << ev;
  EXPECT_EQ(ev.find("#11 at"), std::string::npos) << ev;
  EXPECT_NE(ev.find("and 15 more"), std::string::npos) << ev;
}

TEST(AnalyzerCredentials, FindingTypesInReportOrder) {
  const auto& ty = finding_types();
  const auto pos = [&](const std::string& name) {
    return std::find(ty.begin(), ty.end(), name) - ty.begin();
  };
  for (const std::string name : {"delayed", "login-refused", "silent-login-failure"})
    EXPECT_LT(pos(name), static_cast<std::ptrdiff_t>(ty.size())) << name;
  EXPECT_EQ(pos("login-refused"), pos("cleartext-credentials") + 1);
  EXPECT_EQ(pos("silent-login-failure"), pos("login-refused") + 1);
  EXPECT_EQ(pos("delayed"), pos("stuck-queue") + 1);
}

TEST(Truth, RoundTripKeepsBudgetAccountAndReported) {
  Truth t = budgeted();
  t.pop3_sessions = {session(1, 0, "alice", "bad-credentials", false),
                     session(2, 300'000, "bob", "ok")};
  const std::string path = ::testing::TempDir() + "/truth17.json";
  ASSERT_TRUE(save_truth(path, t).ok());
  auto back = load_truth(path);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->latency_budget_ms, 900'000);
  ASSERT_EQ(back->pop3_sessions.size(), 2u);
  EXPECT_EQ(back->pop3_sessions[0].user, "alice");
  EXPECT_FALSE(back->pop3_sessions[0].reported);
  EXPECT_EQ(back->pop3_sessions[1].user, "bob");
  EXPECT_TRUE(back->pop3_sessions[1].reported);
}

TEST(Truth, LoadsAFileWithoutBudgetAccountOrReported) {
  const std::string path = ::testing::TempDir() + "/truth-before17.json";
  {
    std::ofstream out(path, std::ios::binary);
    out << R"({"version": 1, "scenario": "old", "local_domains": ["firma.example"],
      "users": [], "aliases": {}, "fallback": "", "login_delay_ms": 0, "end_ms": 0,
      "interval_ms": 0,
      "pop3_sessions": [{"id": 1, "started_ms": 0, "tls": false, "cleartext_while_stls": false,
                         "auth_result": "bad-credentials", "retrieved": [], "deleted": []}],
      "messages": []})";
  }
  auto t = load_truth(path);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->latency_budget_ms, 0);
  ASSERT_EQ(t->pop3_sessions.size(), 1u);
  EXPECT_EQ(t->pop3_sessions[0].user, "");
  EXPECT_TRUE(t->pop3_sessions[0].reported);
  EXPECT_EQ(t->pop3_sessions[0].auth_result, "bad-credentials");
}

TEST(Report, PerRecipientLatencyInJsonAndText) {
  const auto r = analyze(budgeted(), {copy_at(1, 120'000, {kA}), copy_at(2, 1'860'000, {kB})});
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["messages"][0]["recipient_latency_ms"][kB], 1'800'000);
  EXPECT_EQ(j["findings"][0]["type"], "delayed");
  const std::string text = to_text(r);
  EXPECT_NE(text.find("latency_ms[b@firma.example]=1800000"), std::string::npos) << text;
}

}  // namespace
}  // namespace dropcheck::analyzer

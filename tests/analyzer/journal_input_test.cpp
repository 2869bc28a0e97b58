// The analyzer's input: journal records as Deliveries (delivery_of), and a journal directory
// judged as it streams from disk (analyze_journal) exactly as the same journal in memory.
#include "analyzer/journal_input.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "base/strings.hpp"
#include "journal/codec.hpp"
#include "truth_fixture.hpp"

namespace dropcheck::analyzer {
namespace {

const std::string kRaw =
    "From: alice@sender.example\r\n"
    "To: a@firma.example\r\n"
    "Subject: hi\r\n"
    "X-Dropcheck-Id: m1\r\n"
    "\r\n"
    "body\r\n";

Truth truth() { return fixture::one_message_truth(kRaw); }

journal::TransactionRecord record(std::uint64_t seq, std::vector<std::string> rcpts,
                                  std::string message) {
  journal::TransactionRecord r;
  r.seq = seq;
  r.mail_from = "alice@sender.example";
  for (auto& a : rcpts) r.rcpts.push_back({a, "", 250, "ok", true, false, a, 0, ""});
  r.data_complete = r.accepted = true;
  r.data_code = 250;
  r.size = message.size();
  r.sha256 = base::sha256_hex(message);
  r.message = std::move(message);
  r.commands = {{0, 100, "DATA", 354}};
  r.data_end_real_ms = 105;
  return r;
}

std::vector<std::string> summary(const Report& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings)
    out.push_back(f.type + "|" + f.message + "|" + f.recipient + "|" + f.evidence);
  return out;
}

TEST(DeliveryOf, ConvertsWhatTheJudgeReads) {
  auto r = record(3, {"a@firma.example"}, kRaw);
  r.mail_from_null = true;
  r.virtual_ms = 10;
  r.data_end_virtual_ms = 20;
  const Delivery d = delivery_of(std::move(r));
  EXPECT_EQ(d.seq, 3u);
  EXPECT_EQ(d.mail_from, "");
  EXPECT_EQ(d.virtual_ms, 20);
  EXPECT_EQ(d.data_code, 250);
  EXPECT_EQ(d.data_real_ms, 100);
  EXPECT_EQ(d.data_end_real_ms, 105);
  EXPECT_EQ(d.message, kRaw);
}

TEST(DeliveryOf, LmtpAcceptsWhenAnyRecipientsFinalReplyIsPositive) {
  auto r = record(1, {"a@firma.example", "b@firma.example"}, kRaw);
  r.lmtp = true;
  r.data_code = 452;  // the first recipient's
  r.rcpts[0].data_code = 452;
  r.rcpts[1].data_code = 250;
  const Delivery d = delivery_of(std::move(r));
  EXPECT_EQ(d.data_code, 250);
  EXPECT_EQ(d.lmtp_codes, (std::vector<int>{452, 250}));
  auto none = record(1, {"a@firma.example"}, kRaw);
  none.lmtp = true;
  none.data_code = 452;
  none.rcpts[0].data_code = 452;
  EXPECT_EQ(delivery_of(std::move(none)).data_code, 452);
}

class JudgedDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("analyzer-input-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(JudgedDir, StreamingFromDiskJudgesAsTheJournalInMemory) {
  std::vector<journal::TransactionRecord> records = {
      record(1, {"a@firma.example"}, kRaw),
      record(2, {"a@firma.example", "x@foreign.example"}, "Bcc: b@firma.example\r\n" + kRaw),
      record(3, {"c@firma.example"}, "X-Dropcheck-Id: none\r\n\r\nother\r\n")};
  records[1].rcpts[1].code = 550;
  std::ofstream out(journal::journal_file(dir_), std::ios::binary);
  std::vector<Delivery> in_memory;
  for (auto r : records) {
    out << journal::to_json_line(r, true) << "\n";
    in_memory.push_back(delivery_of(std::move(r)));
  }
  out.close();
  auto streamed = analyze_journal(truth(), dir_);
  ASSERT_TRUE(streamed.ok()) << streamed.error().message;
  const Report expected = analyze(truth(), in_memory);
  EXPECT_EQ(summary(*streamed), summary(expected));
  EXPECT_EQ(streamed->transactions, 3u);
  EXPECT_EQ(streamed->messages.at(0).copies, 2u);
  // duplicate, envelope and Bcc leaks, relay attempt, an unknown message, b never reached
  EXPECT_EQ(streamed->findings.size(), 6u) << ::testing::PrintToString(summary(*streamed));
}

TEST_F(JudgedDir, ATornOrMissingJournalIsAnError) {
  std::ofstream(journal::journal_file(dir_), std::ios::binary)
      << journal::to_json_line(record(1, {"a@firma.example"}, kRaw), true) << "\n{\"vers";
  auto torn = analyze_journal(truth(), dir_);
  ASSERT_FALSE(torn.ok());
  EXPECT_EQ(torn.error().code, "journal-torn");
  auto missing = analyze_journal(truth(), dir_ / "none");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "journal-missing");
}

TEST(Judge, OneFindingTypePerRuleInReportOrder) {
  const auto& types = finding_types();
  EXPECT_EQ(types.size(), 19u);
  EXPECT_EQ(std::set<std::string>(types.begin(), types.end()).size(), types.size());
  EXPECT_EQ(types.front(), "lost-message");
  EXPECT_EQ(types.back(), "stall");
}

}  // namespace
}  // namespace dropcheck::analyzer

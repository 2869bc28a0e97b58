// A truth loaded with TruthBytes::summarized (raw bytes replaced by their SentSummary) is judged
// exactly as the truth with its bytes: the same findings, evidence and statistics.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "analyzer/report.hpp"

namespace dropcheck::analyzer {
namespace {

const std::string kSent =
    "From: alice@sender.example\r\n"
    "To: a@firma.example\r\n"
    "Subject: about b@firma.example and =?utf-8?Q?more?= things\r\n"
    "X-Dropcheck-Id: m1\r\n"
    "\r\n"
    "body\r\n";

Truth truth() {
  Truth t;
  t.scenario = "sent";
  t.local_domains = {"firma.example"};
  t.messages.push_back(
      {"m1", "alice@sender.example", {"a@firma.example", "b@firma.example"}, kSent, 0, ""});
  t.messages.push_back({"m2",
                        "",
                        {"c@firma.example", "d@firma.example"},
                        "To: c@firma.example\nSubject: untagged\n\nother body\n",
                        5,
                        ""});
  return t;
}

Delivery copy(std::uint64_t seq, std::vector<std::string> rcpts, std::string message) {
  Delivery d;
  d.seq = seq;
  d.mail_from = seq > 3 ? "" : "alice@sender.example";
  for (auto& r : rcpts) d.rcpts.push_back({r, 250});
  d.data_code = 250;
  d.message = std::move(message);
  return d;
}

std::vector<Delivery> journal() {
  // A copy for a@ that keeps a part of the sent Subject (naming b@) and adds a line naming b@:
  // the leaking line is the added one, not the part of what the sender wrote.
  const std::string leaked =
      "Subject: about b@firma.example\r\n"
      "X-Seen: for b@firma.example\r\n" +
      kSent.substr(kSent.find("From:"));
  std::string altered = kSent;
  altered.replace(altered.find("body"), 4, "BODY");
  return {copy(1, {"a@firma.example"}, leaked), copy(2, {"a@firma.example"}, altered),
          copy(4, {"c@firma.example"},
               "To: c@firma.example\r\nSubject: untagged\r\n\r\nother body\r\n"),
          copy(5, {"e@firma.example"}, "Subject: nobody's\r\n\r\nunknown\r\n")};
}

TEST(SentSummary, ASummarizedTruthIsJudgedAsTheTruthWithItsBytes) {
  const Truth t = truth();
  const std::string path = ::testing::TempDir() + "/sent-truth.json";
  ASSERT_TRUE(save_truth(path, t).ok());
  auto summarized = load_truth(path, TruthBytes::summarized);
  ASSERT_TRUE(summarized.ok()) << summarized.error().message;
  EXPECT_NE(summarized->summarized, nullptr);
  EXPECT_TRUE(summarized->messages.empty());  // no TruthMessage, no bytes
  const SentSummary s = summarize(t.messages[0]);
  EXPECT_EQ(s.envelope_only, (std::vector<std::string>{"b@firma.example"}));
  EXPECT_EQ(s.quoting_lines.size(), 1u);  // the Subject line
  const Report with_bytes = analyze(t, journal());
  const Report without = analyze(*summarized, journal());
  EXPECT_EQ(to_json(without).dump(2), to_json(with_bytes).dump(2));
  EXPECT_EQ(to_text(without), to_text(with_bytes));
  std::vector<std::string> types;
  for (const auto& f : without.findings) types.push_back(f.type);
  for (const char* want : {"envelope-header-leak", "message-altered", "lost-recipient", "duplicate",
                           "unknown-message"})
    EXPECT_NE(std::find(types.begin(), types.end(), want), types.end()) << want;
  for (const auto& f : without.findings) {
    if (f.type == "envelope-header-leak") {
      EXPECT_NE(f.evidence.find("X-Seen: for b@firma.example"), std::string::npos) << f.evidence;
    }
  }
}

// Summaries are made on a second thread a chunk (1024 messages) at a time: a truth spanning
// several chunks, the last one partial, is kept in file order and judged as with its bytes.
TEST(SentSummary, ManyChunksAreSummarizedInFileOrder) {
  Truth t;
  t.scenario = "chunks";
  t.local_domains = {"firma.example"};
  std::vector<Delivery> copies;
  for (int i = 0; i < 2 * 1024 + 3; ++i) {
    const std::string id = "m" + std::to_string(i);
    const std::string raw =
        "To: a@firma.example\r\nX-Dropcheck-Id: " + id + "\r\n\r\nbody " + id + "\r\n";
    t.messages.push_back({id, "s@x.example", {"a@firma.example", "b@firma.example"}, raw, i, ""});
    if (i % 3 == 0)
      copies.push_back(copy(static_cast<std::uint64_t>(i), {"b@firma.example"}, raw + "X"));
  }
  const std::string path = ::testing::TempDir() + "/chunks-truth.json";
  ASSERT_TRUE(save_truth(path, t).ok());
  auto summarized = load_truth(path, TruthBytes::summarized);
  std::remove(path.c_str());
  ASSERT_TRUE(summarized.ok()) << summarized.error().message;
  EXPECT_EQ(to_text(analyze(*summarized, copies)), to_text(analyze(t, copies)));
}

// The report's statistics are made a chunk (4096 messages) at a time on a worker while the
// sink takes the chunk before: every message once, in truth order, with its own counts.
TEST(SentSummary, StatisticsOfManyChunksComeInTruthOrder) {
  Truth t;
  t.scenario = "stats";
  t.local_domains = {"firma.example"};
  std::vector<Delivery> copies;
  constexpr int kMessages = 2 * 4096 + 5;
  for (int i = 0; i < kMessages; ++i) {
    const std::string id = "m" + std::to_string(i);
    const std::string raw = "X-Dropcheck-Id: " + id + "\r\n\r\nbody " + id + "\r\n";
    t.messages.push_back({id, "s@x.example", {"a@firma.example"}, raw, i, ""});
    if (i % 3 == 0)
      copies.push_back(copy(static_cast<std::uint64_t>(i + 1), {"a@firma.example"}, raw));
  }
  const Report r = analyze(t, copies);
  ASSERT_EQ(r.messages.size(), static_cast<std::size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) {
    EXPECT_EQ(r.messages[i].id, "m" + std::to_string(i));
    EXPECT_EQ(r.messages[i].copies, i % 3 == 0 ? 1u : 0u) << i;
  }
}

// What `write` writes to a file.
template <typename Write>
std::string written_by(Write&& write) {
  const std::string path = ::testing::TempDir() + "/sent-report.out";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  if (!f) return "";
  write(f);
  EXPECT_EQ(std::fclose(f), 0);
  std::ifstream in(path, std::ios::binary);
  std::string written{std::istreambuf_iterator<char>(in), {}};
  std::remove(path.c_str());
  return written;
}

std::string printed(const Report& r, bool (*print)(std::FILE*, const Report&)) {
  return written_by([&](std::FILE* f) { EXPECT_TRUE(print(f, r)); });
}

// dropcheck analyze writes its reports as they are made (print_text, print_json): the same
// bytes as to_text and to_json's dump(2).
TEST(SentSummary, PrintTextWritesWhatToTextReturns) {
  const Report r = analyze(truth(), journal());
  const std::string written = printed(r, print_text);
  EXPECT_EQ(written, to_text(r));
  EXPECT_NE(written.find("message m2"), std::string::npos) << written;
}

TEST(SentSummary, PrintJsonWritesWhatToJsonDumps) {
  Report r = analyze(truth(), journal());
  ASSERT_FALSE(r.findings.empty());
  r.scenario = "caf\xE9";  // not UTF-8: scenario_hex follows it
  r.findings.front().evidence += " \xFC";
  const std::string written = printed(r, print_json);
  EXPECT_EQ(written, to_json(r).dump(2));
  EXPECT_NE(written.find("\"scenario_hex\": \"636166e9\""), std::string::npos) << written;
  const Report empty = analyze(truth(), {});
  EXPECT_EQ(printed(empty, print_json), to_json(empty).dump(2));
  EXPECT_EQ(printed(Report{}, print_json), to_json(Report{}).dump(2));
}

// Judge::finish(ReportSink&) hands over what finish() returns; the writers write what to_text and
// to_json make of it (dropcheck analyze: no Report of every message in memory).
std::string streamed(const Truth& t, const std::vector<Delivery>& journal, bool json) {
  return written_by([&](std::FILE* f) {
    Judge judge(t);
    for (const Delivery& d : journal) judge.add(d);
    TextReportWriter text(f);
    JsonReportWriter json_writer(f);
    if (json) {
      judge.finish(json_writer);
      EXPECT_TRUE(json_writer.end());
    } else {
      judge.finish(text);
      EXPECT_TRUE(text.ok());
    }
  });
}

TEST(SentSummary, StreamedReportEqualsTheWholeReport) {
  for (const auto& j : {journal(), std::vector<Delivery>{}}) {
    const Report r = analyze(truth(), j);
    EXPECT_EQ(streamed(truth(), j, false), to_text(r));
    EXPECT_EQ(streamed(truth(), j, true), to_json(r).dump(2));
  }
  EXPECT_EQ(streamed(Truth{}, {}, true), to_json(analyze(Truth{}, {})).dump(2));
}

}  // namespace
}  // namespace dropcheck::analyzer

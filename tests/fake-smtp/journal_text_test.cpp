// parse_journal / parse_sessions: the journal reader on text (what read_journal does after
// reading the file, and the journal fuzz target's entry).
#include <gtest/gtest.h>

#include <string>

#include "base/strings.hpp"
#include "fake_smtp/journal.hpp"

namespace dropcheck::fake_smtp {
namespace {

std::string line_with(std::string message) {
  TransactionRecord r;
  r.seq = 1;
  r.session_id = "s-1";
  r.data_complete = true;
  r.size = message.size();
  r.sha256 = base::sha256_hex(message);
  r.message = std::move(message);
  return to_json_line(r, true) + "\n";
}

TEST(JournalText, CompleteLinesAreRecordsAndTheRestIsATornTail) {
  const std::string good = line_with("a\r\n") + line_with("b\r\n");
  auto r = parse_journal(good + "{\"version\":1,\"se", "j.jsonl");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->records.size(), 2u);
  EXPECT_EQ(r->records[1].message, "b\r\n");
  EXPECT_TRUE(r->torn_tail);
  EXPECT_EQ(r->torn_bytes, 16u);
}

TEST(JournalText, AGarbageLineIsAnErrorNamingItsLine) {
  auto r = parse_journal(line_with("a\r\n") + "not json\n", "j.jsonl");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "journal-bad-line");
  EXPECT_EQ(r.error().message.rfind("j.jsonl:2: ", 0), 0u) << r.error().message;
}

TEST(JournalText, AnInlineMessageMustMatchItsDigest) {
  std::string line = line_with("a\r\n");
  line.replace(line.find("\"a\\r\\n\""), 7, "\"b\\r\\n\"");
  auto r = parse_journal(line, "j.jsonl");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "message-corrupt");
}

TEST(JournalText, SessionsReadTheSameWay) {
  SessionRecord s;
  s.seq = 1;
  s.session_id = "s-1";
  s.greeting_code = 220;
  auto r = parse_sessions(to_json_line(s) + "\n" + to_json_line(s), "s.jsonl");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->records.size(), 1u);
  EXPECT_EQ(r->records[0].greeting_code, 220);
  EXPECT_TRUE(r->torn_tail);
  EXPECT_FALSE(parse_sessions("[]\n", "s.jsonl").ok());
}

}  // namespace
}  // namespace dropcheck::fake_smtp

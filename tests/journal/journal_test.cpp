// journal/: the record description drives the writer and the reader alike; the on-disk format
// is the one earlier versions wrote; the streaming reader reads a file as the text parser does.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "base/strings.hpp"
#include "journal/codec.hpp"
#include "journal/fields.hpp"
#include "journal/reader.hpp"

namespace dropcheck::journal {
namespace {

// A line fake-smtp wrote before journal/ existed (a refused transaction of a kept matrix cell).
const std::string kOldLine =
    R"({"version":1,"seq":1,"session_id":"1a2406a726b-1","virtual_ms":1795420800000,)"
    R"("real_ms":1796377047671,"client":"127.0.0.1:55398","tls":false,"lmtp":false,)"
    R"("helo_verb":"EHLO","helo":"dropcheck-fetcher","mail_from_null":false,)"
    R"("mail_from":"mona@sender.example","mail_params":"","mail_code":250,)"
    R"("mail_reply":"2.1.0 Ok","smtputf8":false,"body_type":"","rcpts":[{"address":)"
    R"("info@firma.example","params":"","code":550,"reply":"5.1.1 <info@firma.example>: )"
    R"(Recipient address rejected: User unknown in local recipient table","local":true,)"
    R"("relayed":false,"mailbox":"","data_code":0,"data_reply":""}],"data_attempted":true,)"
    R"("bdat":false,"data_start_code":554,"data_complete":false,"data_code":0,)"
    R"("data_reply":"","accepted":false,"data_end_virtual_ms":0,"data_end_real_ms":0,)"
    R"("size":0,"sha256":"","too_large":false,"bare_lf_in_data":false,)"
    R"("bare_lf_in_commands":false,"relayed_out":false,"end_reason":"rset","faults":[],)"
    R"("commands":[{"virtual_ms":1795420800000,"real_ms":1796377047671,)"
    R"("line":"MAIL FROM:<mona@sender.example>","code":250},{"virtual_ms":1795420800000,)"
    R"("real_ms":1796377047671,"line":"RCPT TO:<info@firma.example>","code":550},)"
    R"({"virtual_ms":1795420800000,"real_ms":1796377047671,"line":"DATA","code":554},)"
    R"({"virtual_ms":1795420800000,"real_ms":1796377047671,"line":"RSET","code":250}]})";

// The names describe() hands a visitor, top level only.
struct Names {
  std::vector<std::string>& out;
  template <typename T>
  void operator()(const char* name, const T&) const {
    out.push_back(name);
  }
};

template <typename R>
std::vector<std::string> described(const R& r) {
  std::vector<std::string> out;
  describe(r, Names{out});
  return out;
}

TransactionRecord full_record() {
  TransactionRecord r;
  r.seq = 7;
  r.session_id = "s-1";
  r.virtual_ms = 1;
  r.real_ms = 2;
  r.client = "127.0.0.1:1";
  r.tls = r.lmtp = r.mail_from_null = r.smtputf8 = true;
  r.helo_verb = "LHLO";
  r.helo = "h\xfc";  // not UTF-8: stored as hex
  r.mail_from = "a@b";
  r.mail_params = "SIZE=3";
  r.mail_code = 250;
  r.mail_reply = "ok";
  r.body_type = "8BITMIME";
  r.rcpts = {{"x@y", "NOTIFY=NEVER", 250, "ok", true, true, "x@y", 452, "later"}};
  r.data_attempted = r.bdat = r.data_complete = r.accepted = true;
  r.data_start_code = 354;
  r.data_code = 250;
  r.data_reply = "queued";
  r.data_end_virtual_ms = 3;
  r.data_end_real_ms = 4;
  r.message = "abc";
  r.size = 3;
  r.sha256 = base::sha256_hex("abc");
  r.too_large = r.bare_lf_in_data = r.bare_lf_in_commands = r.relayed_out = true;
  r.end_reason = "quit";
  r.faults = {"rcpt-1-450"};
  r.commands = {{5, 6, "DATA", 354}};
  return r;
}

TEST(JournalCodec, TheOldFormatReadsAndWritesBackByteForByte) {
  auto rec = from_json_line(kOldLine);
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  EXPECT_EQ(rec->rcpts.at(0).code, 550);
  EXPECT_EQ(rec->commands.size(), 4u);
  EXPECT_EQ(to_json_line(*rec), kOldLine);
}

TEST(JournalCodec, TheWriterWritesExactlyTheDescribedMembersInOrder) {
  const TransactionRecord r = full_record();
  const auto j = nlohmann::json::parse(to_json_line(r, true));
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  std::vector<std::string> want = described(r);
  want.push_back("message");  // the inline message, outside the description
  std::sort(keys.begin(), keys.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(keys, want);
  const std::string line = to_json_line(r);
  std::size_t at = 0;
  for (const auto& name : described(r)) {  // in the description's order
    const auto next = line.find("\"" + name + "\":", at);
    ASSERT_NE(next, std::string::npos) << name;
    at = next;
  }
}

TEST(JournalCodec, EveryDescribedMemberRoundTrips) {
  const TransactionRecord r = full_record();
  auto back = from_json_line(to_json_line(r, true));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_json_line(*back, true), to_json_line(r, true));
  EXPECT_EQ(back->helo, r.helo);
  EXPECT_EQ(back->rcpts.at(0).data_reply, "later");
  EXPECT_EQ(back->message, "abc");
  EXPECT_TRUE(back->message_inline);
  SessionRecord s;
  s.session_id = "s";
  s.commands = {{1, 2, "EHLO x", 250}};
  s.faults = {"connect-421"};
  s.commands_dropped = 9;
  auto sback = session_from_json_line(to_json_line(s));
  ASSERT_TRUE(sback.ok()) << sback.error().message;
  EXPECT_EQ(to_json_line(*sback), to_json_line(s));
}

TEST(JournalCodec, TheReaderRequiresEveryDescribedMember) {
  const TransactionRecord r = full_record();
  for (const auto& name : described(r)) {
    auto j = nlohmann::json::parse(to_json_line(r));
    j.erase(name);
    auto back = from_json_line(j.dump());
    ASSERT_FALSE(back.ok()) << name;
    EXPECT_EQ(back.error().code, "journal-bad-line") << name;
  }
  SessionRecord s;
  for (const auto& name : described(s)) {
    auto j = nlohmann::json::parse(to_json_line(s));
    j.erase(name);
    EXPECT_FALSE(session_from_json_line(j.dump()).ok()) << name;
  }
}

TEST(JournalCodec, ListsMustBeArrays) {
  auto j = nlohmann::json::parse(to_json_line(full_record()));
  j["faults"] = "rcpt-1-450";
  EXPECT_FALSE(from_json_line(j.dump()).ok());
}

class JournalDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("journal-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& text) {
    std::ofstream(journal_file(dir_), std::ios::binary) << text;
  }
  std::filesystem::path dir_;
};

std::string three_records(bool torn) {
  std::string text;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    TransactionRecord r = full_record();
    r.seq = i;
    text += to_json_line(r, true) + "\n";
  }
  return torn ? text + R"({"version":1,"se)" : text;
}

TEST_F(JournalDir, StreamsRecordsInOrderAsTheTextParserReadsThem) {
  for (const bool torn : {false, true}) {
    const std::string text = three_records(torn);
    write(text);
    std::vector<std::uint64_t> seqs;
    auto tail = for_each_transaction(dir_, true, [&](TransactionRecord& r) {
      EXPECT_EQ(r.message, "abc");
      seqs.push_back(r.seq);
    });
    ASSERT_TRUE(tail.ok()) << tail.error().message;
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2, 3}));
    const auto parsed = parse_journal(text, "t");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(tail->torn_tail, parsed->torn_tail);
    EXPECT_EQ(tail->torn_bytes, parsed->torn_bytes);
    EXPECT_EQ(tail->torn_bytes, torn ? 16u : 0u);
    auto whole = read_journal(dir_);
    EXPECT_EQ(whole.ok(), !torn);
    if (torn) {
      EXPECT_EQ(whole.error().code, "journal-torn");
    }
  }
}

TEST_F(JournalDir, StopsAtTheFirstBadLineNamingIt) {
  write(three_records(false) + "garbage\n" + three_records(false));
  std::size_t seen = 0;
  auto tail = for_each_transaction(dir_, true, [&](TransactionRecord&) { ++seen; });
  ASSERT_FALSE(tail.ok());
  EXPECT_EQ(tail.error().code, "journal-bad-line");
  EXPECT_NE(tail.error().message.find("journal.jsonl:4:"), std::string::npos);
  EXPECT_EQ(seen, 3u);
}

TEST_F(JournalDir, ChecksInlineMessagesOnlyWhenAsked) {
  TransactionRecord r = full_record();
  std::string line = to_json_line(r, true);
  line.replace(line.find("\"message\":\"abc\""), 15, "\"message\":\"abd\"");
  write(line + "\n");
  auto checked = for_each_transaction(dir_, true, [](TransactionRecord&) {});
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.error().code, "message-corrupt");
  EXPECT_TRUE(for_each_transaction(dir_, false, [](TransactionRecord&) {}).ok());
}

// The file reader reads in blocks (journal/src/reader.cpp: FileLines, 1 MiB); lines that end at,
// just before or just after a block's end, lines longer than a block and torn tails behind
// them are read as the text parser reads the same text.
constexpr std::size_t kBlock = std::size_t{1} << 20;

std::string record_line(std::uint64_t seq, std::size_t message_octets) {
  TransactionRecord r = full_record();
  r.seq = seq;
  r.message.assign(message_octets, 'x');
  r.size = r.message.size();
  r.sha256 = base::sha256_hex(r.message);
  return to_json_line(r, true) + "\n";
}

// Lines of records numbered from `seq` on (advanced) filling exactly `octets` octets.
std::string lines_filling(std::size_t octets, std::uint64_t& seq) {
  constexpr std::size_t kTypical = 1500;
  std::string text;
  while (octets - text.size() > 3 * kTypical) text += record_line(seq++, kTypical);
  // The last one fitted: a message octet more is a line octet more (the digits of size aside).
  auto m = static_cast<std::ptrdiff_t>(kTypical);
  std::string last = record_line(seq, kTypical);
  while (last.size() != octets - text.size()) {
    m += static_cast<std::ptrdiff_t>(octets - text.size()) -
         static_cast<std::ptrdiff_t>(last.size());
    last = record_line(seq, static_cast<std::size_t>(m));
  }
  ++seq;
  return text + last;
}

struct Read {
  std::vector<std::uint64_t> seqs;
  std::vector<std::size_t> sizes;
  Tail tail;
};

class JournalBlocks : public JournalDir {
 protected:
  // `text` as journal.jsonl read by for_each_transaction: the text parser's records and tail.
  void expect_read_as_parsed(const std::string& text) {
    write(text);
    Read file, parsed;
    auto tail = for_each_transaction(dir_, true, [&](TransactionRecord& r) {
      file.seqs.push_back(r.seq);
      file.sizes.push_back(r.message.size());
    });
    ASSERT_TRUE(tail.ok()) << tail.error().message;
    auto ptail = for_each_transaction_in(text, "t", [&](TransactionRecord& r) {
      parsed.seqs.push_back(r.seq);
      parsed.sizes.push_back(r.message.size());
    });
    ASSERT_TRUE(ptail.ok()) << ptail.error().message;
    EXPECT_EQ(file.seqs, parsed.seqs);
    EXPECT_EQ(file.sizes, parsed.sizes);
    EXPECT_EQ(tail->torn_tail, ptail->torn_tail);
    EXPECT_EQ(tail->torn_bytes, ptail->torn_bytes);
  }
};

TEST_F(JournalBlocks, LinesEndingAtABlocksEndReadAsParsed) {
  const std::string torn = R"({"version":1,"se)";
  for (const std::size_t end : {kBlock - 1, kBlock, kBlock + 1, 2 * kBlock, 2 * kBlock + 7}) {
    std::uint64_t seq = 1;
    const std::string head = lines_filling(end, seq);
    ASSERT_EQ(head.size(), end);
    for (const std::string& rest :
         {std::string(), torn, record_line(seq, 10), record_line(seq, 10) + torn}) {
      SCOPED_TRACE(std::to_string(end) + " + " + std::to_string(rest.size()));
      expect_read_as_parsed(head + rest);
    }
  }
}

TEST_F(JournalBlocks, LinesLongerThanABlockReadAsParsed) {
  expect_read_as_parsed(record_line(1, 10) + record_line(2, 3 * kBlock) + record_line(3, 10));
  expect_read_as_parsed(record_line(1, 5 * kBlock / 2));
  expect_read_as_parsed(record_line(1, 10) + std::string(3 * kBlock, 'x'));  // torn
  expect_read_as_parsed(std::string(kBlock, ' '));  // one torn "line", nothing else
}

TEST_F(JournalBlocks, LinesOfEveryAlignmentReadAsParsed) {
  std::string text;
  for (std::uint64_t seq = 1; text.size() < 3 * kBlock; ++seq)
    text += record_line(seq, 200 + (seq * 37) % 2000);
  expect_read_as_parsed(text);
}

TEST_F(JournalBlocks, AnEmptyJournalHasNoRecordsAndNoTornTail) {
  write("");
  std::size_t seen = 0;
  auto tail = for_each_transaction(dir_, true, [&](TransactionRecord&) { ++seen; });
  ASSERT_TRUE(tail.ok()) << tail.error().message;
  EXPECT_EQ(seen, 0u);
  EXPECT_FALSE(tail->torn_tail);
  EXPECT_EQ(tail->torn_bytes, 0u);
}

TEST_F(JournalBlocks, CrlfLineEndsReadAsParsed) {
  // The CR is part of the line (JSON white space after the record, read by the tree reader).
  std::string crlf = three_records(false);
  for (std::size_t at = crlf.find('\n'); at != std::string::npos; at = crlf.find('\n', at + 2))
    crlf.insert(at, "\r");
  expect_read_as_parsed(crlf);
}

TEST_F(JournalBlocks, ABadLineBehindABlocksEndIsNamedByItsNumber) {
  for (const std::size_t end : {kBlock - 3, kBlock, kBlock + 3}) {
    std::uint64_t seq = 1;
    const std::string head = lines_filling(end, seq);
    write(head + "garbage\n" + record_line(seq, 10));
    auto tail = for_each_transaction(dir_, true, [](TransactionRecord&) {});
    ASSERT_FALSE(tail.ok());
    EXPECT_EQ(tail.error().code, "journal-bad-line");
    EXPECT_NE(tail.error().message.find("journal.jsonl:" + std::to_string(seq) + ":"),
              std::string::npos)
        << tail.error().message;
  }
}

TEST_F(JournalDir, AMissingJournalIsAnError) {
  auto r = for_each_transaction(dir_ / "none", true, [](TransactionRecord&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "journal-missing");
}

}  // namespace
}  // namespace dropcheck::journal

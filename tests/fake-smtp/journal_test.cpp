// Journal: round trip, content-addressed messages, torn tails, I/O errors.
#include "fake_smtp/journal.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "base/strings.hpp"
#include "test_util.hpp"

namespace dropcheck::fake_smtp {
namespace {

TransactionRecord sample(std::string message) {
  TransactionRecord r;
  r.session_id = "s-1";
  r.virtual_ms = 900'000;
  r.real_ms = 1'700'000'000'000;
  r.client = "127.0.0.1:40000";
  r.helo_verb = "EHLO";
  r.helo = "fetcher.local";
  r.mail_from = "j\xf6rg@latin1.example";  // not UTF-8: stored as hex
  r.mail_params = "BODY=8BITMIME";
  r.mail_code = 250;
  r.mail_reply = "2.1.0 Ok";
  r.rcpts.push_back({"hans@firma.example", "NOTIFY=NEVER", 250, "2.1.5 Ok", true, false,
                     "hans@firma.example", 0, ""});
  r.rcpts.push_back(
      {"user3@firma3.example", "", 550, "5.7.1 relaying denied", false, false, "", 0, ""});
  r.data_attempted = true;
  r.data_start_code = 354;
  r.data_complete = true;
  r.data_code = 250;
  r.data_reply = "2.0.0 Ok";
  r.accepted = true;
  r.message = std::move(message);
  r.end_reason = "data";
  r.faults = {"rcpt-2-451"};
  r.commands.push_back({1, 2, "MAIL FROM:<x>", 250});
  return r;
}

class JournalStore : public ::testing::TestWithParam<MessageStore> {};

TEST_P(JournalStore, RoundTripWithArbitraryBytes) {
  test::TempDir dir;
  const std::string msg("Subject: \xff\r\n\r\nNUL\0here\rbare CR\n", 30);
  {
    Journal j(dir.path(), false, GetParam());
    auto a = sample(msg);
    j.append(a);
    EXPECT_EQ(a.seq, 1u);
    EXPECT_EQ(a.sha256, base::sha256_hex(msg));
    EXPECT_EQ(a.size, msg.size());
    auto b = sample("");
    b.data_complete = false;  // refused-only transaction: no message file
    b.accepted = false;
    j.append(b);
    EXPECT_EQ(b.seq, 2u);
    EXPECT_TRUE(b.sha256.empty());
  }
  const bool files = GetParam() == MessageStore::files;
  EXPECT_EQ(std::filesystem::exists(message_file(dir.path(), base::sha256_hex(msg))), files);
  auto recs = read_journal(dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 2u);
  const auto& r = (*recs)[0];
  EXPECT_EQ(r.message, msg);
  EXPECT_EQ(r.mail_from, "j\xf6rg@latin1.example");
  EXPECT_EQ(r.virtual_ms, 900'000);
  EXPECT_EQ(r.rcpts.at(1).reply, "5.7.1 relaying denied");
  EXPECT_EQ(r.rcpts.at(0).params, "NOTIFY=NEVER");
  EXPECT_EQ(r.faults, std::vector<std::string>{"rcpt-2-451"});
  EXPECT_EQ(r.commands.at(0).line, "MAIL FROM:<x>");
  EXPECT_EQ(r.message_inline, !files);
  EXPECT_EQ(to_json_line(r, !files), to_json_line(
                                         [&] {
                                           auto c = sample(msg);
                                           c.seq = 1;
                                           c.size = msg.size();
                                           c.sha256 = base::sha256_hex(msg);
                                           return c;
                                         }(),
                                         !files));
  EXPECT_EQ((*recs)[1].seq, 2u);
  EXPECT_TRUE((*recs)[1].message.empty());
}

INSTANTIATE_TEST_SUITE_P(BothStores, JournalStore,
                         ::testing::Values(MessageStore::inline_bytes, MessageStore::files),
                         [](const auto& param_info) {
                           return param_info.param == MessageStore::files ? "files" : "inline";
                         });

// Inline bytes: valid UTF-8 is a readable JSON string, anything else base64; both are checked
// against size and SHA-256 when read.
TEST(Journal, InlineMessageIsReadableTextOrBase64) {
  test::TempDir dir;
  {
    Journal j(dir.path());
    auto a = sample(
        "Subject: gr\xc3\xbc\xc3\x9f"
        "e\r\n\r\n\"quoted\" \\ tab\there\r\n");
    j.append(a);
    auto b = sample(std::string("Subject: \xff\r\n\r\n") + '\0' + "\r\n");
    j.append(b);
  }
  std::ifstream in(journal_file(dir.path()), std::ios::binary);
  std::string l1, l2;
  std::getline(in, l1);
  std::getline(in, l2);
  EXPECT_EQ(l1.find(R"(\u00)"), std::string::npos);  // UTF-8 stays as it is
  EXPECT_NE(l1.find("\"message\":\"Subject: gr\xc3\xbc\xc3\x9f"
                    "e\\r\\n\\r\\n\\\"quoted\\\" \\\\ tab\\there"),
            std::string::npos)
      << l1;
  EXPECT_NE(l2.find("\"message\":{\"base64\":\""), std::string::npos) << l2;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "messages"));
  auto recs = read_journal(dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  EXPECT_EQ((*recs)[1].message, std::string("Subject: \xff\r\n\r\n") + '\0' + "\r\n");
}

// The writer skips eight plain octets at a time: every octet that needs escaping (controls,
// quote, backslash), at every offset of a run, and next to UTF-8, must still come out escaped
// exactly as a JSON library escapes it and read back unchanged.
TEST(Journal, InlineEscapingAtEveryOffset) {
  std::vector<std::string> specials = {
      "\"",   "\\",   "\r",       "\n",   "\t",   std::string(1, '\0'),
      "\x1f", "\x7f", "\xc3\xbc", "\r\n", "\n\r", "\r\r\n"};
  for (const auto& special : specials) {
    for (std::size_t len = 1; len <= 24; ++len) {
      for (std::size_t at = 0; at < len; ++at) {
        std::string msg(len, 'x');
        msg.replace(at, 1, special);
        auto rec = sample(msg);
        rec.size = msg.size();
        rec.sha256 = base::sha256_hex(msg);
        const auto line = to_json_line(rec, true);
        const auto parsed = nlohmann::json::parse(line);
        ASSERT_TRUE(parsed.at("message").is_string()) << len << " " << at;
        EXPECT_EQ(parsed.at("message").get<std::string>(), msg) << len << " " << at;
        const std::string want = nlohmann::json(msg).dump();
        EXPECT_NE(line.find("\"message\":" + want), std::string::npos)
            << "special " << nlohmann::json(special).dump() << " len " << len << " at " << at;
        auto back = from_json_line(line);
        ASSERT_TRUE(back.ok());
        EXPECT_EQ(back->message, msg);
      }
    }
  }
}

TEST(Journal, CorruptInlineMessageIsReported) {
  test::TempDir dir;
  {
    Journal j(dir.path());
    auto a = sample("hello\r\n");
    j.append(a);
  }
  std::string line;
  {
    std::ifstream in(journal_file(dir.path()), std::ios::binary);
    std::getline(in, line);
  }
  const auto at = line.find("hello");
  ASSERT_NE(at, std::string::npos);
  line[at] = 'j';
  std::ofstream(journal_file(dir.path()), std::ios::binary) << line << "\n";
  auto r = read_journal(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "message-corrupt");
  EXPECT_NE(r.error().message.find("journal.jsonl:1"), std::string::npos) << r.error().message;
}

TEST(Journal, TornLastLineIsReportedNeverMisread) {
  test::TempDir dir;
  {
    Journal j(dir.path());
    auto a = sample("x\r\n");
    j.append(a);
  }
  const std::string line = to_json_line(sample("y"));
  {
    std::ofstream f(journal_file(dir.path()), std::ios::app | std::ios::binary);
    f << line.substr(0, line.size() / 2);
  }
  auto strict = read_journal(dir.path());
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().code, "journal-torn");
  auto lenient = read_journal_contents(dir.path());
  ASSERT_TRUE(lenient.ok());
  EXPECT_TRUE(lenient->torn_tail);
  EXPECT_EQ(lenient->records.size(), 1u);
  // Reopening cuts the torn tail and continues numbering.
  Journal j(dir.path());
  EXPECT_EQ(j.recovered_torn_bytes(), line.size() / 2);
  auto b = sample("z\r\n");
  j.append(b);
  EXPECT_EQ(b.seq, 2u);
  auto again = read_journal(dir.path());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->size(), 2u);
}

TEST(Journal, SessionRecordsRoundTripAndTornTail) {
  test::TempDir dir;
  SessionRecord s;
  s.session_id = "s-1";
  s.client = "127.0.0.1:40000";
  s.greeting_code = 421;
  s.helo = "h\xe9lo";  // not UTF-8
  s.end_reason = "closed";
  s.commands.push_back({1, 2, "EHLO x", 250});
  s.faults = {"connect-421"};
  {
    Journal j(dir.path());
    j.append_session(s);
    EXPECT_EQ(s.seq, 1u);
  }
  std::ofstream(sessions_file(dir.path()), std::ios::app | std::ios::binary) << "{\"version\":1,";
  auto r = read_sessions(dir.path());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->torn_tail);
  ASSERT_EQ(r->records.size(), 1u);
  EXPECT_EQ(to_json_line(r->records[0]), to_json_line(s));
  Journal j(dir.path());  // cuts the torn tail and continues
  EXPECT_EQ(j.session_records(), 1u);
  EXPECT_EQ(j.recovered_torn_bytes(), 13u);  // {"version":1,
  j.append_session(s);
  EXPECT_EQ(s.seq, 2u);
  r = read_sessions(dir.path());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->torn_tail);
  EXPECT_EQ(r->records.size(), 2u);
  // A journal directory without sessions.jsonl (older journals) has no session records.
  test::TempDir empty;
  auto none = read_sessions(empty.path());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->records.empty());
}

TEST(Journal, BadLineNamesLineNumber) {
  test::TempDir dir;
  { Journal j(dir.path()); }
  std::ofstream(journal_file(dir.path()), std::ios::binary) << "{\"version\":1}\n";
  auto r = read_journal(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "journal-bad-line");
  EXPECT_NE(r.error().message.find("journal.jsonl:1"), std::string::npos) << r.error().message;
}

TEST(Journal, CorruptOrMissingMessageFile) {
  test::TempDir dir;
  Journal j(dir.path(), false, MessageStore::files);
  auto a = sample("hello\r\n");
  j.append(a);
  std::ofstream(message_file(dir.path(), a.sha256), std::ios::binary) << "HELLO\r\n";
  auto r = read_journal(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "message-corrupt");
  std::filesystem::remove(message_file(dir.path(), a.sha256));
  r = read_journal(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "message-missing");
  auto no_msgs = read_journal_contents(dir.path(), false);
  EXPECT_TRUE(no_msgs.ok());
}

TEST(Journal, MissingJournal) {
  test::TempDir dir;
  auto r = read_journal(dir.path() / "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "journal-missing");
}

TEST(Journal, IoFailureThrowsNamingPath) {
  if (::geteuid() == 0) {
    // root ignores permissions: use a path under a regular file instead.
    test::TempDir dir;
    std::ofstream(dir.path() / "file") << "x";
    try {
      Journal j(dir.path() / "file" / "sub");
      FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find((dir.path() / "file").string()), std::string::npos)
          << e.what();
    }
    return;
  }
  test::TempDir dir;
  ::chmod(dir.path().c_str(), 0500);
  EXPECT_THROW(Journal j(dir.path() / "sub"), std::runtime_error);
  ::chmod(dir.path().c_str(), 0700);
}

TEST(Journal, FsyncModeWorks) {
  for (const auto store : {MessageStore::inline_bytes, MessageStore::files}) {
    test::TempDir dir;
    Journal j(dir.path(), true, store);
    auto a = sample("synced\r\n");
    j.append(a);
    auto r = read_journal(dir.path());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->front().message, "synced\r\n");
  }
}

// Group commit: append() leaves syncing to the caller; one sync() covers every record so far.
TEST(Journal, GroupCommitSyncsOnDemand) {
  test::TempDir dir;
  Journal j(dir.path(), true);
  j.set_group_commit(true);
  EXPECT_TRUE(j.group_commit());
  auto a = sample("a\r\n");
  auto b = sample("b\r\n");
  j.append(a);
  j.append(b);
  EXPECT_EQ(j.synced(), 0u);
  j.sync();
  EXPECT_EQ(j.synced(), 2u);
  j.sync();  // nothing new: no-op
  EXPECT_EQ(j.synced(), 2u);
  // Without fsync there is nothing to group.
  test::TempDir other;
  Journal k(other.path());
  k.set_group_commit(true);
  EXPECT_FALSE(k.group_commit());
}

// Appends from several threads (fake-smtp --threads): every record once, seq 1..n in file
// order, no interleaved bytes.
TEST(Journal, ConcurrentAppendsKeepLinesWhole) {
  test::TempDir dir;
  constexpr int kThreads = 4;
  constexpr int kEach = 200;
  {
    Journal j(dir.path());
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
      ts.emplace_back([&j, t] {
        for (int i = 0; i < kEach; ++i) {
          auto r = sample("From: t" + std::to_string(t) + "\r\n\r\n" + std::string(1000, 'x'));
          j.append(r);
        }
      });
    for (auto& t : ts) t.join();
    EXPECT_EQ(j.records(), static_cast<std::uint64_t>(kThreads * kEach));
  }
  auto recs = read_journal(dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), static_cast<std::size_t>(kThreads * kEach));
  for (std::size_t i = 0; i < recs->size(); ++i) EXPECT_EQ((*recs)[i].seq, i + 1);
}

}  // namespace
}  // namespace dropcheck::fake_smtp

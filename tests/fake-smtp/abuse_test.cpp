// fake-smtp under abuse (issue 16): streamed messages stored byte-identical in both stores, the
// spool emptied, file modes, refused connections recorded, deadlines a trickling client cannot
// move, smuggling recorded in the journal.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "base/clock.hpp"
#include "fake_smtp/receiver.hpp"
#include "protocol/dot.hpp"
#include "test_util.hpp"

namespace dropcheck::fake_smtp {
namespace {

using test::talk;

const std::string kHead =
    "EHLO fetcher\r\nMAIL FROM:<a@provider.example>\r\nRCPT TO:<hans@firma.example>\r\nDATA\r\n";

Policy local_policy() {
  Policy p;
  p.local_domains = {"firma.example"};
  return p;
}

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777u;
}

class StreamedStore : public ::testing::TestWithParam<MessageStore> {};

TEST_P(StreamedStore, MessageStreamedThroughTheSpoolIsStoredByteIdentical) {
  test::TempDir dir;
  base::VirtualClock clock{base::Millis{1}};
  std::string body;
  for (int i = 0; i < 3000; ++i)
    body += (i % 5 == 0 ? ".dot " : "line ") + std::to_string(i) + "\r\n";
  body += std::string(100'000, 'z') + "\r\n";  // one line past the decoder's bound
  std::string wire;
  protocol::dot_stuff(body, wire);
  {
    Journal journal(dir.path(), false, GetParam());
    Receiver r(local_policy(), journal, clock);
    const std::string out = talk(r, kHead + wire + "QUIT\r\n", 4096);
    EXPECT_NE(out.find("250 2.0.0 Ok: queued"), std::string::npos) << out;
  }
  auto back = read_journal(dir.path());
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].message, body);
  EXPECT_EQ((*back)[0].size, body.size());
  EXPECT_TRUE(std::filesystem::is_empty(spool_dir(dir.path())));
}

TEST_P(StreamedStore, AbortedMessageLeavesNoSpool) {
  test::TempDir dir;
  base::VirtualClock clock{base::Millis{1}};
  Journal journal(dir.path(), false, GetParam());
  Receiver r(local_policy(), journal, clock);
  talk(r, kHead + "half a message\r\n");  // then the peer goes away
  EXPECT_TRUE(std::filesystem::is_empty(spool_dir(dir.path())));
  auto back = read_journal(dir.path());
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_FALSE((*back)[0].data_complete);
}

INSTANTIATE_TEST_SUITE_P(Stores, StreamedStore,
                         ::testing::Values(MessageStore::inline_bytes, MessageStore::files));

TEST(FakeSmtpAbuse, SpoolLeftByACrashIsRemovedWhenTheJournalOpens) {
  test::TempDir dir;
  { Journal j(dir.path()); }
  std::ofstream(spool_dir(dir.path()) / "123-1.eml") << "half";
  Journal j(dir.path());
  EXPECT_TRUE(std::filesystem::is_empty(spool_dir(dir.path())));
}

TEST(FakeSmtpAbuse, JournalFilesAreOwnerOnlyUnlessAskedOtherwise) {
  test::TempDir dir;
  base::VirtualClock clock{base::Millis{1}};
  {
    Journal journal(dir.path() / "a", false, MessageStore::files);
    Receiver r(local_policy(), journal, clock);
    talk(r, kHead + "Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n");
  }
  auto back = read_journal(dir.path() / "a");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(mode_of(journal_file(dir.path() / "a")), 0600u);
  EXPECT_EQ(mode_of(sessions_file(dir.path() / "a")), 0600u);
  EXPECT_EQ(mode_of(message_file(dir.path() / "a", back->at(0).sha256)), 0600u);
  { Journal j(dir.path() / "a", false, MessageStore::inline_bytes, 0644); }
  EXPECT_EQ(mode_of(journal_file(dir.path() / "a")), 0644u);
}

TEST(FakeSmtpAbuse, RefusedConnectionGetsASessionRecord) {
  test::TempDir dir;
  base::VirtualClock clock{base::Millis{1}};
  Journal journal(dir.path());
  Receiver r(local_policy(), journal, clock);
  std::vector<std::string> log;
  r.set_log([&](std::string_view l) { log.emplace_back(l); });
  r.record_refused(net::Peer{"127.0.0.1", 40001, false}, net::kRefusedTooMany);
  auto s = read_sessions(dir.path());
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->records.size(), 1u);
  EXPECT_EQ(s->records[0].end_reason, "too-many-sessions");
  EXPECT_EQ(s->records[0].greeting_code, 421);
  EXPECT_EQ(s->records[0].client, "127.0.0.1:40001");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("reason=too-many-sessions"), std::string::npos);
}

TEST(FakeSmtpAbuse, PartialCommandPinsTheInputDeadline) {
  test::TempDir dir;
  base::VirtualClock clock{base::Millis{1}};
  Journal journal(dir.path());
  Policy p = local_policy();
  p.idle_timeout = std::chrono::seconds(2);
  Receiver r(p, journal, clock);
  auto s = r.make_session(net::Peer{"127.0.0.1", 40000, false});
  std::string out = s->start();
  EXPECT_EQ(s->input_deadline(), std::chrono::steady_clock::time_point::max());
  s->receive("EH", out);
  const auto pinned = s->input_deadline();
  EXPECT_LE(pinned, std::chrono::steady_clock::now() + std::chrono::seconds(2));
  s->receive("L", out);  // more octets of the same command: the deadline stays
  EXPECT_EQ(s->input_deadline(), pinned);
  s->receive("O x\r\nMAIL FROM:<a@b>\r\n", out);  // complete; a transaction is open
  EXPECT_LE(s->input_deadline(), std::chrono::steady_clock::now() + p.transaction_timeout);
  EXPECT_GT(s->input_deadline(), pinned);
  s->finish("peer-closed");
}

TEST(FakeSmtpAbuse, SmugglingIsOneMessageWithBareLfRecorded) {
  test::TempDir dir;
  base::VirtualClock clock{base::Millis{1}};
  Journal journal(dir.path());
  Receiver r(local_policy(), journal, clock);
  talk(r, kHead +
              "one\n.\nMAIL FROM:<forged@x>\r\nRCPT TO:<hans@firma.example>\r\nDATA\r\n"
              "two\r\n.\r\nQUIT\r\n");
  auto back = read_journal(dir.path());
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_TRUE((*back)[0].bare_lf_in_data);
  EXPECT_EQ((*back)[0].mail_from, "a@provider.example");
  EXPECT_NE((*back)[0].message.find("MAIL FROM:<forged@x>"), std::string::npos);
}

}  // namespace
}  // namespace dropcheck::fake_smtp

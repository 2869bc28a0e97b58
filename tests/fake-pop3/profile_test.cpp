#include "fake_pop3/profile.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace dropcheck::fake_pop3 {
namespace {

TEST(Profile, EveryBuiltinLoadsAndIsNamedAfterItsFile) {
  const auto names = builtin_profile_names();
  for (const char* required :
       {"none", "envelope-to", "x-envelope-to", "x-original-to", "x-rcpt-to", "x-mdrcpt-to",
        "x-recipient-to", "delivered-to", "qmail", "nonlocking"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
  }
  for (const auto& n : names) {
    const auto p = load_profile(n);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->name, n);
    EXPECT_FALSE(p->description.empty()) << n;
  }
}

TEST(Profile, BuiltinsMatchTheFilesOnDisk) {
  for (const auto& n : builtin_profile_names()) {
    const auto path = std::string(DROPCHECK_FAKE_POP3_PROFILES) + "/" + n + ".yaml";
    const auto from_file = load_profile(path);
    ASSERT_TRUE(from_file.ok()) << from_file.error().message;
    EXPECT_EQ(from_file->name, n);
  }
}

TEST(Profile, StampingFieldsOfKeyProfiles) {
  const auto x = load_profile("x-envelope-to");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->envelope_header, "X-Envelope-To");
  EXPECT_TRUE(x->copy_per_recipient);
  EXPECT_TRUE(x->return_path);
  EXPECT_EQ(x->locking, Profile::Locking::exclusive);
  const auto e = load_profile("envelope-to");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->envelope_style, EnvelopeStyle::list);
  EXPECT_FALSE(e->copy_per_recipient);
  const auto q = load_profile("qmail");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->qmail_prefix);
  EXPECT_EQ(q->envelope_header, "Delivered-To");
  const auto n = load_profile("nonlocking");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->locking, Profile::Locking::none);
  const auto none = load_profile("none");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->envelope_header.empty());
  const auto flaky = load_profile("flaky");
  ASSERT_TRUE(flaky.ok());
  EXPECT_EQ(flaky->faults.err_on_retr, std::vector<std::size_t>{2});
  EXPECT_EQ(flaky->faults.list_size_delta, 7);
}

TEST(Profile, MinimalProfileGetsDefaults) {
  const auto p = parse_profile("version: 1\nname: m\n", "t.yaml");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->name, "m");
  EXPECT_TRUE(p->envelope_header.empty());
  EXPECT_EQ(p->idle_timeout_s, 600);
}

void expect_error(std::string_view yaml, std::string_view needle) {
  const auto p = parse_profile(yaml, "t.yaml");
  ASSERT_FALSE(p.ok()) << yaml;
  EXPECT_EQ(p.error().code, "bad-profile");
  EXPECT_NE(p.error().message.find(needle), std::string::npos) << p.error().message;
}

TEST(Profile, ErrorsNameFileLineAndField) {
  expect_error("name: m\n", "field 'version': missing");
  expect_error("version: 2\nname: m\n", "t.yaml:1:10: field 'version': expected 1 to 1");
  expect_error("version: 1\n", "field 'name': missing");
  expect_error("version: 1\nname: m\ncolour: red\n", "t.yaml:3:1: field 'colour': unknown key");
  expect_error("version: 1\nname: m\nstamp:\n  envelope_style: both\n",
               "t.yaml:4:19: field 'stamp.envelope_style': expected one of per-line, list");
  expect_error("version: 1\nname: m\nstamp:\n  copy_per_recipent: true\n",
               "t.yaml:4:3: field 'stamp.copy_per_recipent': unknown key");
  expect_error("version: 1\nname: m\npop3:\n  locking: maybe\n", "pop3.locking");
  expect_error("version: 1\nname: m\npop3:\n  login_delay_s: soon\n", "expected an integer");
  expect_error("version: 1\nname: m\npop3:\n  login_delay_s: -5\n", "pop3.login_delay_s");
  expect_error("version: 1\nname: m\npop3:\n  apop: yes\n", "expected true or false");
  expect_error("version: 1\nname: m\npop3:\n  expire: sometimes\n", "pop3.expire");
  expect_error("version: 1\nname: m\nstamp:\n  envelope_header: \"X Bad\"\n",
               "not a header field name");
  expect_error("version: 1\nname: m\nfaults:\n  err_on_retr: 3\n", "expected a list");
  expect_error("version: 1\nname: m\nfaults:\n  drop_in_retr_after: 3\n",
               "needs faults.drop_in_retr");
  expect_error(
      "version: 1\nname: m\nstamp:\n  envelope_header: Delivered-To\n  delivered_to: mailbox\n",
      "stamp.delivered_to");
  expect_error("version: 1\nname: m\nstamp:\n  received_by: \"mx provider\"\n",
               "t.yaml:4:16: field 'stamp.received_by': not a DNS host name");
  expect_error("version: 1\nname: m\nstamp:\n  received_inner_by: store.example\n",
               "stamp.received_inner_by': needs stamp.received_by");
  expect_error("version: 1\nname: [\n", "t.yaml:");
  expect_error("- a\n- b\n", "expected a mapping");
  expect_error("", "empty profile");
}

TEST(Profile, LoadsFromFileAndReportsUnknownName) {
  const auto dir = std::filesystem::temp_directory_path() / "dropcheck-profile-test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "mine.yaml").string();
  {
    std::ofstream f(path);
    f << "version: 1\nname: mine\nstamp:\n  envelope_header: X-Foo\n  bogus: 1\n";
  }
  const auto bad = load_profile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(path + ":5:3: field 'stamp.bogus'"), std::string::npos)
      << bad.error().message;
  {
    std::ofstream f(path);
    f << "version: 1\nname: mine\nstamp:\n  envelope_header: X-Foo\n";
  }
  const auto good = load_profile(path);
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->envelope_header, "X-Foo");
  const auto missing = load_profile("no-such-profile");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "no-profile");
  EXPECT_NE(missing.error().message.find("x-envelope-to"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dropcheck::fake_pop3

// The scenario loader: strict (issue 15 item 7) and independent of the judged parser (item 6).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {
namespace {

namespace fs = std::filesystem;

const std::string kHead = "version: 1\nname: t\nworld: {local_domains: [firma.example]}\n";

std::string one_message(const std::string& extra = "") {
  return "messages:\n  - {from: a@b.example, to: [x@firma.example], headers: \"Subject: x\"" +
         extra + "}\n";
}

std::string load_error(const std::string& yaml, const std::string& source = "t.yaml") {
  auto s = parse_scenario(yaml, source);
  return s.ok() ? std::string("(loaded)") : s.error().message;
}

// Item 6: the truth is what the scenario wrote, not what mail::normalize_address makes of it;
// the analyzer and the expectation matching compare by their own rules.
TEST(ScenarioTruth, AddressesAreKeptAsWritten) {
  auto s = parse_scenario(kHead +
                              "messages:\n  - {from: Alice@Sender.Example, to: [B@Firma.Example],"
                              " headers: \"Subject: x\"}\n"
                              "expect:\n  - {type: lost-recipient, recipient: B@FIRMA.example}\n",
                          "t.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->messages.at(0).envelope_from, "Alice@Sender.Example");
  EXPECT_EQ(s->messages.at(0).envelope_to, std::vector<std::string>{"B@Firma.Example"});
  EXPECT_EQ(s->expect.any_of.at(0).at(0).recipient, "B@FIRMA.example");
}

TEST(ScenarioTruth, MixedCaseRecipientsAreJudgedLikeLowerCaseOnes) {
  auto s = parse_scenario(
      "version: 1\nname: t\nworld: {local_domains: [Firma.Example], users: [A@Firma.Example]}\n"
      "messages:\n  - {id: m, from: x@sender.example, to: [a@FIRMA.example],"
      " headers: \"Subject: x\"}\n",
      "t.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const ScenarioResult r = run_scenario(*s, {});
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.status(), "ok") << (r.unexpected.empty() ? "" : r.unexpected.front());
}

// Item 7: strictness.
TEST(ScenarioLoader, AScalarWhereAListBelongsIsAnError) {
  EXPECT_NE(
      load_error("version: 1\nname: t\nworld: {local_domains: firma.example}\n" + one_message())
          .find("t.yaml:3:24: world.local_domains: expected a list of strings (write "
                "[firma.example] for one)"),
      std::string::npos)
      << load_error("version: 1\nname: t\nworld: {local_domains: firma.example}\n" + one_message());
  EXPECT_NE(load_error(kHead + "messages:\n  - {from: a@b.example, to: x@firma.example, "
                               "headers: \"Subject: x\"}\n")
                .find("messages[0].to: expected a list"),
            std::string::npos);
}

TEST(ScenarioLoader, DuplicateKeysAreAnError) {
  const std::string e = load_error(kHead + "name: u\n" + one_message());
  EXPECT_NE(e.find("t.yaml:4:1: name: duplicate key"), std::string::npos) << e;
  const std::string nested =
      load_error(kHead + "fetcher: {keep: true, keep: false}\n" + one_message());
  EXPECT_NE(nested.find("fetcher.keep: duplicate key"), std::string::npos) << nested;
}

TEST(ScenarioLoader, TextThatIsNotUtf8IsAnError) {
  const std::string e = load_error(kHead + "description: caf\xE9\n" + one_message());
  EXPECT_NE(e.find("t.yaml:4:17: not UTF-8 text (octet 0xE9)"), std::string::npos) << e;
}

TEST(ScenarioLoader, InvalidDomainNamesAreAnError) {
  struct Case {
    std::string yaml, want;
  };
  const std::vector<Case> cases = {
      {"version: 1\nname: t\nworld: {local_domains: [firma..example]}\n" + one_message(),
       "world.local_domains: not a domain name: firma..example"},
      {"version: 1\nname: t\nworld: {local_domains: [-firma.example]}\n" + one_message(),
       "not a domain name"},
      {kHead + "messages:\n  - {from: a@b.example, to: [x@firma_example], headers: \"S: x\"}\n",
       "messages[0].to: not an address (local@domain): x@firma_example"},
      {kHead + "messages:\n  - {from: a@1.2.3.999, to: [x@firma.example], headers: \"S: x\"}\n",
       "messages[0].from: not an address"},
      {kHead + "provider: {profile: none, hosts: [\"bad host\"]}\n" + one_message(),
       "provider.hosts: not a domain name"},
      {"version: 1\nname: t\nworld: {local_domains: [firma.example], aliases: {\"info@x_y\": "
       "a@firma.example}}\n" +
           one_message(),
       "world.aliases: not an address (local@domain): info@x_y"},
  };
  for (const auto& c : cases)
    EXPECT_NE(load_error(c.yaml).find(c.want), std::string::npos) << load_error(c.yaml) << "\n"
                                                                  << c.yaml;
}

TEST(ScenarioLoader, WhatAScenarioGeneratesIsBounded) {
  // Five lines asking for 100 x 30 MB: refused at load, naming the place, before allocating.
  const std::string e =
      load_error(kHead +
                 "messages:\n  - {from: a@b.example, to: [x@firma.example], headers: \"S: x\","
                 " body_size: 30000000, repeat: 100}\n");
  EXPECT_NE(e.find("t.yaml:5:5: messages[0]: the scenario would generate more than 256 MiB"),
            std::string::npos)
      << e;
  // Many small entries add up too: the bound is on the whole scenario.
  std::string many = kHead + "messages:\n";
  for (int i = 0; i < 11; ++i)
    many += "  - {from: a@b.example, to: [x@firma.example], headers: \"S: x\", repeat: 10000}\n";
  const std::string m = load_error(many);
  EXPECT_NE(m.find("messages[10].repeat: the scenario would have more than 100000 messages"),
            std::string::npos)
      << m;
}

class ProfilePaths : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dropcheck-loader-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "profiles");
    std::ofstream(dir_ / "profiles" / "mine.yaml")
        << "version: 1\nname: mine\nstamp: {envelope_header: X-Original-To}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ProfilePaths, ARelativeProfilePathIsTheScenarioFilesNeighbour) {
  const fs::path file = dir_ / "s.yaml";
  std::ofstream(file) << kHead << "provider: {profile: profiles/mine.yaml}\n" << one_message();
  auto s = load_scenario_file(file.string());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->profile, (dir_ / "profiles" / "mine.yaml").string());
}

TEST_F(ProfilePaths, AMissingOrBrokenProfileIsALoadError) {
  const fs::path file = dir_ / "s.yaml";
  std::ofstream(file) << kHead << "provider: {profile: profiles/none.yaml}\n" << one_message();
  auto s = load_scenario_file(file.string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(file.string() + ":4:21: provider.profile:"), std::string::npos)
      << s.error().message;
  std::ofstream(dir_ / "profiles" / "broken.yaml") << "version: 1\nname: b\nstamp: [\n";
  std::ofstream(file) << kHead << "provider: {profile: none}\ntimeline: {cycles: 2, drift: "
                      << "{before_cycle: 2, profile: profiles/broken.yaml}}\n"
                      << one_message();
  auto d = load_scenario_file(file.string());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("timeline.drift.profile:"), std::string::npos)
      << d.error().message;
}

}  // namespace
}  // namespace dropcheck::runner

#include <gtest/gtest.h>

#include "fetcher/config.hpp"

namespace dropcheck::fetcher {
namespace {

constexpr const char* kGood = R"(version: 1
name: acme
pop3: {host: 127.0.0.1, port: 1110, user: catchall, password: pw}
smtp: {host: 127.0.0.1, port: 2525, lmtp: true}
routing:
  envelope:
    - {header: Delivered-To, occurrence: 1, qmail_prefix: true}
  local_domains: [Firma.Example]
  aliases: {info@firma.example: a@firma.example}
  fallback: postmaster@firma.example
keep: true
defect: no-strip
dedup_retention: 7d
)";

TEST(Config, ParsesEveryField) {
  auto c = parse_config(kGood, "good.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->name, "acme");
  EXPECT_EQ(c->pop3.port, 1110);
  EXPECT_TRUE(c->smtp.lmtp);
  ASSERT_EQ(c->routing.envelope.size(), 1u);
  EXPECT_EQ(c->routing.envelope[0].header, "Delivered-To");
  EXPECT_EQ(c->routing.envelope[0].occurrence, 1);
  EXPECT_TRUE(c->routing.envelope[0].strip_qmail_prefix);
  EXPECT_EQ(c->routing.local_domains, std::vector<std::string>{"firma.example"});
  EXPECT_EQ(c->routing.aliases.at("info@firma.example"), "a@firma.example");
  EXPECT_TRUE(c->keep);
  EXPECT_EQ(c->defect, Defect::no_strip);
  EXPECT_EQ(c->dedup_retention, std::chrono::hours(24 * 7));
  EXPECT_EQ(default_config().dedup_retention, std::chrono::hours(24 * 30));
  // The default strip list covers every known envelope header and Bcc.
  EXPECT_EQ(c->routing.strip_headers.size(), 8u);
}

struct BadCase {
  const char* yaml;
  const char* expect;  // substring of the error
};

class ConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrors, NameFileLineAndField) {
  auto c = parse_config(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find(GetParam().expect), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("bad.yaml"), std::string::npos) << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    All, ConfigErrors,
    ::testing::Values(
        BadCase{"name: x\n", "version"},
        BadCase{"version: 2\n", "unsupported version"},
        BadCase{"version: 1\nbogus: 1\n", "bad.yaml:2:1: bogus: unknown key"},
        BadCase{"version: 1\npop3: {user: u, password: p, tls: maybe}\n", "pop3.tls"},
        BadCase{"version: 1\npop3: {user: u, password: p, port: 70000}\n", "pop3.port"},
        BadCase{"version: 1\npop3: {user: u, password: p}\nsmtp: {}\nrouting: {}\n",
                "routing.local_domains"},
        BadCase{"version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
                "routing: {local_domains: [a.example]}\ndefect: weird\n",
                "defect"},
        BadCase{"version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
                "routing: {local_domains: [a.example]}\ndedup_retention: 5m\n",
                "bad.yaml:5:18: dedup_retention"},
        BadCase{"version: 1\npop3: [\n", "syntax error"}));

}  // namespace
}  // namespace dropcheck::fetcher

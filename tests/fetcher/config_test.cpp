#include "fetcher/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "client/connect.hpp"

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
        BadCase{"name: x\n", "version"}, BadCase{"version: 2\n", "unsupported version"},
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
        BadCase{"version: 1\npop3: [\n", "syntax error"},
        // Item 14: every mailbox routing can name is local, or RCPTs would go out.
        BadCase{"version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
                "routing: {local_domains: [a.example], aliases: {x@a.example: y@b.example}}\n",
                "bad.yaml:4:62: routing.aliases: y@b.example is not at a local domain"},
        BadCase{"version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
                "routing: {local_domains: [a.example], fallback: pm@a.example.org}\n",
                "bad.yaml:4:49: routing.fallback: pm@a.example.org is not at a local domain"},
        BadCase{"version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
                "routing: {local_domains: [a.example], users: [u@a.example, v@b.example]}\n",
                "bad.yaml:4:60: routing.users: v@b.example is not at a local domain"},
        // Item 1: a host is an IP literal or a DNS name, checked at load.
        BadCase{"version: 1\npop3: {host: pop provider.example, user: u, password: p}\n",
                "bad.yaml:2:14: pop3.host"},
        BadCase{"version: 1\npop3: {user: u, password: p}\nsmtp: {host: 'mx/25'}\n",
                "bad.yaml:3:14: smtp.host"}));

TEST(Config, HostMustBeAnIpLiteralOrADnsName) {
  for (const char* good :
       {"localhost", "pop.provider.example", "POP3.Provider-1.example", "pop.provider.example.",
        "127.0.0.1", "::1", "2001:db8::25", "xn--bcher-kva.example", "a"}) {
    EXPECT_TRUE(client::valid_host(good)) << good;
  }
  const std::string label63(63, 'a');
  EXPECT_TRUE(client::valid_host(label63 + ".example"));
  std::string long_name;  // 4 x 63 + 3 dots = 255 > 253
  for (int i = 0; i < 4; ++i) long_name += (i ? "." : "") + label63;
  for (const std::string& bad :
       {std::string(""), std::string(" "), std::string("pop provider.example"),
        std::string("pop.provider.example/"), std::string("user@pop.provider.example"),
        std::string("pop.provider.example:110"), std::string("-pop.example"),
        std::string("pop-.example"), std::string("pop..example"), std::string("."),
        std::string("[::1]"), std::string("1.2.3.999"), std::string("1.2.3"),
        std::string("pop_3.example"), label63 + "a.example", long_name,
        std::string("pop.example\n"), std::string("p\xc3\xb6p.example")}) {
    EXPECT_FALSE(client::valid_host(bad)) << bad;
  }
}

TEST(Config, HostsAreCheckedAtLoadAndGoodOnesKept) {
  auto c = parse_config(
      "version: 1\npop3: {host: pop.provider.example, user: u, password: p}\n"
      "smtp: {host: '::1'}\nrouting: {local_domains: [a.example]}\n",
      "h.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->pop3.host, "pop.provider.example");
  EXPECT_EQ(c->smtp.host, "::1");
}

// Item 11: From is used for a sender only where the configuration asks for it.
TEST(Config, SenderFromHeaderIsOffUnlessAskedFor) {
  auto off = parse_config(kGood, "good.yaml");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->routing.sender_from_header);
  std::string yaml = kGood;
  yaml.replace(yaml.find("  fallback:"), 0, "  sender_from_header: true\n");
  auto on = parse_config(yaml, "good.yaml");
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_TRUE(on->routing.sender_from_header);
}

// Item 13: Delivered-To without an occurrence reads only the topmost line (the provider's own;
// forwarding hops below it name earlier recipients); other headers read every line.
TEST(Config, DeliveredToDefaultsToTheTopmostLine) {
  const auto envelope = [](const std::string& e) {
    auto c = parse_config(
        "version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
        "routing: {local_domains: [a.example], envelope: " +
            e + "}\n",
        "d.yaml");
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c.ok() ? c->routing.envelope : std::vector<mail::EnvelopeSpec>{};
  };
  EXPECT_EQ(envelope("Delivered-To").at(0).occurrence, 1);
  EXPECT_EQ(envelope("delivered-to").at(0).occurrence, 1);
  EXPECT_EQ(envelope("{header: Delivered-To, qmail_prefix: true}").at(0).occurrence, 1);
  EXPECT_EQ(envelope("[X-Original-To, Delivered-To]").at(1).occurrence, 1);
  EXPECT_EQ(envelope("X-Envelope-To").at(0).occurrence, 0);
  EXPECT_EQ(envelope("{header: Delivered-To, occurrence: 0}").at(0).occurrence, 0);
  EXPECT_EQ(envelope("{header: Delivered-To, occurrence: 2}").at(0).occurrence, 2);
}

// Issue 21: Received is read on the provider's own line only, so its host is required.
TEST(Config, ReceivedNeedsTheProvidersHostName) {
  const auto load = [](const std::string& e) {
    return parse_config(
        "version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
        "routing:\n  local_domains: [a.example]\n  envelope: " +
            e + "\n",
        "r.yaml");
  };
  auto ok = load("{header: Received, by: MX.Provider.Example}");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->routing.envelope.at(0).received_by, "MX.Provider.Example");
  EXPECT_EQ(ok->routing.envelope.at(0).occurrence, 0);
  for (const auto& [e, want] : std::vector<std::pair<std::string, std::string>>{
           {"Received", "r.yaml:6:13: routing.envelope.by: missing"},
           {"{header: received}", "r.yaml:6:13: routing.envelope.by: missing"},
           {"[X-Envelope-To, {header: Received}]", "routing.envelope[1].by: missing"},
           {"{header: Received, by: 'a b'}", "routing.envelope.by: 'a b' is no DNS host name"},
           {"{header: X-Envelope-To, by: mx.example}", "routing.envelope.by: only with header"},
           {"{header: Received, by: mx.example, qmail_prefix: true}", "qmail_prefix: not with"}}) {
    SCOPED_TRACE(e);
    auto c = load(e);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find(want), std::string::npos) << c.error().message;
  }
}

// Item 2: README's config block lists every key the loader accepts.
TEST(Config, ReadmeConfigBlockListsEveryKey) {
  std::ifstream in(std::string(DROPCHECK_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(in) << "README.md";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  // The one-account block and the accounts: block after it.
  const auto start = readme.find("```yaml", readme.find("### Fetcher core configuration"));
  ASSERT_NE(start, std::string::npos);
  const auto second = readme.find("```yaml", readme.find("#### Several mailboxes", start));
  ASSERT_NE(second, std::string::npos);
  const std::string block = readme.substr(start, readme.find("```\n", start + 7) - start) +
                            readme.substr(second, readme.find("```\n", second + 7) - second);
  for (const std::string& key : config_keys()) {
    const std::string leaf = key.substr(key.rfind('.') + 1);
    const bool listed = block.find("\n" + leaf + ":") != std::string::npos ||
                        block.find(" " + leaf + ":") != std::string::npos ||
                        block.find("{" + leaf + ":") != std::string::npos;
    EXPECT_TRUE(listed) << key << " is not in README.md's fetcher config block";
  }
  EXPECT_GE(config_keys().size(), 37u);
}

}  // namespace
}  // namespace dropcheck::fetcher

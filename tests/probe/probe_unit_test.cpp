// Pure parts of the probe: header observation, endpoints, CAPA and scan
// listings, inference from synthetic facts, output escaping.
#include <gtest/gtest.h>

#include "probe/advice.hpp"
#include "probe/observe.hpp"
#include "probe/probe.hpp"
#include "protocol/pop3_capa.hpp"

namespace dropcheck::probe {
namespace {

TEST(Observe, CandidatesKnownAndLookAlikes) {
  EXPECT_TRUE(is_envelope_candidate("X-Envelope-To"));
  EXPECT_TRUE(is_envelope_candidate("delivered-to"));
  EXPECT_TRUE(is_envelope_candidate("X-Apparently-To"));
  EXPECT_TRUE(is_envelope_candidate("X-Real-Rcpt"));
  EXPECT_FALSE(is_envelope_candidate("To"));
  EXPECT_FALSE(is_envelope_candidate("Reply-To"));
  EXPECT_FALSE(is_envelope_candidate("X-Reply-To"));
  EXPECT_FALSE(is_envelope_candidate("In-Reply-To"));
  EXPECT_FALSE(is_envelope_candidate("X-To"));
}

TEST(Observe, HeaderSection) {
  const auto o = observe_header(
      "Return-Path: <>\r\nX-Envelope-To: a@Firma.Example\r\nX-Envelope-To:\r\n "
      "b@firma.example\r\n"
      "Delivered-To: firma.example-c@firma.example\r\nMessage-ID: <x@y>\r\n"
      "X-Dropcheck-Probe: tag1 to-only\r\nTo: a@firma.example, "
      "z@else.example\r\n"
      "Cc: q@firma.example\r\n\r\n");
  EXPECT_TRUE(o.has_return_path);
  EXPECT_EQ(o.return_path, "<>");
  ASSERT_EQ(o.envelope_fields.size(), 3u);
  EXPECT_EQ(o.envelope_fields[1].value, "b@firma.example");
  EXPECT_EQ(o.message_id, "<x@y>");
  EXPECT_EQ(o.probe_tag, "tag1 to-only");
  EXPECT_EQ(o.header_addresses, 3u);
  EXPECT_EQ(addresses_in(o.envelope_fields[0].value), std::vector<std::string>{"a@firma.example"});
}

TEST(Observe, TotalOnBrokenInput) {
  const std::string junk("\0\xff:\r\n\r:x\n", 10);
  for (std::size_t i = 0; i <= junk.size(); ++i) (void)observe_header(junk.substr(0, i));
  EXPECT_TRUE(addresses_in("<>").empty());
  EXPECT_TRUE(addresses_in("").empty());
}

TEST(Observe, QmailPrefix) {
  EXPECT_TRUE(has_qmail_prefix("firma.example-hans@firma.example"));
  EXPECT_FALSE(has_qmail_prefix("hans@firma.example"));
  EXPECT_FALSE(has_qmail_prefix("firma.example@firma.example"));
  EXPECT_FALSE(has_qmail_prefix("firma.example-@firma.example"));
  EXPECT_EQ(strip_qmail_prefix("firma.example-hans@firma.example"), "hans@firma.example");
  EXPECT_EQ(strip_qmail_prefix("hans@firma.example"), "hans@firma.example");
}

TEST(Endpoint, HostPort) {
  auto a = parse_host_port("pop.provider.example:995");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "pop.provider.example");
  EXPECT_EQ(a->port, 995);
  auto b = parse_host_port("[::1]:110");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  for (const char *bad : {"", "host", "host:", ":110", "host:0", "host:65536", "host:11x",
                          "::1:110", "[::1]110", "[::1"})
    EXPECT_FALSE(parse_host_port(bad).ok()) << bad;
}

TEST(Capa, ParseAndQuery) {
  const auto c = protocol::parse_pop3_capa(
      "TOP\r\nuser\r\nSASL plain LOGIN\r\nLOGIN-DELAY 900\r\nEXPIRE "
      "NEVER\r\n\r\nSTLS\r\n");
  EXPECT_TRUE(c.has("USER"));
  EXPECT_TRUE(c.has("stls"));
  EXPECT_FALSE(c.has("APOP"));
  EXPECT_EQ(c.argument("LOGIN-DELAY"), std::optional<std::string>("900"));
  EXPECT_EQ(c.argument("TOP"), std::optional<std::string>(""));
  EXPECT_EQ(c.argument("PIPELINING"), std::nullopt);
  EXPECT_EQ(c.sasl_mechanisms(), (std::vector<std::string>{"PLAIN", "LOGIN"}));
}

TEST(Capa, ApopTimestamp) {
  EXPECT_EQ(protocol::apop_timestamp("POP3 ready <1896.697170952@dbc.mtview.ca.us>"),
            "<1896.697170952@dbc.mtview.ca.us>");
  EXPECT_EQ(protocol::apop_timestamp("POP3 ready"), "");
  EXPECT_EQ(protocol::apop_timestamp("POP3 <ready>"), "");
  EXPECT_EQ(protocol::apop_timestamp("POP3 <x@y"), "");
}

TEST(Capa, ScanListing) {
  std::size_t bad = 0;
  const auto l = protocol::parse_scan_listing("1 abc\r\n2 def\r\nx 1\r\n0 z\r\n3\r\n\r\n", &bad);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[1].number, 2u);
  EXPECT_EQ(l[1].value, "def");
  EXPECT_EQ(bad, 3u);
}

MessageObservation msg(std::string header) { return observe_header(header + "\r\n"); }

Report base_report() {
  Report r;
  r.mode = "read-only";
  r.target = "pop.example:995";
  r.pop3.connected = true;
  r.pop3.login.result = LoginResult::ok;
  return r;
}

TEST(Infer, PostfixStyleXOriginalToWithMailboxDeliveredTo) {
  Report r = base_report();
  for (const char *rcpt : {"a@firma.example", "b@firma.example"})
    r.messages.push_back(msg(std::string("Return-Path: <s@x.example>\r\nX-Original-To: ") + rcpt +
                             "\r\nDelivered-To: box@provider.example\r\nMessage-ID: <1@x>\r\n"));
  infer(r);
  EXPECT_EQ(r.profile.envelope_header, "X-Original-To");
  EXPECT_TRUE(r.profile.copy_per_recipient);
  EXPECT_EQ(r.profile.delivered_to, "mailbox");
  EXPECT_EQ(r.profile.mailbox_address, "box@provider.example");
  EXPECT_EQ(r.profile.local_domains, std::vector<std::string>{"firma.example"});
}

TEST(Infer, StrayHeaderInFewMessagesIsNotTheStamp) {
  Report r = base_report();
  r.messages.push_back(
      msg("Return-Path: <s@x>\r\nDelivered-To: old@else.example\r\n"
          "To: a@firma.example, b@firma.example\r\nMessage-ID: <1@x>\r\n"));
  for (int i = 2; i <= 5; ++i)
    r.messages.push_back(msg("Return-Path: <s@x>\r\nTo: a@firma.example\r\nMessage-ID: <" +
                             std::to_string(i) + "@x>\r\n"));
  infer(r);
  EXPECT_EQ(r.profile.envelope_header, "");
  EXPECT_FALSE(r.profile.copy_per_recipient);
  bool fail = false;
  for (const auto &a : r.answers)
    fail = fail || (a.id == "envelope-header" && a.verdict == Verdict::fail);
  EXPECT_TRUE(fail);
  EXPECT_EQ(exit_status(r), 1);
}

TEST(Infer, ListStyleOneCopyWarnsAboutTheLeak) {
  Report r = base_report();
  r.messages.push_back(
      msg("Return-Path: <s@x>\r\nEnvelope-To: "
          "a@firma.example, b@firma.example\r\n"));
  infer(r);
  EXPECT_EQ(r.profile.envelope_header, "Envelope-To");
  EXPECT_EQ(r.profile.envelope_style, "list");
  EXPECT_FALSE(r.profile.copy_per_recipient);
  bool leak = false;
  for (const auto &a : r.answers) leak = leak || a.id == "header-leak";
  EXPECT_TRUE(leak);
}

TEST(Infer, LockingAndLoginDelayFromSessions) {
  Report r = base_report();
  r.pop3.concurrent.result = LoginResult::ok;
  r.pop3.second_login.result = LoginResult::login_delay;
  r.pop3.login_delay_advertised = 300;
  infer(r);
  EXPECT_EQ(r.profile.locking, "none");
  EXPECT_EQ(r.profile.login_delay_s, 300);
  EXPECT_NE(fetchmailrc_snippet(r).find("300"), std::string::npos);
}

// fetchmail 6.4's TLS options follow what the probe saw (issue 14 item 4).
TEST(Output, FetchmailrcVerifiesStlsAgainstTheGivenCaFile) {
  Report r = base_report();
  r.pop3.tls = r.pop3.stls_used = true;
  r.pop3.cert_valid = true;
  r.ca_file = "/etc/ssl/provider-ca.pem";
  infer(r);
  EXPECT_NE(fetchmailrc_snippet(r).find(
                "sslproto 'TLS1.2+' sslcertck sslcertfile \"/etc/ssl/provider-ca.pem\""),
            std::string::npos)
      << fetchmailrc_snippet(r);
}

TEST(Output, FetchmailrcWithoutTlsDoesNotInsistOnIt) {
  Report r = base_report();
  infer(r);
  EXPECT_NE(fetchmailrc_snippet(r).find("sslproto ''"), std::string::npos)
      << fetchmailrc_snippet(r);
  EXPECT_EQ(fetchmailrc_snippet(r).find("sslcertck"), std::string::npos);
}

TEST(Output, FetchmailrcSkipsTheCheckOnlyWhereTheCertificateFailed) {
  Report r = base_report();
  r.pop3.tls = r.pop3.implicit_tls = true;
  r.pop3.cert_valid = false;
  r.insecure = true;
  infer(r);
  EXPECT_NE(fetchmailrc_snippet(r).find("ssl sslproto 'TLS1.2+' no sslcertck"), std::string::npos)
      << fetchmailrc_snippet(r);
}

TEST(Output, ProfileYamlEscapesAndHtmlEscapes) {
  Report r = base_report();
  r.target = "<evil>:1";
  r.started_at = "now \"quoted\"";
  infer(r);
  const auto y = profile_yaml(r);
  EXPECT_NE(y.find("version: 1"), std::string::npos);
  EXPECT_NE(y.find("\\\"quoted\\\""), std::string::npos);
  EXPECT_EQ(to_html(r).find("<evil>"), std::string::npos);
}

// One phrasing of what avoids a fetcher's finding: the rc snippet and the matrix verdicts.
TEST(Output, AvoidanceIsSharedWithTheFetchmailrc) {
  const std::string_view leak = avoidance("fetchmail", "envelope-header-leak");
  ASSERT_FALSE(leak.empty());
  EXPECT_NE(leak.find("one copy per recipient"), std::string_view::npos);
  EXPECT_NE(avoidance("getmail6", "envelope-header-leak").find("MDA"), std::string_view::npos);
  EXPECT_TRUE(avoidance("fetchmail", "stall").empty());
  EXPECT_TRUE(avoidance("core", "envelope-header-leak").empty());
  Report r = base_report();
  infer(r);
  EXPECT_NE(fetchmailrc_snippet(r).find(leak), std::string::npos) << fetchmailrc_snippet(r);
}

}  // namespace
}  // namespace dropcheck::probe

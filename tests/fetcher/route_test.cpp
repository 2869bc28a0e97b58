#include "fetcher/route.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "fetcher/config.hpp"
#include "fetcher/defects.hpp"

namespace dropcheck::fetcher {
namespace {

Config config() {
  Config c = default_config();
  c.routing.local_domains = {"firma.example"};
  c.routing.fallback = "postmaster@firma.example";
  return c;
}

// Route context of the tests: the account "test" fetching catchall@pop.provider.example at
// 2026-11-21 10:00:00 UTC.
constexpr std::chrono::milliseconds kNow{1'795'255'200'000};
RouteContext ctx(std::string_view by = "test") {
  return RouteContext{by, "pop.provider.example", "catchall", kNow};
}

const std::string kMsg =
    "Return-Path: <alice@sender.example>\r\n"
    "X-Envelope-To: a@firma.example, b@firma.example\r\n"
    "From: alice@sender.example\r\n"
    "To: a@firma.example\r\n"
    "Cc: x@foreign.example\r\n"
    "Bcc: b@firma.example\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "body\r\n";

TEST(Route, EnvelopeHeaderGivesBccRecipientAndSkipsForeign) {
  Route r = route_message(config(), kMsg, ctx());
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"a@firma.example", "b@firma.example"}));
  EXPECT_EQ(r.mail_from, "alice@sender.example");
  EXPECT_FALSE(r.alert);
}

TEST(Route, StripsEnvelopeHeaderAndBccAndAddsReceived) {
  Route r = route_message(config(), kMsg, ctx());
  EXPECT_EQ(r.message.find("X-Envelope-To"), std::string::npos);
  EXPECT_EQ(r.message.find("Bcc:"), std::string::npos);
  EXPECT_EQ(r.message.rfind("Received: from pop.provider.example", 0), 0u);
  EXPECT_NE(r.message.find("Cc: x@foreign.example\r\n"), std::string::npos);
  EXPECT_NE(r.message.find("\r\n\r\nbody\r\n"), std::string::npos);
}

TEST(Route, NullSenderKept) {
  std::string m = kMsg;
  m.replace(0, m.find("\r\n"), "Return-Path: <>");
  Route r = route_message(config(), m, ctx());
  EXPECT_EQ(r.mail_from, "");
}

TEST(Route, MissingEnvelopeHeaderGoesToFallbackWithAlertNeverToCc) {
  const std::string m = "From: a@sender.example\r\nTo: a@firma.example\r\n\r\nx\r\n";
  Route r = route_message(config(), m, ctx());
  EXPECT_TRUE(r.alert);
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"postmaster@firma.example"}));
}

TEST(Route, UnknownUserGoesToFallbackAliasesResolve) {
  Config c = config();
  c.routing.users = {"a@firma.example", "postmaster@firma.example"};
  c.routing.aliases["info@firma.example"] = "a@firma.example";
  const std::string m =
      "X-Envelope-To: info@firma.example, gone@firma.example\r\nTo: x@y.example\r\n\r\nx\r\n";
  Route r = route_message(c, m, ctx());
  EXPECT_EQ(r.recipients,
            (std::vector<std::string>{"a@firma.example", "postmaster@firma.example"}));
}

TEST(Route, ToCcModeKeepsOnlyLocalDomains) {
  Config c = config();
  c.routing.source = RecipientSource::to_cc;
  Route r = route_message(c, kMsg, ctx());
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"a@firma.example"}));
}

TEST(Defects, NoStripLeavesEnvelopeHeader) {
  Config c = config();
  c.defect = Defect::no_strip;
  Route r = route_with_defect(c, kMsg, ctx());
  EXPECT_NE(r.message.find("X-Envelope-To: a@firma.example, b@firma.example"), std::string::npos);
}

TEST(Defects, SbsConnectorRoutesToCcOfEveryDomain) {
  Config c = config();
  c.defect = Defect::sbs_connector;
  Route r = route_with_defect(c, kMsg, ctx());
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"a@firma.example", "x@foreign.example"}));
}

TEST(Defects, FillEmptySenderReplacesNullSender) {
  Config c = config();
  c.defect = Defect::fill_empty_sender;
  std::string m = kMsg;
  m.replace(0, m.find("\r\n"), "Return-Path: <>");
  Route r = route_with_defect(c, m, ctx());
  EXPECT_EQ(r.mail_from, "MAILER-DAEMON@firma.example");
}

}  // namespace
}  // namespace dropcheck::fetcher

namespace dropcheck::fetcher {
namespace {

TEST(Route, OwnReceivedMarkerIsALoopAndIsNotDeliveredAgain) {
  Route first = route_message(config(), kMsg, ctx("acme"));
  ASSERT_FALSE(first.recipients.empty());
  // The delivered copy comes back (relayed out, back into the catch-all), stamped again.
  const std::string back = "X-Envelope-To: a@firma.example\r\n" + first.message;
  Route again = route_message(config(), back, ctx("acme"));
  EXPECT_TRUE(again.recipients.empty());
  EXPECT_TRUE(again.alert);
  EXPECT_TRUE(again.unroutable);  // stays on the provider for an admin
  EXPECT_NE(again.error.find("loop"), std::string::npos);
  // Another fetcher's marker is not ours.
  Route other = route_message(config(), back, ctx("other-account"));
  EXPECT_FALSE(other.recipients.empty());
}

}  // namespace
}  // namespace dropcheck::fetcher

namespace dropcheck::fetcher {
namespace {

// Item 12: the receiving MTA writes its own Return-Path from MAIL FROM; the provider's goes.
TEST(Route, ProviderReturnPathIsRemovedFromTheDeliveredCopy) {
  const std::string m = "Return-Path: <alice@sender.example>\r\n" + kMsg;
  Route r = route_message(config(), m, ctx());
  EXPECT_EQ(r.mail_from, "alice@sender.example");
  EXPECT_EQ(r.message.find("Return-Path:"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("\r\n\r\nbody\r\n"), std::string::npos);
}

// Item 12: RFC 5321 4.4 time-stamp line: from the provider, by this account, a date.
TEST(Route, ReceivedLineNamesProviderAccountAndDate) {
  const std::string m = "X-Envelope-To: a@firma.example\r\nSubject: s\r\n\r\nbody\r\n";
  Route r = route_message(config(), m, ctx());
  const std::string want =
      "Received: from pop.provider.example (account catchall)\r\n"
      "\tby test (dropcheck fetcher core) with POP3\r\n"
      "\tfor <a@firma.example>; Sat, 21 Nov 2026 10:00:00 +0000\r\n";
  EXPECT_EQ(r.message.substr(0, want.size()), want) << r.message;
}

// Two recipients: a "for" clause would tell each of them about the other (a Bcc leak).
TEST(Route, ReceivedLineNamesNoRecipientWhenThereAreSeveral) {
  Route r = route_message(config(), kMsg, ctx());
  ASSERT_EQ(r.recipients.size(), 2u);
  const std::string head = r.message.substr(0, r.message.find("+0000"));
  EXPECT_EQ(head.find("for <"), std::string::npos) << head;
  EXPECT_EQ(head.find("b@firma.example"), std::string::npos) << head;
}

// Messages stamped before the Received line got its date still count as our own.
TEST(Route, ReceivedLineWithoutDateFromOlderVersionsIsStillALoop) {
  const std::string back =
      "X-Envelope-To: a@firma.example\r\nReceived: by acme (dropcheck fetcher core)\r\n"
      "Subject: s\r\n\r\nbody\r\n";
  Route r = route_message(config(), back, ctx("acme"));
  EXPECT_TRUE(r.recipients.empty());
  EXPECT_NE(r.error.find("loop"), std::string::npos);
}

TEST(Rfc5322Date, FormatsUtcWithDayNameAndZeroPadding) {
  using std::chrono::milliseconds;
  EXPECT_EQ(rfc5322_date(milliseconds{0}), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(kNow), "Sat, 21 Nov 2026 10:00:00 +0000");
  // 2000-02-29 (a leap day in a century year divisible by 400), 23:59:59.999: truncated.
  EXPECT_EQ(rfc5322_date(milliseconds{951'868'799'999}), "Tue, 29 Feb 2000 23:59:59 +0000");
  // 2100 is not a leap year: 28 Feb is followed by 1 Mar.
  EXPECT_EQ(rfc5322_date(milliseconds{4'107'542'400'000}), "Mon, 01 Mar 2100 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(milliseconds{1'704'067'199'000}), "Sun, 31 Dec 2023 23:59:59 +0000");
}

}  // namespace
}  // namespace dropcheck::fetcher

namespace dropcheck::fetcher {
namespace {

// Item 5: an envelope header naming only foreign addresses (a misconfigured header, a typo in
// local_domains, an earlier hop's line) is not "not for us": the fallback gets it, with an alert.
TEST(Route, AllForeignEnvelopeRecipientsGoToTheFallbackWithAlert) {
  const std::string m = "X-Envelope-To: x@foreign.example\r\nSubject: s\r\n\r\nbody\r\n";
  Route r = route_message(config(), m, ctx());
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"postmaster@firma.example"}));
  EXPECT_TRUE(r.alert);
  EXPECT_FALSE(r.unroutable);
}

// Nothing routable and no fallback: no recipient at all, and the Route says so, so the cycle
// keeps the message on the provider.
TEST(Route, NothingRoutableWithoutFallbackIsUnroutable) {
  Config c = config();
  c.routing.fallback.clear();
  for (const std::string m : {"X-Envelope-To: x@foreign.example\r\nSubject: s\r\n\r\nbody\r\n",
                              "To: a@firma.example\r\nSubject: no envelope header\r\n\r\nbody\r\n",
                              "X-Envelope-To: a@firma.example, b@@firma.example\r\n\r\nbody\r\n"}) {
    SCOPED_TRACE(m);
    Route r = route_message(c, m, ctx());
    EXPECT_TRUE(r.alert);
    EXPECT_EQ(r.unroutable, r.recipients.empty());
  }
  Route foreign = route_message(c, "X-Envelope-To: x@foreign.example\r\n\r\nb\r\n", ctx());
  EXPECT_TRUE(foreign.recipients.empty());
  EXPECT_TRUE(foreign.unroutable);
  Route routed = route_message(c, kMsg, ctx());
  EXPECT_FALSE(routed.unroutable);
}

// Item 5: a damaged envelope header (a NUL octet, a mangled address) may hide a recipient: the
// readable local addresses keep it and the fallback gets it too, with an alert.
TEST(Route, DamagedEnvelopeHeaderAddsTheFallbackWithAlert) {
  using namespace std::string_literals;
  using Strings = std::vector<std::string>;
  const std::vector<std::pair<std::string, Strings>> cases = {
      {"a@firma.example, b\0@firma.example"s, {"a@firma.example", "postmaster@firma.example"}},
      {"a@firma.example, b@@firma.example"s, {"a@firma.example", "postmaster@firma.example"}},
      {"a@firma.example \x01 b@firma.example"s,
       {"a@firma.example", "b@firma.example", "postmaster@firma.example"}}};
  for (const auto& [value, want] : cases) {
    SCOPED_TRACE(value);
    const std::string m = "X-Envelope-To: " + value + "\r\nSubject: s\r\n\r\nbody\r\n";
    Route r = route_message(config(), m, ctx());
    EXPECT_EQ(r.recipients, want);
    EXPECT_TRUE(r.alert);
  }
}

// A damaged header with no address readable at all still wins over a later spec's header.
TEST(Route, UnreadableFirstEnvelopeHeaderIsNotSkippedForALaterOne) {
  Config c = config();
  mail::EnvelopeSpec delivered;
  delivered.header = "Delivered-To";
  delivered.occurrence = 1;
  c.routing.envelope.push_back(delivered);
  const std::string m =
      "X-Envelope-To: \x01\x02garbage\r\nDelivered-To: b@firma.example\r\n\r\nbody\r\n";
  Route r = route_message(c, m, ctx());
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"postmaster@firma.example"}));
  EXPECT_TRUE(r.alert);
}

}  // namespace
}  // namespace dropcheck::fetcher

namespace dropcheck::fetcher {
namespace {

const std::string kDsnNoReturnPath =
    "X-Envelope-To: a@firma.example\r\n"
    "From: Mail Delivery System <MAILER-DAEMON@mx.outside.example>\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: Multipart/Report;\r\n"
    "\treport-type=delivery-status; boundary=\"b\"\r\n"
    "\r\n--b--\r\n";

// Item 11: a DSN/MDN stored without Return-Path goes out with <>, never with From's address.
TEST(Route, ReportWithoutReturnPathGoesOutWithNullSender) {
  Route r = route_message(config(), kDsnNoReturnPath, ctx());
  EXPECT_EQ(r.mail_from, "");
  EXPECT_EQ(r.recipients, std::vector<std::string>{"a@firma.example"});
}

// Item 11: other mail without Return-Path: <> and an alert (never an invented sender) ...
TEST(Route, NoReturnPathGivesNullSenderWithAlert) {
  const std::string m =
      "X-Envelope-To: a@firma.example\r\nFrom: bob@sender.example\r\n\r\nbody\r\n";
  Route r = route_message(config(), m, ctx());
  EXPECT_EQ(r.mail_from, "");
  EXPECT_TRUE(r.alert);
  // ... or From, only where the configuration asks for it.
  Config c = config();
  c.routing.sender_from_header = true;
  Route from = route_message(c, m, ctx());
  EXPECT_EQ(from.mail_from, "bob@sender.example");
  // Not for reports: their sender is <> whatever From says.
  EXPECT_EQ(route_message(c, kDsnNoReturnPath, ctx()).mail_from, "");
}

// Item 11: an empty sender delivered only to the fallback is worth an admin's look.
TEST(Route, NullSenderToTheFallbackAlerts) {
  Config c = config();
  c.routing.users = {"a@firma.example", "postmaster@firma.example"};
  const std::string m =
      "Return-Path: <>\r\nX-Envelope-To: gone@firma.example\r\nSubject: s\r\n\r\nbody\r\n";
  Route r = route_message(c, m, ctx());
  EXPECT_EQ(r.recipients, std::vector<std::string>{"postmaster@firma.example"});
  EXPECT_EQ(r.mail_from, "");
  EXPECT_TRUE(r.alert);
  // The same to a known user is ordinary (a DSN, an MDN).
  const std::string known =
      "Return-Path: <>\r\nX-Envelope-To: a@firma.example\r\nSubject: s\r\n\r\nbody\r\n";
  EXPECT_FALSE(route_message(c, known, ctx()).alert);
}

}  // namespace
}  // namespace dropcheck::fetcher

namespace dropcheck::fetcher {
namespace {

// Item 13: a forwarded mail that already carried Delivered-To: b@ from an earlier hop goes
// only to the provider's own (topmost) Delivered-To recipient.
TEST(Route, DeliveredToByDefaultReadsOnlyTheProvidersTopmostLine) {
  auto c = parse_config(
      "version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
      "routing: {local_domains: [firma.example], envelope: Delivered-To}\n",
      "dt.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const std::string m =
      "Return-Path: <alice@sender.example>\r\n"
      "Delivered-To: a@firma.example\r\n"
      "Received: from forwarder.example by mx.provider.example\r\n"
      "Delivered-To: b@firma.example\r\n"
      "Subject: fwd\r\n\r\nbody\r\n";
  Route r = route_message(*c, m, ctx());
  EXPECT_EQ(r.recipients, std::vector<std::string>{"a@firma.example"});
}

// Item 14: source-routing style local parts a real MTA might relay ("%" hack, UUCP bang
// paths, a quoted "@") never go out as RCPTs: the fallback, with an alert.
TEST(Route, SourceRoutingLocalPartsGoToTheFallbackWithAlert) {
  for (const std::string addr :
       {"x%foreign.example@firma.example", "foreign.example!x@firma.example",
        "\"x@foreign.example\"@firma.example"}) {
    SCOPED_TRACE(addr);
    const std::string m =
        "X-Envelope-To: a@firma.example, " + addr + "\r\nSubject: s\r\n\r\nbody\r\n";
    Route r = route_message(config(), m, ctx());
    EXPECT_EQ(r.recipients,
              (std::vector<std::string>{"a@firma.example", "postmaster@firma.example"}));
    EXPECT_TRUE(r.alert);
  }
  Config c = config();
  c.routing.fallback.clear();
  Route none = route_message(c, "X-Envelope-To: x%y.example@firma.example\r\n\r\nbody\r\n", ctx());
  EXPECT_TRUE(none.recipients.empty());
  EXPECT_TRUE(none.unroutable);
}

}  // namespace
}  // namespace dropcheck::fetcher

// Issue 21: the envelope recipient in the FOR clause of the provider's own Received line.
namespace dropcheck::fetcher {
namespace {

Config received_config() {
  auto c = parse_config(
      "version: 1\npop3: {user: u, password: p}\nsmtp: {}\n"
      "routing:\n  local_domains: [firma.example]\n  fallback: postmaster@firma.example\n"
      "  envelope: {header: Received, by: mx.provider.example}\n",
      "rcvd.yaml");
  EXPECT_TRUE(c.ok()) << c.error().message;
  return c.ok() ? *c : Config{};
}

// Above the provider's line an internal hop; below it a forwarder's and an older mailbox's,
// each with a FOR clause of its own (a foreign and a local address): none is a recipient.
const std::string kForwarded =
    "Return-Path: <alice@sender.example>\r\n"
    "Received: from mx.provider.example by store.provider.example with LMTP\r\n"
    "\tfor <catchall@provider.example>; Mon, 23 Nov 2026 00:00:01 +0000\r\n"
    "Received: from relay.forwarder.example (relay.forwarder.example [192.0.2.7])\r\n"
    "\tby mx.provider.example (Postfix) with ESMTP id 4Abc\r\n"
    "\tfor <b@firma.example>; Mon, 23 Nov 2026 00:00:00 +0000\r\n"
    "Received: from mx.sender.example by relay.forwarder.example with ESMTP id 9\r\n"
    "\tfor <old@forwarder.example>; Sun, 22 Nov 2026 23:59:00 +0000\r\n"
    "Received: from a by mx.firma-old.example for a@firma.example; Sun, 22 Nov 2026\r\n"
    "From: alice@sender.example\r\nTo: old@forwarder.example\r\nCc: c@firma.example\r\n"
    "Subject: fwd\r\n\r\nbody\r\n";

TEST(Route, ReceivedForOfTheProvidersLineOnly) {
  Route r = route_message(received_config(), kForwarded, ctx());
  EXPECT_EQ(r.recipients, std::vector<std::string>{"b@firma.example"});
  EXPECT_FALSE(r.alert);
  // Trace lines stay (RFC 5321 4.4: never removed), our own goes on top.
  EXPECT_NE(r.message.find("for <b@firma.example>"), std::string::npos);
  EXPECT_EQ(r.message.rfind("Received: from pop.provider.example", 0), 0u);
}

TEST(Route, ReceivedWithoutForIsNoEnvelopeFallbackWithAlert) {
  const std::string m =
      "Return-Path: <alice@sender.example>\r\n"
      "Received: from mx.sender.example by mx.provider.example with ESMTP id 4Abc;\r\n"
      "\tMon, 23 Nov 2026 00:00:00 +0000\r\n"
      "Received: from x by relay.example for <a@firma.example>; Sun, 22 Nov 2026\r\n"
      "From: alice@sender.example\r\nTo: a@firma.example\r\n\r\nbody\r\n";
  Route r = route_message(received_config(), m, ctx());
  EXPECT_EQ(r.recipients, std::vector<std::string>{"postmaster@firma.example"});
  EXPECT_TRUE(r.alert);
  bool named = false;
  for (const auto& n : r.notes) named = named || n.find("no for clause") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(Route, NoReceivedLineByTheProviderIsNoEnvelope) {
  const std::string m =
      "Received: from x by relay.example for <a@firma.example>; Sun, 22 Nov 2026\r\n"
      "To: a@firma.example\r\n\r\nbody\r\n";
  Route r = route_message(received_config(), m, ctx());
  EXPECT_EQ(r.recipients, std::vector<std::string>{"postmaster@firma.example"});
  EXPECT_TRUE(r.alert);
}

TEST(Route, ReceivedForDamagedGoesToTheFallback) {
  const std::string m =
      "Received: from x by mx.provider.example for <b@@firma.example>; d\r\n\r\nbody\r\n";
  Route r = route_message(received_config(), m, ctx());
  EXPECT_EQ(r.recipients, std::vector<std::string>{"postmaster@firma.example"});
  EXPECT_TRUE(r.alert);
}

}  // namespace
}  // namespace dropcheck::fetcher

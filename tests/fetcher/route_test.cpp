#include <gtest/gtest.h>

#include "fetcher/defects.hpp"
#include "fetcher/route.hpp"

namespace dropcheck::fetcher {
namespace {

Config config() {
  Config c = default_config();
  c.routing.local_domains = {"firma.example"};
  c.routing.fallback = "postmaster@firma.example";
  return c;
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
  Route r = route_message(config(), kMsg, "test");
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"a@firma.example", "b@firma.example"}));
  EXPECT_EQ(r.mail_from, "alice@sender.example");
  EXPECT_FALSE(r.alert);
}

TEST(Route, StripsEnvelopeHeaderAndBccAndAddsReceived) {
  Route r = route_message(config(), kMsg, "test");
  EXPECT_EQ(r.message.find("X-Envelope-To"), std::string::npos);
  EXPECT_EQ(r.message.find("Bcc:"), std::string::npos);
  EXPECT_EQ(r.message.rfind("Received: by test", 0), 0u);
  EXPECT_NE(r.message.find("Cc: x@foreign.example\r\n"), std::string::npos);
  EXPECT_NE(r.message.find("\r\n\r\nbody\r\n"), std::string::npos);
}

TEST(Route, NullSenderKept) {
  std::string m = kMsg;
  m.replace(0, m.find("\r\n"), "Return-Path: <>");
  Route r = route_message(config(), m, "test");
  EXPECT_EQ(r.mail_from, "");
}

TEST(Route, MissingEnvelopeHeaderGoesToFallbackWithAlertNeverToCc) {
  const std::string m = "From: a@sender.example\r\nTo: a@firma.example\r\n\r\nx\r\n";
  Route r = route_message(config(), m, "test");
  EXPECT_TRUE(r.alert);
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"postmaster@firma.example"}));
}

TEST(Route, UnknownUserGoesToFallbackAliasesResolve) {
  Config c = config();
  c.routing.users = {"a@firma.example", "postmaster@firma.example"};
  c.routing.aliases["info@firma.example"] = "a@firma.example";
  const std::string m =
      "X-Envelope-To: info@firma.example, gone@firma.example\r\nTo: x@y.example\r\n\r\nx\r\n";
  Route r = route_message(c, m, "test");
  EXPECT_EQ(r.recipients,
            (std::vector<std::string>{"a@firma.example", "postmaster@firma.example"}));
}

TEST(Route, ToCcModeKeepsOnlyLocalDomains) {
  Config c = config();
  c.routing.source = RecipientSource::to_cc;
  Route r = route_message(c, kMsg, "test");
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"a@firma.example"}));
}

TEST(Defects, NoStripLeavesEnvelopeHeader) {
  Config c = config();
  c.defect = Defect::no_strip;
  Route r = route_with_defect(c, kMsg, "test");
  EXPECT_NE(r.message.find("X-Envelope-To: a@firma.example, b@firma.example"), std::string::npos);
}

TEST(Defects, SbsConnectorRoutesToCcOfEveryDomain) {
  Config c = config();
  c.defect = Defect::sbs_connector;
  Route r = route_with_defect(c, kMsg, "test");
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"a@firma.example", "x@foreign.example"}));
}

TEST(Defects, FillEmptySenderReplacesNullSender) {
  Config c = config();
  c.defect = Defect::fill_empty_sender;
  std::string m = kMsg;
  m.replace(0, m.find("\r\n"), "Return-Path: <>");
  Route r = route_with_defect(c, m, "test");
  EXPECT_EQ(r.mail_from, "MAILER-DAEMON@firma.example");
}

}  // namespace
}  // namespace dropcheck::fetcher

namespace dropcheck::fetcher {
namespace {

TEST(Route, OwnReceivedMarkerIsALoopAndIsNotDeliveredAgain) {
  Route first = route_message(config(), kMsg, "acme");
  ASSERT_FALSE(first.recipients.empty());
  // The delivered copy comes back (relayed out, back into the catch-all), stamped again.
  const std::string back = "X-Envelope-To: a@firma.example\r\n" + first.message;
  Route again = route_message(config(), back, "acme");
  EXPECT_TRUE(again.recipients.empty());
  EXPECT_TRUE(again.alert);
  EXPECT_NE(again.error.find("loop"), std::string::npos);
  // Another fetcher's marker is not ours.
  Route other = route_message(config(), back, "other-account");
  EXPECT_FALSE(other.recipients.empty());
}

}  // namespace
}  // namespace dropcheck::fetcher

#include "mail/envelope.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace dropcheck::mail {
namespace {

using Strings = std::vector<std::string>;

base::Result<Strings> extract(const std::string& message, const EnvelopeSpec& spec) {
  auto hs = parse_header_section(message);
  if (!hs.ok()) return hs.error();
  return extract_envelope_recipients(*hs, spec);
}

EnvelopeSpec spec_for(std::string header, int occurrence = 0, bool qmail = false) {
  EnvelopeSpec s;
  s.header = std::move(header);
  s.occurrence = occurrence;
  s.strip_qmail_prefix = qmail;
  return s;
}

struct ProviderCase {
  const char* style;
  std::string header;
  std::string message;
  Strings want;
};

// One realistic header per provider style seen in the field (see shared/PROBLEM.md).
TEST(Envelope, EveryProviderStyle) {
  const std::string tail =
      "From: user1@firma1.example\r\nTo: user3@firma3.example, user2@firma2.example\r\n"
      "Subject: x\r\n\r\nbody\r\n";
  const std::vector<ProviderCase> cases = {
      {"exim Envelope-To",
       "Envelope-To",
       "Envelope-To: user2@firma2.example\r\n" + tail,
       {"user2@firma2.example"}},
      {"exim Envelope-To list",
       "Envelope-To",
       "Envelope-To: user2@firma2.example, bcc@firma2.example\r\n" + tail,
       {"user2@firma2.example", "bcc@firma2.example"}},
      {"X-Envelope-To angle",
       "X-Envelope-To",
       "X-Envelope-To: <user2@firma2.example>\r\n" + tail,
       {"user2@firma2.example"}},
      {"X-Envelope-To angle list no space",
       "X-Envelope-To",
       "X-Envelope-To: <a@firma2.example>,<b@firma2.example>\r\n" + tail,
       {"a@firma2.example", "b@firma2.example"}},
      {"X-Envelope-To space separated",
       "X-Envelope-To",
       "X-Envelope-To: a@firma2.example b@firma2.example\r\n" + tail,
       {"a@firma2.example", "b@firma2.example"}},
      {"X-Envelope-To folded list",
       "X-Envelope-To",
       "X-Envelope-To: a@firma2.example,\r\n\tb@firma2.example,\r\n c@firma2.example\r\n" + tail,
       {"a@firma2.example", "b@firma2.example", "c@firma2.example"}},
      {"postfix X-Original-To",
       "X-Original-To",
       "X-Original-To: user2@firma2.example\r\n" + tail,
       {"user2@firma2.example"}},
      {"X-Rcpt-To angle",
       "X-Rcpt-To",
       "X-Rcpt-To: <user2@firma2.example>\r\n" + tail,
       {"user2@firma2.example"}},
      {"MDaemon X-MDRcpt-To",
       "X-MDRcpt-To",
       "X-MDRcpt-To: user2@firma2.example\r\n" + tail,
       {"user2@firma2.example"}},
      {"X-Recipient-To",
       "X-Recipient-To",
       "X-Recipient-To: user2@firma2.example\r\n" + tail,
       {"user2@firma2.example"}},
      {"postfix Delivered-To",
       "Delivered-To",
       "Delivered-To: user2@firma2.example\r\n" + tail,
       {"user2@firma2.example"}},
      {"trailing comment",
       "X-Envelope-To",
       "X-Envelope-To: user2@firma2.example (from mx1.provider.example)\r\n" + tail,
       {"user2@firma2.example"}},
      {"sloppy trailing text",
       "X-Envelope-To",
       "X-Envelope-To: <user2@firma2.example> via relay\r\n" + tail,
       {"user2@firma2.example"}},
      {"semicolon separated",
       "X-Envelope-To",
       "X-Envelope-To: a@firma2.example; b@firma2.example\r\n" + tail,
       {"a@firma2.example", "b@firma2.example"}},
      {"display name",
       "X-Envelope-To",
       "X-Envelope-To: User Two <user2@firma2.example>\r\n" + tail,
       {"user2@firma2.example"}},
      {"domain case folded",
       "Envelope-To",
       "Envelope-To: User2@FIRMA2.Example\r\n" + tail,
       {"User2@firma2.example"}},
      {"duplicates removed",
       "Envelope-To",
       "Envelope-To: a@firma2.example, A@Firma2.example, a@firma2.example\r\n" + tail,
       {"a@firma2.example", "A@firma2.example"}},
      {"header name case",
       "x-envelope-to",
       "X-ENVELOPE-TO: a@firma2.example\r\n" + tail,
       {"a@firma2.example"}},
      {"bare LF message",
       "X-Original-To",
       "X-Original-To: a@firma2.example\nSubject: y\n\nb\n",
       {"a@firma2.example"}},
      {"empty angle", "X-Envelope-To", "X-Envelope-To: <>\r\n" + tail, {}},
      {"empty value", "X-Envelope-To", "X-Envelope-To:\r\n" + tail, {}},
      {"group", "Envelope-To", "Envelope-To: undisclosed-recipients:;\r\n" + tail, {}},
      {"only a comment", "Envelope-To", "Envelope-To: (no recipients)\r\n" + tail, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.style);
    auto r = extract(c.message, spec_for(c.header));
    ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
    EXPECT_EQ(*r, c.want);
  }
}

TEST(Envelope, AbsentHeader) {
  auto r = extract("To: a@x.y\r\n\r\n", spec_for("X-Envelope-To"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "no-envelope-header");
  // The body is not the header.
  auto b = extract("To: a@x.y\r\n\r\nX-Envelope-To: b@x.y\r\n", spec_for("X-Envelope-To"));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, "no-envelope-header");
}

TEST(Envelope, UnparsableNeverInvents) {
  for (std::string v : {"hans", "Hans Meier", "<hans>", "@@@", "a@ b@"}) {
    SCOPED_TRACE(v);
    auto r = extract("X-Envelope-To: " + v + "\r\n\r\n", spec_for("X-Envelope-To"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "bad-envelope-header");
    EXPECT_NE(r.error().message.find("offset 0"), std::string::npos) << r.error().message;
  }
  // Lenient fallback keeps only what is an address.
  auto r = extract("X-Envelope-To: hans, a@x.y, (c@x.y) junk <b@x.y>\r\n\r\n",
                   spec_for("X-Envelope-To"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (Strings{"a@x.y", "b@x.y"}));
}

const std::string kDeliveredChain =
    "Delivered-To: example.com-hans.meier@example.com\r\n"
    "Received: from mx by provider\r\n"
    "Delivered-To: alias@forwarder.example\r\n"
    "Delivered-To: hans@origin.example\r\n"
    "Subject: x\r\n\r\n";

TEST(Envelope, OccurrenceCountedFromTop) {
  auto all = extract(kDeliveredChain, spec_for("Delivered-To"));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (Strings{"example.com-hans.meier@example.com", "alias@forwarder.example",
                           "hans@origin.example"}));
  auto first = extract(kDeliveredChain, spec_for("Delivered-To", 1));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, (Strings{"example.com-hans.meier@example.com"}));
  // fetchmail "envelope 1 Delivered-To" skips one: occurrence 2.
  auto second = extract(kDeliveredChain, spec_for("Delivered-To", 2));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, (Strings{"alias@forwarder.example"}));
  auto third = extract(kDeliveredChain, spec_for("Delivered-To", 3));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, (Strings{"hans@origin.example"}));
  auto fourth = extract(kDeliveredChain, spec_for("Delivered-To", 4));
  ASSERT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.error().code, "no-envelope-header");
}

TEST(Envelope, QmailPrefixOnlyWhenConfigured) {
  auto plain = extract(kDeliveredChain, spec_for("Delivered-To", 1, false));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, (Strings{"example.com-hans.meier@example.com"}));
  auto stripped = extract(kDeliveredChain, spec_for("Delivered-To", 1, true));
  ASSERT_TRUE(stripped.ok());
  EXPECT_EQ(*stripped, (Strings{"hans.meier@example.com"}));
  // Case-insensitive domain match; a different domain or no "-" is left alone.
  EnvelopeSpec q = spec_for("Delivered-To", 0, true);
  EXPECT_EQ(*parse_envelope_value("Example.COM-hans@example.com", q),
            (Strings{"hans@example.com"}));
  EXPECT_EQ(*parse_envelope_value("other.com-hans@example.com", q),
            (Strings{"other.com-hans@example.com"}));
  EXPECT_EQ(*parse_envelope_value("example.comhans@example.com", q),
            (Strings{"example.comhans@example.com"}));
  EXPECT_EQ(*parse_envelope_value("example.com-@example.com", q),
            (Strings{"example.com-@example.com"}));
}

TEST(Envelope, QvirtualLiteralPrefix) {
  EnvelopeSpec s = spec_for("Delivered-To");
  s.qvirtual = "mbox-";
  EXPECT_EQ(*parse_envelope_value("mbox-hans@example.com, other@example.com", s),
            (Strings{"hans@example.com", "other@example.com"}));
  EXPECT_EQ(*parse_envelope_value("mbox-@example.com", s), (Strings{"mbox-@example.com"}));
}

TEST(Envelope, AllOccurrencesMergedWithoutDuplicates) {
  auto r = extract("X-Envelope-To: a@x.y\r\nX-Envelope-To: b@x.y, a@x.y\r\n\r\n",
                   spec_for("X-Envelope-To"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (Strings{"a@x.y", "b@x.y"}));
}

TEST(Envelope, BadOccurrenceReportsField) {
  auto r =
      extract("X-Envelope-To: a@x.y\r\nX-Envelope-To: junk\r\n\r\n", spec_for("X-Envelope-To"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad-envelope-header");
  EXPECT_NE(r.error().message.find("offset 22"), std::string::npos) << r.error().message;
}

TEST(Envelope, KnownHeaderNames) {
  for (std::string_view h : kEnvelopeHeaders) {
    SCOPED_TRACE(h);
    auto r = extract(std::string(h) + ": <a@x.y>\r\n\r\n", spec_for(std::string(h)));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, (Strings{"a@x.y"}));
  }
}

TEST(Envelope, SplitAtEveryPointNeverInvents) {
  const std::string msg =
      "Delivered-To: example.com-a@example.com\r\nX-Envelope-To: <b@example.com>, c@example.com "
      "(from x)\r\n\r\n";
  const Strings allowed = {"example.com-a@example.com", "b@example.com", "c@example.com"};
  for (std::size_t k = 0; k <= msg.size(); ++k) {
    for (const char* h : {"Delivered-To", "X-Envelope-To"}) {
      auto r = extract(msg.substr(0, k), spec_for(h));
      if (!r.ok()) continue;
      for (const auto& a : *r) {
        // Every result is an allowed address or a cut-off prefix of one (cut at the domain).
        bool ok = false;
        for (const auto& w : allowed)
          if (w.compare(0, a.size(), a) == 0 && a.find('@') != std::string::npos) ok = true;
        EXPECT_TRUE(ok) << a << " at split " << k;
      }
    }
  }
}

}  // namespace
}  // namespace dropcheck::mail

namespace dropcheck::mail {
namespace {

TEST(Envelope, DamagedValueIsOneThatMayHideARecipient) {
  using namespace std::string_literals;
  for (const std::string& v : {"a@x.y, b\0@x.y"s, "a@x.y \x01 b@x.y"s, "a@x.y, b@@x.y"s,
                               "a@x.y b@x.y\x7f"s, "<a@x.y> <b@>"s}) {
    SCOPED_TRACE(v);
    EXPECT_TRUE(envelope_value_damaged(v));
  }
  // Sloppy but complete: words without '@', comments, quoted display names, groups, "<>".
  for (const std::string v :
       {"a@x.y", "a@x.y b@x.y", "<a@x.y> via relay", "\"c@x.y\" <a@x.y>", "a@x.y (c@@x.y)",
        "undisclosed-recipients:;", "<>", "", "User Two <a@x.y>", "a@x.y;\tb@x.y"}) {
    SCOPED_TRACE(v);
    EXPECT_FALSE(envelope_value_damaged(v));
  }
}

TEST(Envelope, SelectFieldsByOccurrence) {
  const std::string m = "Delivered-To: a@x.y\r\nDelivered-To: b@x.y\r\n\r\n";
  auto h = parse_header_section(m);
  ASSERT_TRUE(h.ok());
  EnvelopeSpec s;
  s.header = "Delivered-To";
  s.occurrence = 2;
  auto second = select_envelope_fields(*h, s);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ(second->front()->unfolded(), "b@x.y");
  s.occurrence = 0;
  EXPECT_EQ(select_envelope_fields(*h, s)->size(), 2u);
  s.occurrence = 3;
  EXPECT_EQ(select_envelope_fields(*h, s).error().code, "no-envelope-header");
}

}  // namespace
}  // namespace dropcheck::mail

// The envelope recipient in the provider's own Received line (RFC 5321 4.4 FOR clause).
#include "mail/received.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mail/envelope.hpp"

namespace dropcheck::mail {
namespace {

using Strings = std::vector<std::string>;

constexpr const char* kHost = "mx.provider.example";

EnvelopeSpec received_spec(int occurrence = 0) {
  EnvelopeSpec s;
  s.header = "Received";
  s.occurrence = occurrence;
  s.received_by = kHost;
  return s;
}

base::Result<Strings> extract(const std::string& message, const EnvelopeSpec& spec) {
  auto hs = parse_header_section(message);
  if (!hs.ok()) return hs.error();
  return extract_envelope_recipients(*hs, spec);
}

const std::string kTail = "From: a@sender.example\r\nTo: a@firma.example\r\n\r\nbody\r\n";

// One line as each MTA writes it (folded, comments, with and without angle brackets).
TEST(Received, EveryMtaStyle) {
  struct Case {
    const char* mta;
    std::string value;
    Strings want;
  };
  const std::vector<Case> cases = {
      {"postfix",
       "from mx.sender.example (mx.sender.example [192.0.2.25])\r\n\tby mx.provider.example "
       "(Postfix) with ESMTPS id 4Abc\r\n\tfor <b@firma.example>; Mon, 23 Nov 2026 00:00:00 +0000",
       {"b@firma.example"}},
      {"sendmail",
       "from mx.sender.example (mx.sender.example [192.0.2.25]) by mx.provider.example "
       "(8.17.1/8.17.1) with ESMTP id 2ANA0 for <B@Firma.Example>; Mon, 23 Nov 2026 00:00:00 +0000",
       {"B@firma.example"}},
      {"exim, no angle brackets, words after with",
       "from mx.sender.example ([192.0.2.25] helo=mx)\r\n by mx.provider.example with esmtps "
       "tls TLS_AES_256_GCM_SHA384\r\n (Exim 4.96) (envelope-from <a@sender.example>)\r\n id "
       "1abc-000\r\n for b@firma.example; Mon, 23 Nov 2026 00:00:00 +0000",
       {"b@firma.example"}},
      {"upper-case keywords, trailing dot",
       "FROM x.example BY MX.Provider.Example. WITH SMTP FOR <b@firma.example> ; Mon, 23 Nov 2026",
       {"b@firma.example"}},
      {"comment holding a for",
       "from x by mx.provider.example (for <evil@firma.example>) "
       "for <b@firma.example>; date",
       {"b@firma.example"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mta);
    auto got = extract("Received: " + c.value + "\r\n" + kTail, received_spec());
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, c.want);
  }
}

TEST(Received, ParseTraceFields) {
  const auto t = parse_received(
      "from a.example ([192.0.2.1]) by B.Example. via x with ESMTP id <q@r> for <c@d.example>;"
      " Mon, 23 Nov 2026 00:00:00 +0000");
  EXPECT_EQ(t.from, "a.example");
  EXPECT_EQ(t.by, "b.example");
  EXPECT_EQ(t.with, "ESMTP");
  EXPECT_EQ(t.id, "<q@r>");
  EXPECT_TRUE(t.has_for);
  EXPECT_EQ(t.for_addrs, Strings{"c@d.example"});
  EXPECT_FALSE(t.for_damaged);
  EXPECT_TRUE(t.has_date);
}

TEST(Received, NoForClauseIsNoEnvelope) {
  const std::string m =
      "Received: from mx.sender.example by mx.provider.example with ESMTP id 4Abc;\r\n"
      "\tMon, 23 Nov 2026 00:00:00 +0000\r\n" +
      kTail;
  EXPECT_EQ(extract(m, received_spec()).error().code, "no-for-clause");
}

TEST(Received, ForWithoutAddressIsDamaged) {
  for (const std::string v :
       {"by mx.provider.example for <>; date", "by mx.provider.example for b@@firma.example; date",
        "by mx.provider.example for; date"}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(extract("Received: " + v + "\r\n" + kTail, received_spec()).error().code,
              "bad-envelope-header");
    EXPECT_TRUE(envelope_value_damaged(v, received_spec()));
  }
  EXPECT_FALSE(envelope_value_damaged("by mx.provider.example for <b@x.y>; d", received_spec()));
}

// The provider's line is found by its BY host, not by position: an internal hop above it and
// forwarding hops below it carry their own FOR clauses, which are never recipients.
TEST(Received, OnlyTheProvidersLine) {
  const std::string m =
      "Received: from mx.provider.example by store.provider.example with LMTP for "
      "<catchall@provider.example>; d\r\n"
      "Received: from relay.example by mx.provider.example with ESMTP for <b@firma.example>; d\r\n"
      "Received: from old.example by relay.example with ESMTP for <old@foreign.example>; d\r\n"
      "Received: from older.example by mx.old.example for <a@firma.example>; d\r\n" +
      kTail;
  EXPECT_EQ(*extract(m, received_spec()), Strings{"b@firma.example"});
  EXPECT_EQ(*extract(m, received_spec(2)), Strings{"b@firma.example"});
  // The Nth line must be the provider's: occurrence 1 is the internal hop.
  EXPECT_EQ(extract(m, received_spec(1)).error().code, "no-envelope-header");
  EXPECT_EQ(extract(m, received_spec(3)).error().code, "no-envelope-header");
}

TEST(Received, NoLineByTheProvider) {
  const std::string m = "Received: from a by relay.example for <b@firma.example>; d\r\n" + kTail;
  EXPECT_EQ(extract(m, received_spec()).error().code, "no-envelope-header");
  EXPECT_EQ(extract(kTail, received_spec()).error().code, "no-envelope-header");
}

TEST(Received, HostNameRequired) {
  EnvelopeSpec s = received_spec();
  s.received_by.clear();
  const std::string m = "Received: by mx.provider.example for <b@firma.example>; d\r\n" + kTail;
  EXPECT_EQ(extract(m, s).error().code, "bad-envelope-spec");
}

TEST(Received, HeaderNameCaseInsensitive) {
  EnvelopeSpec s = received_spec();
  s.header = "received";
  EXPECT_TRUE(reads_received(s));
  const std::string m = "RECEIVED: by mx.provider.example for <b@firma.example>; d\r\n" + kTail;
  EXPECT_EQ(*extract(m, s), Strings{"b@firma.example"});
}

// Split at every point a fold may be: the reading never depends on where the line was folded.
TEST(Received, FoldedAnywhere) {
  const std::string words[] = {"from",  "x.example", "by", kHost, "with",
                               "ESMTP", "id",        "1",  "for", "<b@firma.example>;",
                               "date"};
  for (std::size_t fold = 1; fold < std::size(words); ++fold) {
    std::string v;
    for (std::size_t i = 0; i < std::size(words); ++i)
      v += (i == 0 ? "" : (i == fold ? "\r\n\t" : " ")) + std::string(words[i]);
    SCOPED_TRACE(v);
    EXPECT_EQ(*extract("Received: " + v + "\r\n" + kTail, received_spec()),
              Strings{"b@firma.example"});
  }
}

TEST(Received, TotalOnOddInput) {
  for (const std::string v : {"", ";", "for", "by", "(((", "for <a@b", ";;;"}) {
    SCOPED_TRACE(v);
    const auto t = parse_received(v);
    EXPECT_TRUE(t.by.empty());
  }
  // A quoted string is one word, never a clause.
  const auto q = parse_received("\"for <a@b>\" by x");
  EXPECT_FALSE(q.has_for);
  EXPECT_EQ(q.by, "x");
}

TEST(Received, SameHost) {
  EXPECT_TRUE(same_host("MX.provider.example.", "mx.provider.example"));
  EXPECT_FALSE(same_host("", ""));
  EXPECT_FALSE(same_host("mx.provider.example", "store.provider.example"));
}

}  // namespace
}  // namespace dropcheck::mail

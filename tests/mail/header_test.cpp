#include "mail/header.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::mail {
namespace {

using namespace std::string_view_literals;

std::string concat_raw(const HeaderSection& hs) {
  std::string out;
  for (const Field& f : hs.fields) out.append(f.raw);
  return out;
}

void expect_round_trip(std::string_view msg, const HeaderSection& hs) {
  std::string back(hs.raw);
  back.append(hs.separator);
  back.append(hs.body);
  EXPECT_EQ(back, msg);
  EXPECT_EQ(concat_raw(hs), hs.raw);
  for (const Field& f : hs.fields) EXPECT_EQ(msg.substr(f.offset, f.raw.size()), f.raw);
}

TEST(Header, SimpleCrlf) {
  const std::string_view msg =
      "From: John Doe <jdoe@machine.example>\r\n"
      "To: Mary Smith <mary@example.net>\r\n"
      "Subject: Saying Hello\r\n"
      "\r\n"
      "Body line\r\n";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& hs = *r;
  ASSERT_EQ(hs.fields.size(), 3u);
  EXPECT_EQ(hs.fields[0].name, "From");
  EXPECT_EQ(hs.fields[0].value, " John Doe <jdoe@machine.example>");
  EXPECT_EQ(hs.fields[0].raw, "From: John Doe <jdoe@machine.example>\r\n");
  EXPECT_EQ(hs.fields[0].offset, 0u);
  EXPECT_EQ(hs.fields[1].offset, 39u);
  EXPECT_EQ(hs.fields[2].unfolded(), "Saying Hello");
  EXPECT_EQ(hs.separator, "\r\n");
  EXPECT_EQ(hs.body, "Body line\r\n");
  EXPECT_FALSE(hs.deviations.bare_lf);
  EXPECT_FALSE(hs.deviations.bare_cr);
  EXPECT_FALSE(hs.deviations.no_separator);
  EXPECT_FALSE(hs.deviations.eight_bit);
  expect_round_trip(msg, hs);
}

TEST(Header, BareLf) {
  const std::string_view msg = "A: 1\nB: 2\n\nbody";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields.size(), 2u);
  EXPECT_EQ(r->separator, "\n");
  EXPECT_EQ(r->body, "body");
  EXPECT_TRUE(r->deviations.bare_lf);
  EXPECT_FALSE(r->deviations.bare_cr);
  expect_round_trip(msg, *r);
}

TEST(Header, MixedLineEndings) {
  const std::string_view msg = "A: 1\r\nB: 2\n\r\nbody";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields.size(), 2u);
  EXPECT_EQ(r->separator, "\r\n");
  EXPECT_TRUE(r->deviations.bare_lf);
  expect_round_trip(msg, *r);
}

TEST(Header, BareCr) {
  auto r = parse_header_section("A: 1\r2\r\n\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deviations.bare_cr);
  EXPECT_EQ(r->fields[0].value, " 1\r2");
}

TEST(Header, FoldingKeptAndUnfolded) {
  const std::string_view msg =
      "To: a@example.com,\r\n"
      "\tb@example.com,\r\n"
      "    c@example.com\r\n"
      "Subject: x\r\n\r\n";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->fields.size(), 2u);
  EXPECT_EQ(r->fields[0].value, " a@example.com,\r\n\tb@example.com,\r\n    c@example.com");
  EXPECT_EQ(r->fields[0].unfolded(), "a@example.com,\tb@example.com,    c@example.com");
  EXPECT_EQ(r->fields[0].raw, "To: a@example.com,\r\n\tb@example.com,\r\n    c@example.com\r\n");
  expect_round_trip(msg, *r);
}

TEST(Header, FoldingBareLf) {
  auto r = parse_header_section("Subject: a\n b\n\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields[0].unfolded(), "a b");
}

TEST(Header, WhitespaceBeforeColon) {
  const std::string_view msg = "Subject \t: hi\r\n\r\n";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields[0].name, "Subject");
  EXPECT_EQ(r->fields[0].value, " hi");
  EXPECT_TRUE(r->deviations.ws_before_colon);
  expect_round_trip(msg, *r);
}

TEST(Header, EmptyValueAndNoSpace) {
  auto r = parse_header_section("A:\r\nB:x\r\n\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields[0].value, "");
  EXPECT_EQ(r->fields[1].value, "x");
}

TEST(Header, EightBitAndUtf8) {
  const std::string msg =
      "Subject: Gr\xc3\xbc\xc3\x9f"
      "e\r\nX-Latin1: \xe9t\xe9\r\n\r\n";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deviations.eight_bit);
  EXPECT_EQ(r->fields[0].unfolded(),
            "Gr\xc3\xbc\xc3\x9f"
            "e");
  expect_round_trip(msg, *r);
}

TEST(Header, Nul) {
  const std::string msg("A: x\0y\r\n\r\n", 10);
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deviations.nul);
  EXPECT_EQ(r->fields[0].value.size(), 4u);
  expect_round_trip(msg, *r);
}

TEST(Header, NoSeparator) {
  const std::string_view msg = "A: 1\r\nB: 2\r\n";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deviations.no_separator);
  EXPECT_EQ(r->separator, "");
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->raw, msg);
  expect_round_trip(msg, *r);
}

TEST(Header, NoFinalLineEnding) {
  const std::string_view msg = "A: 1\r\nB: 2";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deviations.no_separator);
  EXPECT_EQ(r->fields[1].value, " 2");
  expect_round_trip(msg, *r);
}

TEST(Header, EmptyInputAndOnlySeparator) {
  auto e = parse_header_section("");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->fields.empty());
  EXPECT_TRUE(e->deviations.no_separator);
  auto s = parse_header_section("\r\nbody");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->fields.empty());
  EXPECT_EQ(s->separator, "\r\n");
  EXPECT_EQ(s->body, "body");
  EXPECT_FALSE(s->deviations.no_separator);
}

TEST(Header, GarbageLinesKept) {
  const std::string_view msg =
      "From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n"
      "A: 1\n"
      "not a header line\n"
      " continuation of garbage\n"
      ": empty name\n"
      "\n";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deviations.garbage_line);
  ASSERT_EQ(r->fields.size(), 4u);
  EXPECT_EQ(r->fields[0].name, "");
  EXPECT_EQ(r->fields[0].value, "From MAILER-DAEMON Fri Jul  8 12:08:34 2011");
  EXPECT_EQ(r->fields[1].name, "A");
  EXPECT_EQ(r->fields[2].name, "");
  EXPECT_EQ(r->fields[2].raw, "not a header line\n continuation of garbage\n");
  EXPECT_EQ(r->fields[3].name, "");
  EXPECT_EQ(find_first(*r, ""), nullptr);
  expect_round_trip(msg, *r);
}

TEST(Header, LeadingContinuationIsGarbage) {
  auto r = parse_header_section(" leading\r\nA: 1\r\n\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deviations.garbage_line);
  ASSERT_EQ(r->fields.size(), 2u);
  EXPECT_EQ(r->fields[0].name, "");
  EXPECT_EQ(r->fields[1].name, "A");
}

TEST(Header, WhitespaceOnlyLineIsContinuation) {
  // obs-FWS (RFC 5322 4.2): a line of only whitespace continues the field.
  auto r = parse_header_section("To: a\r\n  \r\n b\r\n\r\nbody");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->fields.size(), 1u);
  EXPECT_EQ(r->body, "body");
  EXPECT_EQ(r->fields[0].unfolded(), "a   b");
}

TEST(Header, RepeatedFieldsInOrderCaseInsensitive) {
  const std::string_view msg =
      "Received: from a\r\nDelivered-To: one@x\r\nreceived: from b\r\nRECEIVED: from c\r\n\r\n";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  auto all = find_all(*r, "Received");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]->unfolded(), "from a");
  EXPECT_EQ(all[1]->unfolded(), "from b");
  EXPECT_EQ(all[2]->unfolded(), "from c");
  EXPECT_EQ(count_fields(*r, "rEcEiVeD"), 3u);
  ASSERT_NE(find_first(*r, "delivered-to"), nullptr);
  EXPECT_EQ(find_first(*r, "delivered-to")->name, "Delivered-To");
  EXPECT_EQ(find_first(*r, "X-Nope"), nullptr);
  EXPECT_TRUE(find_all(*r, "Delivered").empty());
}

TEST(Header, BodyMayLookLikeHeaders) {
  auto r = parse_header_section("A: 1\n\nB: 2\n\nC: 3\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields.size(), 1u);
  EXPECT_EQ(r->body, "B: 2\n\nC: 3\n");
}

// RFC 5322 Appendix A messages: each parses, round-trips, and yields the expected names.
struct AppendixCase {
  const char* name;
  std::string_view message;
  std::vector<std::string_view> field_names;
};

const std::vector<AppendixCase>& appendix_cases() {
  static const std::vector<AppendixCase> cases = {
      {"A.1.1",
       "From: John Doe <jdoe@machine.example>\r\n"
       "To: Mary Smith <mary@example.net>\r\n"
       "Subject: Saying Hello\r\n"
       "Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
       "Message-ID: <1234@local.machine.example>\r\n"
       "\r\n"
       "This is a message just to say hello.\r\n"
       "So, \"Hello\".\r\n",
       {"From", "To", "Subject", "Date", "Message-ID"}},
      {"A.1.2",
       "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
       "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\r\n"
       "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\r\n"
       "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
       "Message-ID: <5678.21-Nov-1997@example.com>\r\n"
       "\r\n"
       "Hi everyone.\r\n",
       {"From", "To", "Cc", "Date", "Message-ID"}},
      {"A.1.3",
       "From: Pete <pete@silly.example>\r\n"
       "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
       "Cc: Undisclosed recipients:;\r\n"
       "Date: Thu, 13 Feb 1969 23:32:54 -0330\r\n"
       "Message-ID: <testabcd.1234@silly.example>\r\n"
       "\r\n"
       "Testing.\r\n",
       {"From", "To", "Cc", "Date", "Message-ID"}},
      {"A.2",
       "From: Mary Smith <mary@example.net>\r\n"
       "To: John Doe <jdoe@machine.example>\r\n"
       "Reply-To: \"Mary Smith: Personal Account\" <smith@home.example>\r\n"
       "Subject: Re: Saying Hello\r\n"
       "Date: Fri, 21 Nov 1997 10:01:10 -0600\r\n"
       "Message-ID: <3456@example.net>\r\n"
       "In-Reply-To: <1234@local.machine.example>\r\n"
       "References: <1234@local.machine.example>\r\n"
       "\r\n"
       "This is a reply to your hello.\r\n",
       {"From", "To", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References"}},
      {"A.3",
       "Resent-From: Mary Smith <mary@example.net>\r\n"
       "Resent-To: Jane Brown <j-brown@other.example>\r\n"
       "Resent-Date: Mon, 24 Nov 1997 14:22:01 -0800\r\n"
       "Resent-Message-ID: <78910@example.net>\r\n"
       "From: John Doe <jdoe@machine.example>\r\n"
       "To: Mary Smith <mary@example.net>\r\n"
       "Subject: Saying Hello\r\n"
       "Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
       "Message-ID: <1234@local.machine.example>\r\n"
       "\r\n"
       "This is a message just to say hello.\r\n",
       {"Resent-From", "Resent-To", "Resent-Date", "Resent-Message-ID", "From", "To", "Subject",
        "Date", "Message-ID"}},
      {"A.4",
       "Received: from x.y.test\r\n"
       "   by example.net\r\n"
       "   via TCP\r\n"
       "   with ESMTP\r\n"
       "   id ABC12345\r\n"
       "   for <mary@example.net>;  21 Nov 1997 10:05:43 -0600\r\n"
       "Received: from node.example by x.y.test; 21 Nov 1997 10:01:22 -0600\r\n"
       "From: John Doe <jdoe@node.example>\r\n"
       "To: Mary Smith <mary@example.net>\r\n"
       "Subject: Saying Hello\r\n"
       "Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
       "Message-ID: <1234@local.node.example>\r\n"
       "\r\n"
       "This is a message just to say hello.\r\n",
       {"Received", "Received", "From", "To", "Subject", "Date", "Message-ID"}},
      {"A.5",
       "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n"
       "To:A Group(Some people)\r\n"
       "     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
       "         joe@example.org,\r\n"
       "  John <jdoe@one.test> (my dear friend); (the end of the group)\r\n"
       "Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;\r\n"
       "Date: Thu,\r\n"
       "      13\r\n"
       "        Feb\r\n"
       "          1969\r\n"
       "      23:32\r\n"
       "               -0330 (Newfoundland Time)\r\n"
       "Message-ID:              <testabcd.1234@silly.test>\r\n"
       "\r\n"
       "Testing.\r\n",
       {"From", "To", "Cc", "Date", "Message-ID"}},
      {"A.6.1",
       "From: Joe Q. Public <john.q.public@example.com>\r\n"
       "To: Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example\r\n"
       "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
       "Message-ID: <5678.21-Nov-1997@example.com>\r\n"
       "\r\n"
       "Hi everyone.\r\n",
       {"From", "To", "Date", "Message-ID"}},
      {"A.6.2",
       "From: John Doe <jdoe@machine.example>\r\n"
       "To: Mary Smith <mary@example.net>\r\n"
       "Subject: Saying Hello\r\n"
       "Date: 21 Nov 97 09:55:06 GMT\r\n"
       "Message-ID: <1234@local.machine.example>\r\n"
       "\r\n"
       "This is a message just to say hello.\r\n",
       {"From", "To", "Subject", "Date", "Message-ID"}},
      {"A.6.3",
       "From  : John Doe <jdoe@machine(comment).  example>\r\n"
       "To    : Mary Smith\r\n"
       "  \r\n"
       "          <mary@example.net>\r\n"
       "Subject     : Saying Hello\r\n"
       "Date  : Fri, 21 Nov 1997 09(comment):   55  :  06 -0600\r\n"
       "Message-ID  : <1234   @   local(blah)  .machine .example>\r\n"
       "\r\n"
       "This is a message just to say hello.\r\n",
       {"From", "To", "Subject", "Date", "Message-ID"}},
  };
  return cases;
}

TEST(Header, Rfc5322AppendixA) {
  for (const auto& c : appendix_cases()) {
    SCOPED_TRACE(c.name);
    auto r = parse_header_section(c.message);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->fields.size(), c.field_names.size());
    for (std::size_t i = 0; i < c.field_names.size(); ++i)
      EXPECT_EQ(r->fields[i].name, c.field_names[i]);
    EXPECT_FALSE(r->deviations.bare_lf);
    EXPECT_FALSE(r->deviations.garbage_line);
    EXPECT_FALSE(r->deviations.no_separator);
    expect_round_trip(c.message, *r);
  }
}

TEST(Header, AppendixA63ObsoleteWhitespace) {
  auto r = parse_header_section(appendix_cases().back().message);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deviations.ws_before_colon);
  EXPECT_EQ(r->fields[1].name, "To");
  EXPECT_EQ(r->fields[1].unfolded(), "Mary Smith  " + std::string(10, ' ') + "<mary@example.net>");
}

// Every split point: the parse of a prefix agrees with the parse of the whole message on every
// field the prefix contains completely, and the last (maybe cut) field is a prefix of the full
// one. Parsing never fails and always round-trips.
TEST(Header, SplitAtEveryPoint) {
  std::vector<std::string_view> messages;
  for (const auto& c : appendix_cases()) messages.push_back(c.message);
  messages.push_back("A: 1\nB: 2\n folded\n\nbody\n");
  messages.push_back("From x\nA : 1\r\n\tb\r\n\r\n");
  for (std::string_view msg : messages) {
    auto full = parse_header_section(msg);
    ASSERT_TRUE(full.ok());
    for (std::size_t k = 0; k <= msg.size(); ++k) {
      SCOPED_TRACE(k);
      const std::string_view prefix = msg.substr(0, k);
      auto part = parse_header_section(prefix);
      ASSERT_TRUE(part.ok());
      expect_round_trip(prefix, *part);
      // A cut between the CR and LF of the separator leaves a lone "\r" line: a garbage
      // line in the prefix, not a field of the full message.
      const std::size_t sep_start = full->raw.size();
      if (k > sep_start && k < sep_start + full->separator.size()) continue;
      const auto& pf = part->fields;
      ASSERT_LE(pf.size(), full->fields.size());
      for (std::size_t i = 0; i < pf.size(); ++i) {
        const Field& want = full->fields[i];
        EXPECT_EQ(pf[i].offset, want.offset);
        if (i + 1 < pf.size()) {
          EXPECT_EQ(pf[i].raw, want.raw);
          EXPECT_EQ(pf[i].name, want.name);
        } else {
          EXPECT_EQ(want.raw.substr(0, pf[i].raw.size()), pf[i].raw);
        }
      }
      if (k >= full->raw.size() + full->separator.size()) {
        EXPECT_EQ(pf.size(), full->fields.size());
        EXPECT_EQ(part->separator, full->separator);
        EXPECT_EQ(part->raw, full->raw);
      }
    }
  }
}

// Limits: exactly at the limit passes, one over fails with the typed error.
TEST(HeaderLimits, LineLengthExceededByOne) {
  Limits lim;
  lim.max_line_octets = 100;
  for (std::string_view eol : {"\r\n"sv, "\n"sv, ""sv}) {
    std::string at = "X: " + std::string(97, 'a');  // 100 octets without line ending
    const std::string over = at + "a";
    const std::string tail = eol.empty() ? "" : std::string(eol) + std::string(eol) + "body";
    const std::string at_msg = at + tail;
    const std::string over_msg = over + tail;
    auto ok = parse_header_section(at_msg, lim);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    auto bad = parse_header_section(over_msg, lim);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "line-too-long");
    EXPECT_NE(bad.error().message.find("offset 0"), std::string::npos);
  }
  // A long continuation line counts on its own.
  std::string msg = "A: 1\r\n " + std::string(100, 'b') + "\r\n\r\n";
  auto bad = parse_header_section(msg, lim);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "line-too-long");
  EXPECT_NE(bad.error().message.find("offset 6"), std::string::npos);
}

// The default limits take the envelope headers real providers write for large recipient
// lists: one 220 KB Envelope-To line (10,000 recipients), or 10,000 X-Envelope-To lines. Under
// the former 64 KiB / 10,000-field limits both were unparsable and went to the fallback with
// the envelope header unstripped.
TEST(HeaderLimits, DefaultsTakeAnEnvelopeHeaderForTenThousandRecipients) {
  std::string list, lines;
  for (int i = 0; i < 10'000; ++i) {
    const std::string a = "u" + std::to_string(100'000 + i) + "@firma.example";
    list += (i ? ", " : "") + a;
    lines += "X-Envelope-To: " + a + "\r\n";
  }
  const std::string one_line = "Envelope-To: " + list + "\r\nSubject: x\r\n\r\nbody";
  ASSERT_GT(one_line.size(), 220'000u);
  auto a = parse_header_section(one_line);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->fields.size(), 2u);
  const std::string many = lines + "Subject: x\r\n\r\nbody";
  auto b = parse_header_section(many);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->fields.size(), 10'001u);
}

TEST(HeaderLimits, UnlimitedLineLength) {
  Limits lim;
  lim.max_line_octets = SIZE_MAX;
  auto r = parse_header_section("A: 1\r\nB: 2\r\n\r\nbody", lim);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields.size(), 2u);
}

TEST(HeaderLimits, LongBodyLinesDoNotCount) {
  Limits lim;
  lim.max_line_octets = 10;
  auto r = parse_header_section("A: 1\r\n\r\n" + std::string(1000, 'x'), lim);
  EXPECT_TRUE(r.ok());
}

TEST(HeaderLimits, FieldCountExceededByOne) {
  Limits lim;
  lim.max_fields = 5;
  std::string five;
  for (int i = 0; i < 5; ++i) five += "F: " + std::to_string(i) + "\r\n";
  EXPECT_TRUE(parse_header_section(five + "\r\n", lim).ok());
  auto bad = parse_header_section(five + "F: 5\r\n\r\n", lim);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "too-many-fields");
  EXPECT_NE(bad.error().message.find("offset 30"), std::string::npos);
  // Garbage lines count as fields too; continuation lines do not.
  EXPECT_TRUE(parse_header_section(five + " cont\r\n\r\n", lim).ok());
  EXPECT_FALSE(parse_header_section(five + "garbage\r\n\r\n", lim).ok());
}

TEST(HeaderLimits, SectionSizeExceededByOne) {
  Limits lim;
  lim.max_section_octets = 60;
  std::string sec;
  for (int i = 0; i < 10; ++i) sec += "F: 1\r\n";  // 60 octets
  auto ok = parse_header_section(sec + "\r\n" + std::string(500, 'b'), lim);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->raw.size(), 60u);
  auto bad = parse_header_section("X" + sec + "\r\n", lim);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "header-too-large");
  // Without a separator too.
  EXPECT_TRUE(parse_header_section(sec, lim).ok());
  EXPECT_FALSE(parse_header_section(sec + "G", lim).ok());
}

TEST(HeaderLimits, HugeInputWithoutNewline) {
  const std::string big(10 * 1024 * 1024, 'a');
  auto r = parse_header_section(big);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "line-too-long");
}

TEST(RemoveFields, EveryOccurrenceWithContinuations) {
  const std::string_view msg =
      "Received: from a\r\n"
      "X-Envelope-To: one@example.com,\r\n"
      "\ttwo@example.com\r\n"
      "Subject: hi\r\n"
      "x-envelope-to: three@example.com\r\n"
      "To: t@example.com\r\n"
      "\r\n"
      "X-Envelope-To: in body stays\r\n";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  const std::array<std::string_view, 1> names = {"X-Envelope-To"};
  const std::string out = remove_fields(msg, *r, names);
  EXPECT_EQ(out,
            "Received: from a\r\n"
            "Subject: hi\r\n"
            "To: t@example.com\r\n"
            "\r\n"
            "X-Envelope-To: in body stays\r\n");
}

TEST(RemoveFields, SeveralNamesAndNoneMatching) {
  const std::string_view msg = "A: 1\nB: 2\n b\nC: 3\nA: 4\n\nbody";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  const std::array<std::string_view, 2> ab = {"a", "B"};
  EXPECT_EQ(remove_fields(msg, *r, ab), "C: 3\n\nbody");
  const std::array<std::string_view, 1> none = {"D"};
  EXPECT_EQ(remove_fields(msg, *r, none), msg);
  EXPECT_EQ(remove_fields(msg, *r, {}), msg);
  // An empty name never matches garbage lines.
  auto g = parse_header_section("garbage\nA: 1\n\n");
  ASSERT_TRUE(g.ok());
  const std::array<std::string_view, 1> empty = {""};
  EXPECT_EQ(remove_fields("garbage\nA: 1\n\n", *g, empty), "garbage\nA: 1\n\n");
}

TEST(RemoveFields, LastFieldWithoutSeparator) {
  const std::string_view msg = "A: 1\r\nB: 2";
  auto r = parse_header_section(msg);
  ASSERT_TRUE(r.ok());
  const std::array<std::string_view, 1> names = {"B"};
  EXPECT_EQ(remove_fields(msg, *r, names), "A: 1\r\n");
}

TEST(PrependField, UsesMessageLineEnding) {
  EXPECT_EQ(prepend_field("A: 1\r\n\r\nb", "X-Seen", "yes"), "X-Seen: yes\r\nA: 1\r\n\r\nb");
  EXPECT_EQ(prepend_field("A: 1\n\nb", "X-Seen", "yes"), "X-Seen: yes\nA: 1\n\nb");
  EXPECT_EQ(prepend_field("", "X", "y"), "X: y\r\n");
  const std::string with = prepend_field("A: 1\n\nb", "Return-Path", "<>");
  auto r = parse_header_section(with);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->fields.size(), 2u);
  EXPECT_EQ(r->fields[0].name, "Return-Path");
  EXPECT_EQ(r->fields[0].unfolded(), "<>");
}

}  // namespace
}  // namespace dropcheck::mail

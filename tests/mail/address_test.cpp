#include "mail/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dropcheck::mail {
namespace {

struct Want {
  std::string display_name;
  std::string addr_spec;
  std::string group;
};

struct Case {
  std::string input;
  std::vector<Want> want;
};

void check(const Case& c) {
  SCOPED_TRACE(c.input);
  auto r = parse_address_list(c.input);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  ASSERT_EQ(r->size(), c.want.size());
  for (std::size_t i = 0; i < c.want.size(); ++i) {
    EXPECT_EQ((*r)[i].display_name, c.want[i].display_name) << i;
    EXPECT_EQ((*r)[i].addr_spec(), c.want[i].addr_spec) << i;
    EXPECT_EQ((*r)[i].group, c.want[i].group) << i;
  }
}

TEST(Address, Rfc5322AppendixA) {
  const std::vector<Case> cases = {
      // A.1.1
      {"John Doe <jdoe@machine.example>", {{"John Doe", "jdoe@machine.example", ""}}},
      // A.1.2
      {"\"Joe Q. Public\" <john.q.public@example.com>",
       {{"Joe Q. Public", "john.q.public@example.com", ""}}},
      {"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
       {{"Mary Smith", "mary@x.test", ""},
        {"", "jdoe@example.org", ""},
        {"Who?", "one@y.test", ""}}},
      {"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
       {{"", "boss@nil.test", ""}, {"Giant; \"Big\" Box", "sysservices@example.net", ""}}},
      // A.1.3
      {"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
       {{"Ed Jones", "c@a.test", "A Group"},
        {"", "joe@where.test", "A Group"},
        {"John", "jdoe@one.test", "A Group"}}},
      {"Undisclosed recipients:;", {}},
      // A.2
      {"\"Mary Smith: Personal Account\" <smith@home.example>",
       {{"Mary Smith: Personal Account", "smith@home.example", ""}}},
      // A.5
      {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
       {{"Pete", "pete@silly.test", ""}}},
      {"A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
       "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the "
       "group)",
       {{"Chris Jones", "c@public.example", "A Group"},
        {"", "joe@example.org", "A Group"},
        {"John", "jdoe@one.test", "A Group"}}},
      {"(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;", {}},
      // A.6.1
      {"Joe Q. Public <john.q.public@example.com>",
       {{"Joe Q. Public", "john.q.public@example.com", ""}}},
      {"Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
       {{"Mary Smith", "mary@example.net", ""}, {"", "jdoe@test.example", ""}}},
      // A.6.3
      {"John Doe <jdoe@machine(comment).  example>", {{"John Doe", "jdoe@machine.example", ""}}},
      {"Mary Smith\r\n  \r\n          <mary@example.net>",
       {{"Mary Smith", "mary@example.net", ""}}},
  };
  for (const auto& c : cases) check(c);
}

TEST(Address, Forms) {
  const std::vector<Case> cases = {
      {"hans@example.com", {{"", "hans@example.com", ""}}},
      {"  <hans@example.com>  ", {{"", "hans@example.com", ""}}},
      {"Hans@EXAMPLE.Com", {{"", "Hans@example.com", ""}}},
      {"\"Meier, Hans\" <hans@example.com>", {{"Meier, Hans", "hans@example.com", ""}}},
      {"\"hans\"@example.com", {{"", "hans@example.com", ""}}},
      {"\"hans meier\"@example.com", {{"", "\"hans meier\"@example.com", ""}}},
      {"\"a\\\"b\"@example.com", {{"", "\"a\\\"b\"@example.com", ""}}},
      {"\"a\".b@example.com", {{"", "a.b@example.com", ""}}},
      {"a . b @ example . com", {{"", "a.b@example.com", ""}}},
      {"a..b@docomo.example", {{"", "\"a..b\"@docomo.example", ""}}},
      {"user@[192.0.2.1]", {{"", "user@[192.0.2.1]", ""}}},
      {"user@[IPv6:2001:db8::1]", {{"", "user@[ipv6:2001:db8::1]", ""}}},
      {"user@[ 192.0.2.1 ]", {{"", "user@[192.0.2.1]", ""}}},
      {"<@a.b,@c.d:user@x.y>", {{"", "user@x.y", ""}}},
      {"Name <@a.b,,@c.d:user@x.y>", {{"Name", "user@x.y", ""}}},
      {"hans@example.com (Hans Meier)", {{"", "hans@example.com", ""}}},
      {"(a (nested (comment)) here) hans@example.com", {{"", "hans@example.com", ""}}},
      {"=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@example.com>",
       {{"=?utf-8?q?J=C3=BCrgen_M=C3=BCller?=", "j@example.com", ""}}},
      {"=?ISO-8859-1?Q?Keld_J=F8rn?= =?ISO-8859-1?Q?_Simonsen?= <keld@example.dk>",
       {{"=?ISO-8859-1?Q?Keld_J=F8rn?= =?ISO-8859-1?Q?_Simonsen?=", "keld@example.dk", ""}}},
      {"\"=?utf-8?b?SGFucw==?=\" <h@example.com>", {{"=?utf-8?b?SGFucw==?=", "h@example.com", ""}}},
      {"J\xc3\xbcrgen <j\xc3\xbcrgen@m\xc3\xbcller.example>",
       {{"J\xc3\xbcrgen", "j\xc3\xbcrgen@m\xc3\xbcller.example", ""}}},
      {"info@xn--mller-kva.example", {{"", "info@xn--mller-kva.example", ""}}},
      {"undisclosed-recipients:;", {}},
      {"undisclosed-recipients:", {}},
      {"undisclosed-recipients: ;, x@y.z", {{"", "x@y.z", ""}}},
      {"team: a@x.y, b@x.y;, c@x.y",
       {{"", "a@x.y", "team"}, {"", "b@x.y", "team"}, {"", "c@x.y", ""}}},
      {",,a@x.y,,", {{"", "a@x.y", ""}}},
      {"", {}},
      {"   ", {}},
      {"\"\" <a@x.y>", {{"", "a@x.y", ""}}},
      {"a@x.y,\r\n\tb@x.y", {{"", "a@x.y", ""}, {"", "b@x.y", ""}}},
      {"\"quoted\r\n folded\" <a@x.y>", {{"quoted folded", "a@x.y", ""}}},
      {"Dr. Hans\tMeier  <a@x.y>", {{"Dr. Hans Meier", "a@x.y", ""}}},
  };
  for (const auto& c : cases) check(c);
}

TEST(Address, Fields) {
  auto r = parse_address_list("\"Meier, Hans\" <Hans.Meier@Example.COM>");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].local_part, "Hans.Meier");
  EXPECT_EQ((*r)[0].domain, "Example.COM");
  EXPECT_EQ((*r)[0].addr_spec(), "Hans.Meier@example.com");
}

struct ErrorCase {
  std::string input;
  std::string code;
  std::size_t offset;
};

TEST(Address, Errors) {
  const std::vector<ErrorCase> cases = {
      {"hans", "expected-at", 0},
      {"a@x.y, hans", "expected-at", 7},
      {"Hans Meier", "expected-at", 0},
      {"Meier, Hans <h@x.y>", "expected-at", 0},
      {"a@", "expected-domain", 2},
      {"a@x.", "expected-domain", 4},
      {"@x.y", "expected-local-part", 0},
      {"team: a@x.y; c@x.y", "expected-comma", 13},
      {"<a@x.y", "expected-angle-close", 6},
      {"<a>", "expected-at", 2},
      {"<>", "empty-address", 1},
      {"\"open@x.y", "unterminated-quoted-string", 0},
      {"a@x.y (open", "unterminated-comment", 6},
      {"a@[1.2.3.4", "unterminated-domain-literal", 2},
      {"a@x.y b@x.y", "expected-comma", 6},
      {"g: h: a@x.y;;", "nested-group", 4},
      {"a b@x.y", "bad-local-part", 2},
      {"<@a.b user@x.y>", "expected-colon", 6},
      {"a@x.y)", "unexpected-character", 5},
      {std::string("a@x.y\x01", 6), "unexpected-character", 5},
      {": a@x.y;", "expected-group-name", 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto r = parse_address_list(c.input);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, c.code) << r.error().message;
    EXPECT_NE(r.error().message.find("at offset " + std::to_string(c.offset)), std::string::npos)
        << r.error().message;
  }
}

TEST(Address, MailboxListRejectsGroups) {
  EXPECT_TRUE(parse_mailbox_list("a@x.y, B <b@x.y>").ok());
  auto r = parse_mailbox_list("g: a@x.y;");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "group-not-allowed");
}

TEST(Address, SingleAddrSpec) {
  EXPECT_EQ(parse_addr_spec("hans@Example.com")->addr_spec(), "hans@example.com");
  EXPECT_EQ(parse_addr_spec(" <hans@x.y> ")->addr_spec(), "hans@x.y");
  EXPECT_EQ(parse_addr_spec("<@r.s:hans@x.y>")->addr_spec(), "hans@x.y");
  EXPECT_EQ(parse_addr_spec("hans@x.y (from 1.2.3.4)")->addr_spec(), "hans@x.y");
  EXPECT_FALSE(parse_addr_spec("Hans <hans@x.y>").ok());
  EXPECT_FALSE(parse_addr_spec("a@x.y, b@x.y").ok());
  EXPECT_FALSE(parse_addr_spec("").ok());
  EXPECT_FALSE(parse_addr_spec("<>").ok());
}

TEST(Address, SplitAtEveryPointNeverCrashes) {
  const std::string full =
      "A Group(Some people) :Chris Jones <c@(Chris's host.)public.example>, \"Giant; \\\"Big\\\" "
      "Box\" <sysservices@example.net>, <@a.b,@c.d:u@[1.2.3.4]>; x@y.z";
  for (std::size_t k = 0; k <= full.size(); ++k) {
    auto a = parse_address_list(full.substr(0, k));
    auto b = parse_address_list(full.substr(k));
    if (!a.ok()) {
      EXPECT_NE(a.error().message.find("at offset"), std::string::npos);
    }
    if (!b.ok()) {
      EXPECT_NE(b.error().message.find("at offset"), std::string::npos);
    }
  }
}

TEST(Address, Helpers) {
  EXPECT_EQ(normalize_address("  <Hans@Example.COM> "), "Hans@example.com");
  EXPECT_EQ(normalize_address("hans"), "hans");
  EXPECT_EQ(normalize_address("\"a@b\"@X.Y"), "\"a@b\"@x.y");
  EXPECT_EQ(domain_of("Hans@Example.COM"), "example.com");
  EXPECT_EQ(domain_of("<hans@Example.COM>"), "example.com");
  EXPECT_EQ(domain_of("hans"), "");
}

TEST(Address, FormatRoundTrip) {
  std::vector<Address> in = {
      {"", "a", "x.y", ""},
      {"Hans Meier", "hans", "x.y", ""},
      {"Meier, Hans \"HM\"", "\"h m\"", "x.y", ""},
      {"", "c", "[1.2.3.4]", "Team A"},
      {"Dora", "d", "x.y", "Team A"},
      {"", "e", "x.y", "team"},
  };
  const std::string s = format_address_list(in);
  EXPECT_EQ(s,
            "a@x.y, Hans Meier <hans@x.y>, \"Meier, Hans \\\"HM\\\"\" <\"h m\"@x.y>, Team A: "
            "c@[1.2.3.4], Dora <d@x.y>;, team: e@x.y;");
  auto r = parse_address_list(s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ((*r)[i].display_name, in[i].display_name);
    EXPECT_EQ((*r)[i].local_part, in[i].local_part);
    EXPECT_EQ((*r)[i].domain, in[i].domain);
    EXPECT_EQ((*r)[i].group, in[i].group);
  }
}

}  // namespace
}  // namespace dropcheck::mail

namespace dropcheck::mail {
namespace {

// Found by address_fuzz: a quoted-pair CR inside a quoted local part must survive
// format -> parse (it is escaped again, not written as folding).
TEST(AddressRegression, QuotedPairCrRoundTrips) {
  auto r = parse_address_list("\"a\\\r\n b\"@x.y");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].local_part, "\"a\\\r b\"");
  const std::string text = format_address_list(*r);
  auto back = parse_address_list(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ((*back)[0].local_part, (*r)[0].local_part);
  auto named = parse_address_list("\"x\\\ny\" <a@x.y>");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ((*named)[0].display_name, "x\ny");
  auto named_back = parse_address_list(format_address_list(*named));
  ASSERT_TRUE(named_back.ok());
  EXPECT_EQ((*named_back)[0].display_name, "x\ny");
}

// Found by address_fuzz: a quoted-pair WSP in a domain literal is content, not FWS.
TEST(AddressRegression, DomainLiteralQuotedPairKept) {
  auto r = parse_address_list("2@[0\t\t\\\t\t]");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)[0].domain, "[0\\\t]");
  auto back = parse_address_list(format_address_list(*r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ((*back)[0].domain, (*r)[0].domain);
}

}  // namespace
}  // namespace dropcheck::mail

namespace dropcheck::mail {
namespace {

TEST(EncodedWords, Decode) {
  EXPECT_EQ(decode_encoded_words("=?utf-8?q?J=C3=BCrgen_M=C3=BCller?="),
            "J\xc3\xbcrgen M\xc3\xbcller");
  EXPECT_EQ(decode_encoded_words("=?ISO-8859-1?Q?Keld_J=F8rn?= =?ISO-8859-1?Q?_Simonsen?="),
            "Keld J\xc3\xb8rn Simonsen");
  EXPECT_EQ(decode_encoded_words("=?utf-8?b?SGFucw==?= Meier"), "Hans Meier");
  EXPECT_EQ(decode_encoded_words("Hans =?utf-8?B?TcO8bGxlcg==?="), "Hans M\xc3\xbcller");
  EXPECT_EQ(decode_encoded_words("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
  // Unknown charsets and malformed words stay as written.
  EXPECT_EQ(decode_encoded_words("=?koi8-r?q?abc?="), "=?koi8-r?q?abc?=");
  EXPECT_EQ(decode_encoded_words("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
  EXPECT_EQ(decode_encoded_words("=?utf-8?q?a=Z1?="), "=?utf-8?q?a=Z1?=");
  EXPECT_EQ(decode_encoded_words("=?utf-8?q?=FF?="), "=?utf-8?q?=FF?=");  // not UTF-8
  EXPECT_EQ(decode_encoded_words("=?utf-8?q?abc"), "=?utf-8?q?abc");
  EXPECT_EQ(decode_encoded_words("plain  text "), "plain  text ");
  EXPECT_EQ(decode_encoded_words(""), "");
}

TEST(EncodedWords, DisplayNameKeepsRawButDecodes) {
  auto r = parse_address_list("=?utf-8?q?J=C3=BCrgen?= <j@x.example>");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].display_name, "=?utf-8?q?J=C3=BCrgen?=");
  EXPECT_EQ(decode_encoded_words((*r)[0].display_name), "J\xc3\xbcrgen");
}

TEST(Idn, DomainToAscii) {
  EXPECT_EQ(*domain_to_ascii("m\xc3\xbcller.example"), "xn--mller-kva.example");
  EXPECT_EQ(*domain_to_ascii("M\xc3\xbcnchen.DE"), "xn--mnchen-3ya.de");
  EXPECT_EQ(*domain_to_ascii("b\xc3\xbc"
                             "cher.example"),
            "xn--bcher-kva.example");
  EXPECT_EQ(*domain_to_ascii("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"),
            "xn--r8jz45g.xn--zckzah");
  EXPECT_EQ(*domain_to_ascii("xn--mller-kva.Example"), "xn--mller-kva.example");
  EXPECT_EQ(*domain_to_ascii(""), "");
  auto bad = domain_to_ascii("a.\xff.b");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "bad-idn");
  EXPECT_NE(bad.error().message.find("offset 2"), std::string::npos);
  EXPECT_FALSE(domain_to_ascii("\xc0\x80").ok());  // overlong
}

TEST(Idn, SameDomain) {
  EXPECT_TRUE(same_domain("m\xc3\xbcller.example", "XN--MLLER-KVA.example"));
  EXPECT_TRUE(same_domain("Example.COM", "example.com"));
  EXPECT_FALSE(same_domain("mueller.example", "m\xc3\xbcller.example"));
  EXPECT_FALSE(same_domain("a.\xff", "a.\xff\xfe"));
}

}  // namespace
}  // namespace dropcheck::mail

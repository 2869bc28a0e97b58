// The analyzer's private text helpers (analyzer/src/text.hpp) against their plain definitions.
#include "text.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "base/strings.hpp"

namespace dropcheck::analyzer::detail {
namespace {

// find_lower gives what lower(hay).find(needle, from) gives, for every start position.
void expect_as_lowered(std::string_view hay, std::string_view needle) {
  const std::string lowered = lower(hay);
  for (std::size_t from = 0; from <= hay.size() + 2; ++from)
    EXPECT_EQ(find_lower(hay, needle, from), lowered.find(needle, from))
        << "hay '" << hay << "' needle '" << needle << "' from " << from;
}

TEST(FindLower, AgreesWithSearchingTheLowerCasedCopy) {
  const char* hays[] = {"",
                        "a",
                        "A",
                        "To: Bob@Firma.Example, bob@firma.example\r\n",
                        "BOB@FIRMA.EXAMPLEbob@firma.exampleBoB@fIrMa.ExAmPlE",
                        "bbbbBBBBbob@firma.examplBOB@FIRMA.EXAMPLE",
                        "@@@@-user@x.example...\xc3\xa9\xff@",
                        "aAaAaAaAaA",
                        "firma.example"};
  const char* needles[] = {
      "",   "a",   "b", "bob@firma.example", "@",        "-user@x.example",
      "aa", "aaa", "B", "firma.example",     "\xc3\xa9", "longer than any hay in this list at all"};
  for (const char* h : hays)
    for (const char* n : needles) expect_as_lowered(h, n);
}

TEST(FindLower, FindsEveryCaseOfTheFirstLetterInOrder) {
  const std::string hay = "xBob bob BOB bOb";
  EXPECT_EQ(find_lower(hay, "bob", 0), 1u);
  EXPECT_EQ(find_lower(hay, "bob", 2), 5u);
  EXPECT_EQ(find_lower(hay, "bob", 6), 9u);
  EXPECT_EQ(find_lower(hay, "bob", 10), 13u);
  EXPECT_EQ(find_lower(hay, "bob", 14), std::string_view::npos);
}

TEST(MentionCounts, CountsEveryCaseOfAnAddressInEachView) {
  const std::string raw =
      "To: Bob@Firma.Example\r\nSubject: "
      "=?utf-8?Q?BOB@firma.example?=\r\n\r\nbob@FIRMA.example\r\n";
  const MentionCounts c = mention_counts(raw, "BOB@firma.EXAMPLE");
  EXPECT_EQ(c, (MentionCounts{3, 2, 1}));
}

std::string fmt_hex(unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  return {kHex[c >> 4], kHex[c & 0xf]};
}

// Every string of up to `len` octets from `alphabet`.
std::vector<std::string> all_strings(std::string_view alphabet, std::size_t len) {
  std::vector<std::string> out{""};
  for (std::size_t start = 0, n = 1; n <= len; ++n) {
    const std::size_t end = out.size();
    for (std::size_t i = start; i < end; ++i)
      for (const char c : alphabet) out.push_back(out[i] + c);
    start = end;
  }
  return out;
}

// The plain definition: unfold the whole text, split it at LF, drop each line's final CR.
std::vector<std::string> unfolded_lines_plainly(std::string_view head) {
  const std::string text = unfold(head);
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < text.size();) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

// has_fold is exactly "unfolding changes it", and mention_counts (which unfolds and decodes
// only when there is something to unfold or decode) counts as with the copies it skips.
TEST(UnfoldedLines, HasFoldIsUnfoldChangingTheText) {
  for (const std::string& text : all_strings("a \t\r\n", 7))
    ASSERT_EQ(has_fold(text), unfold(text) != text) << testing::PrintToString(text);
}

TEST(MentionCounts, CountsTheSameWithAndWithoutFoldsOrEncodedWords) {
  const std::string plain = "To: b@x.example\r\nCc: B@X.example\r\n\r\nb@x.example\r\n";
  EXPECT_EQ(mention_counts(plain, "b@x.example"), (MentionCounts{3, 2, 0}));
  const std::string folded = "To: a@x.example,\r\n b@x.example\r\n\r\nbody\r\n";
  EXPECT_EQ(mention_counts(folded, "b@x.example"), (MentionCounts{1, 1, 0}));
  const std::string encoded = "Subject: =?utf-8?B?YkB4LmV4YW1wbGU=?=\r\n\r\n";
  EXPECT_EQ(mention_counts(encoded, "b@x.example"), (MentionCounts{0, 0, 1}));
  const std::string folded_encoded = "Subject: x\r\n =?utf-8?Q?b@x.example?=\r\n\r\n";
  EXPECT_EQ(mention_counts(folded_encoded, "b@x.example"), (MentionCounts{1, 1, 1}));
}

// each_unfolded_line finds the lines in place, unfolding only folded ones: the same lines for
// every text of up to 7 octets of letters, colons, blanks, CR and LF.
TEST(UnfoldedLines, AgreeWithUnfoldingTheWholeText) {
  for (const std::string& head : all_strings("a: \t\r\n", 7)) {
    std::vector<std::string> got;
    std::string scratch;
    each_unfolded_line(head, scratch, [&](std::string_view l) { got.emplace_back(l); });
    ASSERT_EQ(got, unfolded_lines_plainly(head)) << testing::PrintToString(head);
  }
}

TEST(UnfoldedLines, HeaderLinesByNameAreUnfoldedAndCaseIgnored) {
  const std::string raw =
      "BCC: a@x.example,\r\n\tb@x.example\r\nBcc : c@x.example\r\nX-Bcc: no\r\n\r\nBcc: body\r\n";
  EXPECT_EQ(header_lines(raw, "Bcc"),
            (std::vector<std::string>{"BCC: a@x.example,\tb@x.example", "Bcc : c@x.example"}));
}

// The plain definition of header lines by name: every unfolded line whose name is `name`.
std::vector<std::string> named_plainly(std::string_view head, std::string_view name) {
  std::vector<std::string> out;
  for (const std::string& line : unfolded_lines_plainly(head)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string n = line.substr(0, colon);
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.pop_back();
    if (lower(n) == lower(name)) out.push_back(line);
  }
  return out;
}

// each_header_named searches for the name instead of visiting every line: the same lines for
// every text of up to 7 octets of the name's letters (both cases), colons, blanks, CR and LF,
// for names it searches for and names it cannot (a blank or a colon in it: line by line).
TEST(HeaderNamed, AgreesWithVisitingEveryUnfoldedLine) {
  for (const std::string& head : all_strings("bBc: \r\n", 7))
    for (const char* name : {"b", "bc", "B", "b c", "b:", ""}) {
      std::vector<std::string> got;
      each_header_named(head, name, [&](std::string_view l) { got.emplace_back(l); });
      ASSERT_EQ(got, named_plainly(head, name))
          << testing::PrintToString(head) << " name " << testing::PrintToString(name);
    }
}

TEST(HeaderNamed, FindsFoldedAndSpacedNamesOnlyAtLineStarts) {
  const std::string head =
      "X-Dropcheck-Id\r\n : m1\r\nSubject: x-dropcheck-id: m2\r\n x-dropcheck-id: m3\r\n"
      "x-DROPCHECK-id \t: m4\r\nX-Dropcheck-Idx: m5\nX-Dropcheck-Id: m6";
  std::vector<std::string> got;
  each_header_named(head, "X-Dropcheck-Id", [&](std::string_view l) { got.emplace_back(l); });
  EXPECT_EQ(got, (std::vector<std::string>{"X-Dropcheck-Id : m1", "x-DROPCHECK-id \t: m4",
                                           "X-Dropcheck-Id: m6"}));
}

// body_sha256 hashes the body as crlf() makes it, without making it.
TEST(BodySha256, IsTheHashOfTheBodyWithBareLfsMadeCrlf) {
  for (const std::string& body : all_strings("a\r\n", 7)) {
    const std::string message = "Subject: s\r\n\r\n" + body;
    const std::string want = base::sha256_hex(crlf(split_message(message).second));
    const auto got = body_sha256(message);
    ASSERT_EQ(base::sha256_hex(crlf(body)), want);
    std::string hex;
    for (const unsigned char c : got) hex += fmt_hex(c);
    ASSERT_EQ(hex, want) << testing::PrintToString(body);
  }
}

// visible_addresses scans the line as it is and lower-cases only what it finds: what scanning
// the lower-cased line gives.
std::vector<std::string> visible_plainly(const std::string& raw) {
  std::set<std::string> found;
  for (const char* name : {"To", "Cc", "From", "Reply-To", "Sender"})
    for (const auto& line : header_lines(raw, name)) {
      const std::string l = lower(line.substr(line.find(':') + 1));
      for (std::size_t i = 0; i < l.size(); ++i) {
        if (l[i] != '@') continue;
        std::size_t b = i;
        const auto addr = [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) ||
                 std::string_view("._+%'=-").find(c) != std::string_view::npos ||
                 static_cast<unsigned char>(c) >= 0x80;
        };
        const auto domain = [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
        };
        while (b > 0 && addr(l[b - 1])) --b;
        std::size_t e = i + 1;
        while (e < l.size() && domain(l[e])) ++e;
        while (e > i + 1 && l[e - 1] == '.') --e;
        if (b < i && e > i + 1) found.insert(l.substr(b, e - b));
      }
    }
  return {found.begin(), found.end()};
}

TEST(VisibleAddresses, AgreeWithScanningTheLowerCasedLines) {
  const std::string raw =
      "From: \"X\" <Sender@Sender.Example>\r\nTo: Bob@Firma.Example, bob@firma.example,\r\n"
      " \xc3\xa9Ve@X.Example., -Qm@A-B.example.@@, x@, @y\r\nCC: Z.Q+tag@Sub.Firma.EXAMPLE\r\n"
      "Subject: not@shown.example\r\nReply-To: R%1@r.example\r\n\r\nTo: body@x.example\r\n";
  const auto got = visible_addresses(raw);
  EXPECT_EQ(got, visible_plainly(raw));
  EXPECT_EQ(std::count(got.begin(), got.end(), "bob@firma.example"), 1);
  EXPECT_EQ(std::count(got.begin(), got.end(), "not@shown.example"), 0);
}

}  // namespace
}  // namespace dropcheck::analyzer::detail

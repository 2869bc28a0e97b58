// The analyzer's private text helpers (analyzer/src/text.hpp) against their plain definitions.
#include "text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

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

}  // namespace
}  // namespace dropcheck::analyzer::detail

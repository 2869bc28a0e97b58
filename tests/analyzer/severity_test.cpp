#include "analyzer/severity.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "analyzer/report.hpp"

namespace dropcheck::analyzer {
namespace {

Finding finding(std::string type, std::string rcpt = "", bool blind = false) {
  Finding f{std::move(type), "m1", std::move(rcpt), "evidence", -1};
  f.blind_copy = blind;
  return f;
}

// A new finding type without a severity fails here, not silently in a report.
TEST(Severity, EveryFindingTypeHasOneWithAReasonAndWords) {
  for (const auto& type : finding_types()) {
    const FindingClass* c = finding_class(type);
    ASSERT_NE(c, nullptr) << type << " has no severity: add it to analyzer/src/severity.cpp";
    EXPECT_FALSE(c->reason.empty()) << type;
    EXPECT_FALSE(c->cell.empty()) << type;
    EXPECT_FALSE(c->phrase.empty()) << type;
  }
}

TEST(Severity, TheTableNamesOnlyKnownTypesOnceInReportOrder) {
  std::vector<std::string> table;
  for (const auto& c : finding_classes()) table.emplace_back(c.type);
  EXPECT_EQ(table, finding_types());
}

TEST(Severity, OrderOfTheGroups) {
  EXPECT_EQ(severity_of("lost-message"), Severity::critical);
  EXPECT_EQ(severity_of("lost-recipient"), Severity::critical);
  for (const char* t : {"envelope-header-leak", "bcc-header-leak", "relay-attempt", "relay-leak",
                        "misroute", "duplicate", "loop"})
    EXPECT_EQ(severity_of(t), Severity::major) << t;
  EXPECT_EQ(severity_of("sender-rewritten"), Severity::moderate);
  EXPECT_EQ(severity_of("message-altered"), Severity::moderate);
  for (const char* t : {"stall", "over-polling", "delayed", "login-refused"})
    EXPECT_EQ(severity_of(t), Severity::minor) << t;
  EXPECT_LT(Severity::critical, Severity::major);
  EXPECT_LT(Severity::major, Severity::moderate);
  EXPECT_LT(Severity::moderate, Severity::minor);
  EXPECT_EQ(severity_of("no-such-type"), Severity::critical);  // nothing unknown is hidden
}

TEST(Severity, NamesRoundTrip) {
  for (std::size_t i = 0; i < kSeverityCount; ++i) {
    const auto s = static_cast<Severity>(i);
    EXPECT_EQ(parse_severity(severity_name(s)), s);
    EXPECT_FALSE(severity_description(s).empty());
  }
  EXPECT_FALSE(parse_severity("fine").has_value());
}

TEST(Severity, WorstOfACell) {
  EXPECT_FALSE(worst_severity({}).has_value());
  EXPECT_EQ(worst_severity({finding("stall"), finding("envelope-header-leak")}), Severity::major);
  EXPECT_EQ(worst_severity({finding("stall"), finding("lost-recipient", "b")}), Severity::critical);
}

TEST(Severity, CellWordsWorstFirstCountedAndLeaksOnce) {
  EXPECT_EQ(cell_words({finding("stall"), finding("envelope-header-leak", "b"),
                        finding("bcc-header-leak", "a"), finding("lost-recipient", "b", true)}),
            (std::vector<std::string>{"loses BCC recipient", "leaks BCC", "stalls"}));
  EXPECT_EQ(cell_words({finding("duplicate", "a"), finding("duplicate", "b")}),
            (std::vector<std::string>{"2 duplicates"}));
  EXPECT_EQ(cell_words({finding("duplicate", "a")}), (std::vector<std::string>{"duplicate"}));
  EXPECT_EQ(cell_words({finding("lost-recipient", "a"), finding("lost-recipient", "b")}),
            (std::vector<std::string>{"loses 2 recipients"}));
  EXPECT_EQ(cell_words({finding("lost-recipient", "a"), finding("lost-recipient", "b", true)}),
            (std::vector<std::string>{"loses 2 recipients (1 BCC)"}));
  EXPECT_EQ(
      cell_words({finding("lost-recipient", "a", true), finding("lost-recipient", "b", true)}),
      (std::vector<std::string>{"loses 2 BCC recipients"}));
  EXPECT_EQ(cell_words({finding("no-such-type")}), (std::vector<std::string>{"no-such-type"}));
}

// The analyzer marks a lost envelope-only recipient as a blind copy; a To recipient is not.
TEST(Severity, LostBlindCopyIsMarkedByTheAnalyzer) {
  const std::string raw =
      "From: s@sender.example\r\nTo: a@firma.example\r\nX-Dropcheck-Id: m1\r\n\r\nbody\r\n";
  Truth t;
  t.local_domains = {"firma.example"};
  t.messages.push_back(
      {"m1", "s@sender.example", {"a@firma.example", "b@firma.example"}, raw, 0, ""});
  const Report none = analyze(t, {});
  ASSERT_EQ(none.findings.size(), 2u);
  for (const auto& f : none.findings)
    EXPECT_EQ(f.blind_copy, f.recipient == "b@firma.example") << f.recipient;
  EXPECT_EQ(cell_words(none.findings), (std::vector<std::string>{"loses 2 recipients (1 BCC)"}));
  const auto j = to_json(none);
  EXPECT_EQ(j["findings"][0]["severity"], "critical");
  EXPECT_EQ(j["findings"][1]["blind_copy"], true) << j.dump();
}

}  // namespace
}  // namespace dropcheck::analyzer

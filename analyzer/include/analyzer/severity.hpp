#pragma once
// How bad a finding is for the mail it concerns: the evaluation question ("what goes wrong?"),
// as opposed to the regression question ("did behaviour change?"). One table (severity.cpp)
// gives every finding type of finding_types() its severity, the reason for it, and the words
// reports use for it; a test fails when a type has none.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.hpp"

namespace dropcheck::analyzer {

// Worst first; the numeric value is the rank (0 = worst).
enum class Severity {
  critical,  // mail lost, or deleted at the provider undelivered
  major,     // mail or addresses reach someone they were not for, or arrive twice
  moderate,  // mail arrives, but not as it was sent
  minor,     // mail arrives late or the fetcher misbehaves towards the provider
};
inline constexpr std::size_t kSeverityCount = 4;

std::string_view severity_name(Severity s);         // "critical"
std::string_view severity_description(Severity s);  // one line for legends
std::optional<Severity> parse_severity(std::string_view name);

struct FindingClass {
  std::string_view type;  // one of finding_types()
  Severity severity;
  std::string_view reason;  // why this severity, one line
  std::string_view cell;    // the finding named in a matrix cell: "leaks BCC"
  std::string_view cell_n;  // the same for n > 1, "{}" = n: "{} duplicates" ("" = as `cell`)
  std::string_view phrase;  // a noun phrase for verdicts: "blind-copy recipients disclosed"
};

// Every classified type, in finding_types() order.
const std::vector<FindingClass>& finding_classes();
// The class of a finding type; nullptr for a type the table does not know.
const FindingClass* finding_class(std::string_view type);
// The severity of a finding type; an unknown type counts as critical (nothing is hidden).
Severity severity_of(std::string_view type);

// The worst severity among `findings` (nullopt: none).
std::optional<Severity> worst_severity(const std::vector<Finding>& findings);
// The findings of one cell in words, one entry per type (types worded alike once), worst
// first: {"loses BCC recipient", "leaks BCC", "2 duplicates"}.
std::vector<std::string> cell_words(const std::vector<Finding>& findings);

}  // namespace dropcheck::analyzer

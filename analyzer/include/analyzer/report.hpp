#pragma once
// Report renderers: text for people, JSON (schema in analyzer/README.md) for tools.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.hpp"

namespace dropcheck::analyzer {

// Strings in reports are valid UTF-8 whatever the journal held (evidence quotes raw header
// lines, names may be Latin-1): utf8_text keeps valid UTF-8 as is and reads every other octet
// as Latin-1 (0xFC -> U+00FC), so a JSON, JUnit or HTML report never fails on bytes.
std::string utf8_text(std::string_view bytes);
// Applies utf8_text to every string in `j`; an object member whose value changed gets a
// sibling "<name>_hex" with the original octets in hex, so nothing is lost.
void utf8_safe(nlohmann::json& j);

// The report as JSON (utf8_safe applied).
nlohmann::json to_json(const Report& report);
// to_json(report).dump(2), written to `out` a finding and a message at a time (no tree of the
// whole report); false if a write failed.
bool print_json(std::FILE* out, const Report& report);
std::string to_text(const Report& report);

// The text and JSON reports written to `out` as Judge::finish(ReportSink&) hands them over (the
// same bytes as print_text and print_json): a report of any size in memory for one message.
class TextReportWriter : public ReportSink {
 public:
  explicit TextReportWriter(std::FILE* out) : out_(out) {}
  void head(const Report& report) override;
  void message(const MessageStats& m) override;
  bool ok() const { return ok_; }  // false if a write failed

 private:
  std::FILE* out_;
  bool ok_ = true;
};

class JsonReportWriter : public ReportSink {
 public:
  explicit JsonReportWriter(std::FILE* out) : out_(out) {}
  void head(const Report& report) override;
  void message(const MessageStats& m) override;
  bool end();  // after the last message: the rest of the object; false if a write failed

 private:
  std::FILE* out_;
  bool ok_ = true;
  bool first_ = true;  // no message written yet
  std::string tail_;   // what follows "messages"
};
// The same text written to `out` as it is made (a large report is never held whole); false if
// a write failed.
bool print_text(std::FILE* out, const Report& report);

}  // namespace dropcheck::analyzer

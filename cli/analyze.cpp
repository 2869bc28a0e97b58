#include "analyze.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "analyzer/journal_input.hpp"
#include "analyzer/report.hpp"

namespace dropcheck::cli {

int cmd_analyze(const std::string& journal_dir, const std::string& truth_path, bool json) {
  constexpr int kExitOk = 0;
  constexpr int kExitFindings = 1;
  constexpr int kExitUsage = 2;
  auto truth = analyzer::load_truth(truth_path, analyzer::TruthBytes::summarized);
  if (!truth.ok()) {
    fmt::print(stderr, "dropcheck: {}\n", truth.error().message);
    return kExitUsage;
  }
  // The report is written as the judge hands it over, a message at a time.
  struct Count : analyzer::ReportSink {
    analyzer::ReportSink& out;
    std::size_t findings = 0;
    explicit Count(analyzer::ReportSink& o) : out(o) {}
    void head(const analyzer::Report& r) override {
      findings = r.findings.size();
      out.head(r);
    }
    void message(const analyzer::MessageStats& m) override { out.message(m); }
  };
  analyzer::TextReportWriter text(stdout);
  analyzer::JsonReportWriter json_writer(stdout);
  Count count(json ? static_cast<analyzer::ReportSink&>(json_writer) : text);
  const auto done = analyzer::analyze_journal(*truth, journal_dir, count);
  if (!done.ok()) {
    fmt::print(stderr, "dropcheck: {}: {}\n", journal_dir, done.error().message);
    return kExitUsage;
  }
  if (json) {
    json_writer.end();
    std::fputc('\n', stdout);
  }
  return count.findings == 0 ? kExitOk : kExitFindings;
}

}  // namespace dropcheck::cli

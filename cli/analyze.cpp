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
  auto rep = analyzer::analyze_journal(*truth, journal_dir);
  if (!rep.ok()) {
    fmt::print(stderr, "dropcheck: {}: {}\n", journal_dir, rep.error().message);
    return kExitUsage;
  }
  if (json) {
    analyzer::print_json(stdout, *rep);
    std::fputc('\n', stdout);
  } else {
    analyzer::print_text(stdout, *rep);
  }
  return rep->findings.empty() ? kExitOk : kExitFindings;
}

}  // namespace dropcheck::cli

#pragma once
// The evaluation view of a matrix: what goes wrong, by severity (analyzer/severity.hpp) —
// the pre-purchase question — beside the regression view (as documented or not), the CI
// question. "As documented" is not "fine": fetchmail's documented BCC leak is a major finding.
// Pure functions of a MatrixResult.
#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analyzer/severity.hpp"
#include "runner/matrix.hpp"

namespace dropcheck::runner {

std::string_view view_name(MatrixView v);  // "regression", "evaluation"
std::optional<MatrixView> parse_view(std::string_view name);
// Evaluation when a real fetcher (fetchmail, getmail6, command) or several providers are in
// the run; regression for the core and its defect models.
MatrixView default_view(const MatrixResult& m);

struct CellEvaluation {
  bool judged = false;  // played and every scheduled event fired (else nothing to evaluate)
  std::vector<analyzer::Finding> charged;   // against the fetcher (and a replaced provider)
  std::vector<analyzer::Finding> inherent;  // imposed by the scenario on any fetcher
  std::optional<analyzer::Severity> worst;  // of `charged`
  std::vector<std::string> words;           // `charged` named, worst first
  bool documented = false;                  // the regression pass: as recorded for the fetcher
};
CellEvaluation evaluate_cell(const MatrixCell& c);
// "leaks BCC, loses BCC recipient", "clean", or the regression label when not judged.
std::string evaluation_label(const CellEvaluation& e, const MatrixCell& c);

// A text matrix cell: "MAJOR leaks BCC [doc]" — the worst severity in capitals, the findings
// named, [doc] when that is what the library documents for the fetcher, [differs] when not;
// "+imposed" when the scenario imposes findings on any fetcher (not counted).
std::string evaluation_text_cell(const MatrixCell& c);

// One fetcher's cells (and one provider's, when several are played).
struct EvaluationSummary {
  std::string fetcher;
  std::string provider;  // "" unless several providers were played
  std::size_t cells = 0;
  std::size_t with_findings = 0;  // cells with a finding charged
  std::size_t not_judged = 0;     // error or not exercised
  std::size_t undocumented = 0;   // judged cells that differ from what the library records
  std::size_t imposed = 0;        // cells with findings the scenario imposes on any fetcher
  std::array<std::size_t, analyzer::kSeverityCount> cells_by_worst{};
  std::array<std::size_t, analyzer::kSeverityCount> findings_by_severity{};
  std::optional<analyzer::Severity> worst;
  std::string verdict;  // one paragraph, worst first
};
// In column order (fetchers), per provider when several are played.
std::vector<EvaluationSummary> evaluation_summaries(const MatrixResult& m);

// The text matrix's head: the verdicts, word-wrapped, and the marks explained.
std::string evaluation_text_head(const MatrixResult& m);

// An HTML matrix cell: the class (the worst severity's name, "clean") and its label (HTML):
// the findings named, "documented" / "not as documented" and what the scenario imposes as
// secondary marks.
std::pair<std::string, std::string> evaluation_html_cell(const MatrixCell& c);
// The HTML page's head in the evaluation view: one verdict paragraph per fetcher (and
// provider), and the legend of the colours and marks.
std::string evaluation_html_head(const MatrixResult& m);

// {"default_view", "severities": [{name, rank, description}], "finding_types": [{type,
// severity, reason}], "summaries": [...]}.
nlohmann::json evaluation_json(const MatrixResult& m);
// Adds to one cell's JSON (result_json) "evaluation": {judged, worst, words, label,
// documented, charged, inherent} and to each of its findings "inherent" (imposed by the
// scenario, not counted against the fetcher).
void add_evaluation(nlohmann::json& cell, const MatrixCell& c);

}  // namespace dropcheck::runner

// The matrix's evaluation view from hand-built results: severity colours, findings named,
// "documented" a mark, verdicts per fetcher, severities in JSON; the regression view unchanged.
#include "runner/evaluation.hpp"

#include <gtest/gtest.h>

#include <string>

namespace dropcheck::runner {
namespace {

analyzer::Finding finding(std::string type, std::string message, std::string rcpt,
                          bool blind = false) {
  analyzer::Finding f{std::move(type), std::move(message), std::move(rcpt), "evidence", -1};
  f.blind_copy = blind;
  return f;
}

MatrixCell cell(std::string scenario, std::string fetcher, std::vector<analyzer::Finding> found) {
  MatrixCell c;
  c.scenario = std::move(scenario);
  c.fetcher = std::move(fetcher);
  c.provider = "builtin";
  c.result.name = c.scenario;
  c.result.report.findings = std::move(found);
  return c;
}

// bcc: fetchmail leaks the blind copy, as the library documents; no-envelope-header: the
// scenario's provider makes the blind copy unrecoverable for any fetcher (its expect).
MatrixResult bcc_matrix() {
  MatrixResult m;
  m.scenarios = {"bcc", "no-envelope-header"};
  m.fetchers = {"core", "fetchmail"};
  m.cells.push_back(cell("bcc", "core", {}));
  m.cells.push_back(
      cell("bcc", "fetchmail", {finding("envelope-header-leak", "bcc-1", "b@firma.example")}));
  const std::vector<Expectation> inherent = {{"lost-recipient", "none-1", "a@firma.example"},
                                             {"lost-recipient", "none-1", "b@firma.example"},
                                             {"misroute", "none-1", "postmaster@firma.example"}};
  m.cells.push_back(cell("no-envelope-header", "core",
                         {finding("lost-recipient", "none-1", "a@firma.example"),
                          finding("lost-recipient", "none-1", "b@firma.example", true),
                          finding("misroute", "none-1", "postmaster@firma.example")}));
  m.cells.back().inherent = inherent;
  m.cells.push_back(cell("no-envelope-header", "fetchmail",
                         {finding("lost-recipient", "none-1", "b@firma.example", true)}));
  m.cells.back().inherent = inherent;
  return m;
}

TEST(Evaluation, DefaultViewFollowsWhatIsInTheRun) {
  MatrixResult m = bcc_matrix();
  EXPECT_EQ(default_view(m), MatrixView::evaluation);
  m.fetchers = {"core", "no-strip"};
  EXPECT_EQ(default_view(m), MatrixView::regression);
  m.providers = {"x-envelope-to", "qmail"};
  EXPECT_EQ(default_view(m), MatrixView::evaluation);
  EXPECT_EQ(parse_view("regression"), MatrixView::regression);
  EXPECT_EQ(parse_view("evaluation"), MatrixView::evaluation);
  EXPECT_FALSE(parse_view("fine").has_value());
}

TEST(Evaluation, DocumentedLeakIsMajorNotFine) {
  const MatrixResult m = bcc_matrix();
  const CellEvaluation e = evaluate_cell(m.cells[1]);
  EXPECT_TRUE(e.documented);
  EXPECT_EQ(e.worst, analyzer::Severity::major);
  EXPECT_EQ(e.words, std::vector<std::string>{"leaks BCC"});
  const CellEvaluation core = evaluate_cell(m.cells[2]);
  EXPECT_FALSE(core.worst.has_value());  // imposed by the scenario, not the core's
  EXPECT_EQ(core.inherent.size(), 3u);
}

TEST(Evaluation, TextShowsSeverityWordsMarksAndVerdicts) {
  const std::string t = matrix_text(bcc_matrix(), MatrixView::evaluation);
  EXPECT_NE(t.find("MAJOR leaks BCC [doc]"), std::string::npos) << t;
  EXPECT_NE(t.find("clean +imposed"), std::string::npos) << t;
  EXPECT_NE(t.find("  core: clean in all 2 scenarios judged."), std::string::npos) << t;
  EXPECT_NE(t.find("  fetchmail: major — something goes wrong in 1 of 2 scenarios. Major:"),
            std::string::npos)
      << t;
  const std::string verdict = evaluation_summaries(bcc_matrix())[1].verdict;
  EXPECT_EQ(verdict.rfind("fetchmail: major — something goes wrong in 1 of 2 scenarios. Major: "
                          "blind-copy recipients disclosed in 1 (bcc) — to avoid: have the "
                          "provider store one copy per recipient",
                          0),
            0u)
      << verdict;
  EXPECT_NE(verdict.find("Not counted: what 1 scenario(s) impose on any fetcher "
                         "(no-envelope-header)."),
            std::string::npos)
      << verdict;
  EXPECT_NE(t.find("(evaluation view)"), std::string::npos) << t;
  const std::string r = matrix_text(bcc_matrix(), MatrixView::regression);
  EXPECT_NE(r.find("ok (1 expected)"), std::string::npos) << r;
  EXPECT_EQ(r.find("VERDICT"), std::string::npos) << r;
  EXPECT_EQ(matrix_text(bcc_matrix()), t);  // real fetchers in the run: evaluation by default
}

TEST(Evaluation, HtmlColoursTheCellByItsWorstFinding) {
  const std::string h = matrix_html(bcc_matrix(), MatrixView::evaluation);
  EXPECT_NE(h.find("<td class=\"major\"><details><summary>leaks BCC<br><small class=\"mark\">"
                   "documented</small></summary>"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("<td class=\"clean\">clean</td>"), std::string::npos) << h;  // core, bcc
  EXPECT_NE(h.find("imposed by the scenario: loses 2 recipients (1 BCC), misroutes"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("<li class=\"major\">fetchmail: major — "), std::string::npos) << h;
  EXPECT_NE(h.find("<li class=\"none\">core: clean in all 2"), std::string::npos) << h;
  EXPECT_NE(h.find("envelope-header-leak (major)"), std::string::npos) << h;
  const std::string r = matrix_html(bcc_matrix(), MatrixView::regression);
  EXPECT_EQ(r.find("<td class=\"major\">"), std::string::npos) << r;
  EXPECT_NE(r.find("<td class=\"expected\"><details><summary>ok (1 expected)"), std::string::npos)
      << r;
}

TEST(Evaluation, UndocumentedFindingsAreMarked) {
  MatrixResult m = bcc_matrix();
  m.cells[0].result.report.findings.push_back(finding("duplicate", "bcc-1", "a@firma.example"));
  m.cells[0].result.unexpected.push_back("duplicate message=bcc-1 recipient=a@firma.example");
  EXPECT_NE(matrix_text(m, MatrixView::evaluation).find("MAJOR duplicate [differs]"),
            std::string::npos);
  EXPECT_NE(matrix_html(m, MatrixView::evaluation).find("not as documented"), std::string::npos);
  const auto s = evaluation_summaries(m);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].undocumented, 1u);
  EXPECT_NE(s[0].verdict.find("1 cell(s) not as documented"), std::string::npos) << s[0].verdict;
}

TEST(Evaluation, JsonCarriesSeverityPerFindingAndASummaryPerFetcher) {
  const nlohmann::json j = matrix_json(bcc_matrix());
  const auto& leak = j["cells"][1];
  EXPECT_EQ(leak["findings"][0]["severity"], "major");
  EXPECT_EQ(leak["findings"][0]["inherent"], false);
  EXPECT_EQ(leak["evaluation"]["worst"], "major");
  EXPECT_EQ(leak["evaluation"]["documented"], true);
  EXPECT_EQ(j["cells"][2]["findings"][0]["inherent"], true);
  EXPECT_EQ(j["cells"][2]["evaluation"]["worst"], "none");
  const auto& sums = j["evaluation"]["summaries"];
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0]["fetcher"], "core");
  EXPECT_EQ(sums[0]["worst"], "none");
  EXPECT_EQ(sums[1]["fetcher"], "fetchmail");
  EXPECT_EQ(sums[1]["worst"], "major");
  EXPECT_EQ(sums[1]["cells_by_worst"]["major"], 1);
  EXPECT_EQ(sums[1]["findings_by_severity"]["major"], 1);
  EXPECT_EQ(sums[1]["findings_by_severity"]["critical"], 0);  // the lost BCC is imposed
  EXPECT_EQ(j["evaluation"]["default_view"], "evaluation");
  EXPECT_EQ(j["evaluation"]["severities"][0]["name"], "critical");
  EXPECT_EQ(j["evaluation"]["finding_types"].size(), analyzer::finding_types().size());
}

TEST(Evaluation, SeveralProvidersGetAVerdictEachAndNothingIsImposed) {
  MatrixResult m;
  m.scenarios = {"bcc"};
  m.providers = {"envelope-to", "qmail"};
  m.fetchers = {"fetchmail"};
  m.cells.push_back(cell("bcc", "fetchmail", {finding("lost-recipient", "bcc-1", "b", true)}));
  m.cells.back().provider = "envelope-to";
  m.cells.push_back(cell("bcc", "fetchmail", {}));
  m.cells.back().provider = "qmail";
  const auto s = evaluation_summaries(m);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].verdict.rfind("fetchmail with provider envelope-to: critical", 0), 0u)
      << s[0].verdict;
  EXPECT_EQ(s[1].verdict.rfind("fetchmail with provider qmail: clean", 0), 0u) << s[1].verdict;
  EXPECT_NE(evaluation_text_cell(m.cells[0]).find("CRITICAL loses BCC recipient"),
            std::string::npos);
}

TEST(Evaluation, JunitStaysTheRegressionView) {
  const std::string x = matrix_junit(bcc_matrix());
  EXPECT_EQ(x.find("<failure"), std::string::npos) << x;
  EXPECT_EQ(x.find("major"), std::string::npos) << x;
}

TEST(Evaluation, NotJudgedCellsKeepTheirRegressionLabel) {
  MatrixResult m = bcc_matrix();
  m.cells[1].result.error = "port in use";
  EXPECT_EQ(evaluation_text_cell(m.cells[1]), "ERROR");
  EXPECT_NE(matrix_html(m, MatrixView::evaluation).find("<td class=\"error\">"), std::string::npos);
  EXPECT_EQ(evaluation_summaries(m)[1].not_judged, 1u);
}

}  // namespace
}  // namespace dropcheck::runner

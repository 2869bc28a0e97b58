// The report pictures (runner/pictures.hpp): one edge per delivery, marked
// edges, escaping of scenario data, bounded size, the heat map's links to each
// cell's details.
#include "runner/pictures.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "runner/matrix.hpp"

namespace dropcheck::runner {
namespace {

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

analyzer::Finding finding(std::string type, std::string msg, std::string rcpt, std::int64_t seq) {
  return {std::move(type), std::move(msg), std::move(rcpt), "evidence", seq};
}

analyzer::MessageStats message(std::string id, std::vector<analyzer::AcceptedDelivery> d) {
  analyzer::MessageStats m;
  m.id = std::move(id);
  m.injected_ms = 0;
  m.deliveries = std::move(d);
  m.deliveries_total = m.deliveries.size();
  m.copies = m.deliveries.size();
  for (const auto& x : m.deliveries) m.recipient_latency_ms.emplace(x.mailbox, x.virtual_ms);
  return m;
}

// bcc-1 to a and b in journal #1, again to b in #2 (duplicate), c lost; #1
// showed c to a and b.
ScenarioResult sample() {
  ScenarioResult r;
  r.name = "bcc";
  r.report.messages.push_back(message(
      "bcc-1",
      {{"a@firma.example", 1, 0}, {"b@firma.example", 1, 0}, {"b@firma.example", 2, 300'000}}));
  r.report.findings = {finding("lost-recipient", "bcc-1", "c@firma.example", -1),
                       finding("duplicate", "bcc-1", "b@firma.example", 2),
                       finding("envelope-header-leak", "bcc-1", "c@firma.example", 1)};
  r.facts.end_ms = 600'000;
  r.facts.messages.push_back({"bcc-1", "alice@sender.example", 0, {{1, "", true}}, 1});
  return r;
}

TEST(FlowPicture, OneEdgePerDeliveryAndOneDashedEdgePerLostRecipient) {
  const std::string svg = flow_svg(flow_model(sample()));
  EXPECT_EQ(count(svg, "class=\"edge delivered"), 3u);
  EXPECT_EQ(count(svg, "class=\"edge lost\""), 1u);
  EXPECT_EQ(count(svg,
                  "class=\"edge lost\" data-message=\"bcc-1\" "
                  "data-mailbox=\"c@firma.example\""),
            1u);
  EXPECT_NE(svg.find("data-drawn-deliveries=\"3\""), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"node mailbox\""), 3u);
  EXPECT_EQ(count(svg, "class=\"node copy deleted\" data-seq=\"1\""), 1u);
}

TEST(FlowPicture, DuplicateMarkedOnTheSecondCopyOnly) {
  const std::string svg = flow_svg(flow_model(sample()));
  EXPECT_EQ(count(svg,
                  "duplicate\" data-message=\"bcc-1\" data-mailbox=\"b@firma.example\" "
                  "data-seq=\"2\""),
            1u);
  EXPECT_EQ(count(svg, "class=\"edge delivered duplicate\""),
            1u);  // the edge of #2 only
}

TEST(FlowPicture, LeakMarkedOnEveryEdgeOfTheCopyThatCarriedIt) {
  const FlowModel m = flow_model(sample());
  ASSERT_EQ(m.lanes.size(), 1u);
  std::size_t leaks = 0;
  for (const auto& e : m.lanes[0].edges) {
    EXPECT_EQ(e.leak, e.journal_seq == 1) << e.mailbox << " #" << e.journal_seq;
    if (e.leak) {
      EXPECT_EQ(e.leaked, "c@firma.example");
      ++leaks;
    }
  }
  EXPECT_EQ(leaks, 2u);
  const std::string svg = flow_svg(m);
  EXPECT_EQ(count(svg, "class=\"edge delivered leak\""), 2u);
  EXPECT_EQ(count(svg, "data-leaked=\"c@firma.example\""), 2u);
}

TEST(FlowPicture, LeakNotMarkedOnTheDisclosedAddressOwnEdge) {
  ScenarioResult r = sample();
  r.report.findings[2].recipient = "b@firma.example";  // #1 showed b: its own copy is no leak
  const FlowModel m = flow_model(r);
  for (const auto& e : m.lanes[0].edges)
    EXPECT_EQ(e.leak, e.mailbox == "a@firma.example" && e.journal_seq == 1);
}

TEST(FlowPicture, MisrouteMarkedOnItsEdge) {
  ScenarioResult r = sample();
  r.report.messages[0].deliveries.push_back({"x@firma.example", 3, 0});
  r.report.messages[0].deliveries_total = 4;
  r.report.findings.push_back(finding("misroute", "bcc-1", "x@firma.example", 3));
  const std::string svg = flow_svg(flow_model(r));
  EXPECT_EQ(count(svg,
                  "class=\"edge delivered misroute\" data-message=\"bcc-1\" "
                  "data-mailbox=\"x@firma.example\" data-seq=\"3\""),
            1u);
  EXPECT_EQ(count(svg, "class=\"edge delivered"), 4u);
}

TEST(FlowPicture, LostMessageMarksItsNode) {
  ScenarioResult r;
  r.report.messages.push_back(message("gone", {}));
  r.report.findings = {finding("lost-message", "gone", "", -1),
                       finding("lost-recipient", "gone", "a@firma.example", -1)};
  const std::string svg = flow_svg(flow_model(r));
  EXPECT_EQ(count(svg, "class=\"lane lost-message\" data-message=\"gone\""), 1u);
  EXPECT_EQ(count(svg, "class=\"node message lost\""), 1u);
  EXPECT_EQ(count(svg, "class=\"edge lost\""), 1u);
  EXPECT_EQ(count(svg, "class=\"edge delivered"), 0u);
}

TEST(FlowPicture, EscapesIdsAndAddressesFromScenarioFiles) {
  ScenarioResult r;
  const std::string evil_id = "<script>alert(1)</script>&\"'";
  const std::string evil_box = "\"><svg onload=alert(1)>@firma.example";
  r.report.messages.push_back(message(evil_id, {{evil_box, 1, 0}}));
  r.report.findings = {finding("lost-recipient", evil_id, "x\xfc@firma.example", -1)};
  r.facts.messages.push_back({evil_id, "<evil>&@sender", 0, {{1, "box\"<", false}}, 1});
  const std::string all = result_pictures_html(r);
  EXPECT_EQ(all.find("<script>"), std::string::npos);
  EXPECT_EQ(all.find("<svg onload"), std::string::npos);
  EXPECT_EQ(all.find("<evil>"), std::string::npos);
  EXPECT_NE(all.find("data-message=\"&lt;script&gt;alert(1)&lt;/"
                     "script&gt;&amp;&quot;&#39;\""),
            std::string::npos);
  EXPECT_NE(all.find("x\xc3\xbc@firma.example"),
            std::string::npos);  // Latin-1 read as UTF-8
  EXPECT_EQ(all.find("x\xfc@"), std::string::npos);
}

TEST(FlowPicture, LongLabelsAreCutAtACharacterNotAnOctet) {
  ScenarioResult r;
  std::string id;
  for (int i = 0; i < 40; ++i) id += "\xc3\xa4";  // ä x40: the label shows 30 and "…"
  r.report.messages.push_back(message(id, {}));
  const std::string svg = flow_svg(flow_model(r));
  std::string shown;
  for (int i = 0; i < 30; ++i) shown += "\xc3\xa4";
  EXPECT_NE(svg.find(">" + shown + "\xE2\x80\xA6<"), std::string::npos);
}

// 10,000 messages, each delivered to three mailboxes with one lost recipient: a
// page of kilobytes, the rest summarised.
ScenarioResult huge() {
  ScenarioResult r;
  for (int i = 0; i < 10'000; ++i) {
    const std::string id = fmt::format("m{}", i);
    r.report.messages.push_back(message(
        id, {{"a@firma.example", 1, 0}, {"b@firma.example", 1, 0}, {"c@firma.example", 1, 0}}));
    r.report.findings.push_back(finding("lost-recipient", id, "d@firma.example", -1));
    r.facts.sessions.push_back(
        {static_cast<std::uint64_t>(i + 1), i * 1000, "u", "ok", "closed", 1, 1});
  }
  r.facts.sessions_total = 10'000;
  r.facts.end_ms = 10'000'000;
  return r;
}

TEST(PictureLimits, TenThousandMessagesMakeABoundedPicture) {
  const ScenarioResult r = huge();
  const FlowModel m = flow_model(r);
  EXPECT_EQ(m.lanes.size(), kMaxFlowMessages);
  EXPECT_EQ(m.omitted_messages, 10'000 - kMaxFlowMessages);
  EXPECT_EQ(m.omitted_deliveries, 3 * (10'000 - kMaxFlowMessages));
  EXPECT_EQ(m.omitted_lost, 10'000 - kMaxFlowMessages);
  const std::string html = result_pictures_html(r);
  EXPECT_LT(html.size(), std::size_t{1} << 20) << html.size();
  EXPECT_NE(html.find(fmt::format("data-omitted-messages=\"{}\"", 10'000 - kMaxFlowMessages)),
            std::string::npos);
  EXPECT_NE(
      html.find(fmt::format("{} more POP3 sessions not drawn", 10'000 - kMaxTimelineSessions)),
      std::string::npos);
}

TEST(PictureLimits, ALaneKeepsItsMarkedEdgesWithinTheLimit) {
  ScenarioResult r;
  std::vector<analyzer::AcceptedDelivery> d;
  for (std::uint64_t i = 1; i <= 60; ++i) d.push_back({fmt::format("u{}@firma.example", i), i, 0});
  r.report.messages.push_back(message("big", d));
  r.report.messages[0].deliveries_total = 5'000;  // the analyzer listed 60 of them
  r.report.findings = {finding("lost-recipient", "big", "last@firma.example", -1)};
  const FlowModel m = flow_model(r);
  const FlowLane& l = m.lanes.at(0);
  EXPECT_LE(l.edges.size(), kMaxLaneEdges);
  EXPECT_LE(l.mailboxes.size(), kMaxLaneMailboxes);
  // The lost edge is drawn although it came last: marked edges are kept first.
  EXPECT_TRUE(
      std::any_of(l.edges.begin(), l.edges.end(), [](const FlowEdge& e) { return e.lost; }));
  EXPECT_EQ(l.deliveries, 5'000u);
  EXPECT_EQ(l.omitted_edges, 5'001 - l.edges.size());
  EXPECT_NE(flow_svg(m).find("data-omitted-edges=\"" + std::to_string(l.omitted_edges) + "\""),
            std::string::npos);
}

ScenarioResult timeline_sample() {
  ScenarioResult r = sample();
  r.facts.interval_ms = 300'000;
  r.facts.login_delay_ms = 900'000;
  r.facts.cycles = {{1, 0, false, "ok"}, {2, 0, true, "ok"}, {3, 300'000, false, "auth-failed"}};
  r.facts.cycles_total = 3;
  r.facts.sessions = {{1, 0, "catchall", "ok", "closed", 2, 2},
                      {2, 0, "catchall", "login-delay", "closed", 0, 0},
                      {3, 300'000, "catchall", "bad-credentials", "closed", 0, 0},
                      {4, 300'000, "catchall", "ok", "fault-drop", 1, 0}};
  r.facts.sessions_total = 4;
  r.facts.drift_cycle = 3;
  r.facts.drift_profile = "gmx<&>";
  r.events = {{"overlap", true, "cycle 2 started", 0},
              {"provider-fault:drop_in_retr", false, "no", -1}};
  return r;
}

TEST(TimelinePicture, CyclesSessionsEventsDriftAndLatency) {
  const std::string svg = timeline_svg(timeline_sample());
  EXPECT_EQ(count(svg, "class=\"cycle\""), 2u);
  EXPECT_EQ(count(svg, "class=\"cycle overlapping\""), 1u);
  EXPECT_EQ(count(svg, "class=\"session ok\""), 1u);
  EXPECT_EQ(count(svg, "class=\"session login-delay\""), 1u);
  EXPECT_EQ(count(svg, "class=\"session refused\""), 1u);
  EXPECT_EQ(count(svg, "class=\"session ok fault\""), 1u);
  EXPECT_EQ(count(svg, "class=\"login-delay-window\""), 2u);
  EXPECT_EQ(count(svg, "class=\"event fired\" data-event=\"overlap\""), 1u);
  EXPECT_EQ(count(svg,
                  "class=\"event not-fired\" "
                  "data-event=\"provider-fault:drop_in_retr\""),
            1u);
  EXPECT_EQ(count(svg, "class=\"drift\" data-cycle=\"3\" data-profile=\"gmx&lt;&amp;&gt;\""), 1u);
  // bcc-1: one dot per recipient reached (a, b), its lost recipient as a dashed
  // line.
  EXPECT_EQ(count(svg, "class=\"latency\" data-message=\"bcc-1\""), 2u);
  EXPECT_EQ(count(svg, "class=\"latency lost\" data-message=\"bcc-1\" data-lost=\"1\""), 1u);
  EXPECT_EQ(count(svg, "class=\"inject\""), 1u);
}

TEST(TimelinePicture, LatencyBeyondTheBudgetIsMarkedDelayed) {
  ScenarioResult r = timeline_sample();
  r.facts.latency_budget_ms = 60'000;
  r.report.messages[0].recipient_latency_ms["b@firma.example"] = 300'000;
  const std::string svg = timeline_svg(r);
  EXPECT_EQ(count(svg,
                  "class=\"latency delayed\" data-message=\"bcc-1\" "
                  "data-mailbox=\"b@firma.example\""),
            1u);
  EXPECT_EQ(count(svg, "class=\"budget\""), 1u);
}

MatrixResult matrix() {
  MatrixResult m;
  m.scenarios = {"bcc", "clean"};
  m.fetchers = {"core", "no-strip"};
  ScenarioResult ok = sample();
  ok.report.findings.clear();
  ScenarioResult fail = sample();
  fail.unexpected = {"envelope-header-leak message=bcc-1 recipient=c@firma.example"};
  m.cells = {{"bcc", "", "core", ok},
             {"bcc", "", "no-strip", fail},
             {"clean", "", "core", ok},
             {"clean", "", "no-strip", ok}};
  return m;
}

TEST(HeatMap, OneSquarePerCellLinkedToItsDetails) {
  const MatrixResult m = matrix();
  const std::string svg = heat_map_svg(m);
  EXPECT_EQ(count(svg, "<rect class=\"cell "), 4u);
  EXPECT_EQ(count(svg, "<rect class=\"cell fail\""), 1u);
  EXPECT_EQ(count(svg, "<rect class=\"cell clean\""), 3u);
  EXPECT_NE(svg.find("href=\"#cell-1\"><rect class=\"cell fail\" x="), std::string::npos);
  EXPECT_NE(svg.find("data-scenario=\"bcc\" data-provider=\"\" data-fetcher=\"no-strip\""),
            std::string::npos);
  const std::string details = matrix_pictures_html(m);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(count(details, "<details id=\"cell-" + std::to_string(i) + "\""), 1u);
  EXPECT_EQ(count(details, "class=\"cell-detail fail\""), 1u);
  EXPECT_EQ(count(details, "<svg "), 8u);  // a flow and a timeline per cell
}

// Issue 22: "as documented" is not "fine". A documented leak is light green in the regression
// view and coloured by its worst finding in the evaluation view, on the heat map as in the table.
TEST(HeatMap, EvaluationViewColoursEachSquareByItsWorstFinding) {
  MatrixResult m = matrix();
  ScenarioResult leak = sample();
  leak.report.findings.erase(leak.report.findings.begin(), leak.report.findings.begin() + 2);
  m.cells[3].result = leak;      // documented: only an envelope leak, as expected
  m.cells[0].result = sample();  // documented: lost recipient, duplicate, leak
  const std::string regression = heat_map_svg(m, MatrixView::regression);
  EXPECT_EQ(count(regression, "<rect class=\"cell expected\""), 2u);
  EXPECT_EQ(regression.find("data-severity"), std::string::npos);
  const std::string evaluation = heat_map_svg(m, MatrixView::evaluation);
  EXPECT_EQ(count(evaluation, "<rect class=\"cell expected\""), 0u);
  EXPECT_EQ(count(evaluation, "<rect class=\"cell critical\""), 1u);
  EXPECT_EQ(count(evaluation, "<rect class=\"cell major\""), 1u);
  EXPECT_EQ(count(evaluation, "<rect class=\"cell critical fail\""), 1u);  // cell 1: differs
  EXPECT_EQ(count(evaluation, "<rect class=\"cell clean\""), 1u);
  EXPECT_NE(evaluation.find("data-severity=\"critical\""), std::string::npos);
  EXPECT_NE(evaluation.find("(documented)"), std::string::npos);
  EXPECT_NE(evaluation.find("(not as documented)"), std::string::npos);
  const std::string page = matrix_html(m, MatrixView::evaluation);
  EXPECT_EQ(count(page, "<rect class=\"cell critical\""), 1u);
}

TEST(HeatMap, TheMatrixPageCarriesTheHeatMapAndEveryCellsPictures) {
  const std::string html = matrix_html(matrix());
  EXPECT_EQ(count(html, "class=\"heatmap\""), 1u);
  EXPECT_EQ(count(html, "<details id=\"cell-"), 4u);
  EXPECT_EQ(count(html, "<script>"), 1u);
  EXPECT_EQ(html.find("http://"),
            html.find("http://www.w3.org/2000/svg"));  // nothing fetched
  EXPECT_EQ(html.find("https://"), std::string::npos);
}

TEST(PictureLimits, ThePageBudgetOmitsFurtherPictures) {
  std::size_t budget = 0;
  EXPECT_NE(result_pictures_html(sample(), budget).find("picture omitted"), std::string::npos);
  budget = 100;
  EXPECT_NE(result_pictures_html(sample(), budget).find("<svg"), std::string::npos);
  EXPECT_EQ(budget, 0u);
}

}  // namespace
}  // namespace dropcheck::runner

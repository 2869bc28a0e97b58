// The matrix as one self-contained HTML page (runner/matrix.hpp): the legend, the heat map,
// the table with a cell per scenario and fetcher, and the evidence and pictures per cell.
#include <fmt/format.h>

#include "analyzer/report.hpp"
#include "fetcher/fetcher.hpp"
#include "matrix_internal.hpp"
#include "runner/evaluation.hpp"
#include "runner/matrix.hpp"
#include "runner/pictures.hpp"

namespace dropcheck::runner {

using detail::xml_escape;

namespace {

// A cell of the HTML matrix: its class and its label (HTML).
std::pair<std::string, std::string> html_cell(const MatrixCell &c, MatrixView view) {
  const auto &r = c.result;
  if (!r.error.empty()) return {"error", xml_escape(cell_label(c))};
  if (!r.exercised()) return {"notexercised", xml_escape(cell_label(c))};
  if (view == MatrixView::evaluation) return evaluation_html_cell(c);
  return {!r.passed()                 ? "fail"
          : r.report.findings.empty() ? "clean"
                                      : "expected",
          xml_escape(cell_label(c))};
}

}  // namespace

std::string matrix_html(const MatrixResult &m) { return matrix_html(m, default_view(m)); }

namespace {

constexpr const char *kHtmlHead = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dropcheck compatibility matrix</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #bbb; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #eee; }
td.clean { background: #c8efc8; }
td.expected { background: #e6f4c4; }
td.fail { background: #f6c0c0; }
td.error { background: #d9b3e6; }
td.notexercised { background: #f3d9a4; }
td.critical, .legend .critical { background: #e8857f; }
td.major, .legend .major { background: #f5a35c; }
td.moderate, .legend .moderate { background: #f7d154; }
td.minor, .legend .minor { background: #fbefbd; }
.legend .clean { background: #c8efc8; }
.legend .notexercised { background: #f3d9a4; }
.legend .error { background: #d9b3e6; }
small.mark { color: #333; font-style: italic; }
small.differs { color: #a00; font-weight: 600; }
small.imposed { color: #555; }
ul.verdict li { margin-bottom: .4em; max-width: 75em; padding-left: 6px; border-left: 6px solid #c8efc8; }
ul.verdict li.critical { border-left-color: #e8857f; }
ul.verdict li.major { border-left-color: #f5a35c; }
ul.verdict li.moderate { border-left-color: #f7d154; }
ul.verdict li.minor { border-left-color: #fbefbd; }
details summary { cursor: pointer; font-weight: 600; }
details ul { margin: .3em 0 .3em 1.2em; padding: 0; }
.ev { font-family: ui-monospace, monospace; font-size: 12px; color: #444; word-break: break-all; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 6px; border: 1px solid #bbb; }
</style>
</head>
<body>
<h1>dropcheck compatibility matrix</h1>
)";

// The legend under the page title: the evaluation view brings its own.
std::string html_legend(const MatrixResult &m, MatrixView view) {
  std::string out = fmt::format(
      "<p>{} cell(s), {} failed ({:.1f} s). A cell passes when "
      "its findings equal what the "
      "scenario expects of that fetcher (<code>expect</code>, "
      "<code>defects:</code>, "
      "<code>fetchers:</code>).</p>\n",
      m.cells.size(), m.failed(), m.wall_ms / 1000.0);
  if (view == MatrixView::evaluation)
    out += evaluation_html_head(m);
  else
    out +=
        "<p class=\"legend\"><span class=\"clean\" "
        "style=\"background:#c8efc8\">ok: no "
        "findings</span><span style=\"background:#e6f4c4\">ok: findings as "
        "documented</span><span "
        "style=\"background:#f6c0c0\">FAIL: findings differ</span><span "
        "style=\"background:#f3d9a4\">NOT-EXERCISED: a scheduled event did not "
        "fire</span><span "
        "style=\"background:#d9b3e6\">ERROR: not played</span></p>\n";
  return out;
}

// One titled list in a cell's details; nothing when the list is empty.
void html_list(std::string &out, std::string_view title, const std::vector<std::string> &items) {
  if (items.empty()) return;
  out += "<p>" + std::string(title) + ":</p><ul>";
  for (const auto &x : items) out += "<li>" + xml_escape(x) + "</li>";
  out += "</ul>";
}

// The unfolded part of a cell: error, events, differences, findings, cycles.
std::string html_cell_details(const ScenarioResult &r) {
  const auto h = [](std::string_view s) { return xml_escape(s); };
  std::string out;
  if (!r.error.empty()) out += "<p>error: " + h(r.error) + "</p>";
  html_list(out, "scheduled events", event_lines(r));  // one line per event
  html_list(out, "expected but missing", r.missing);
  html_list(out, "unexpected", r.unexpected);
  if (!r.report.findings.empty()) {
    out += "<p>findings:</p><ul>";
    for (const auto &x : r.report.findings)
      out += fmt::format("<li>{} ({}) {} {}<br><span class=\"ev\">{}</span></li>", h(x.type),
                         analyzer::severity_name(analyzer::severity_of(x.type)),
                         h(x.message.empty() ? "-" : x.message),
                         h(x.recipient.empty() ? "-" : x.recipient), h(x.evidence));
    out += "</ul>";
  }
  if (!r.cycles.empty()) {
    out += "<p>cycles:</p><ul>";
    for (const auto &cy : r.cycles)
      out += fmt::format("<li>{}<br><span class=\"ev\">{}</span></li>",
                         h(fetcher::outcome_name(cy.outcome)), h(cy.detail));
    out += "</ul>";
  }
  return out;
}

// One table cell: the label, unfolding to the details when there is anything to show.
std::string html_matrix_cell(const MatrixCell &c, MatrixView view) {
  const auto &r = c.result;
  const auto [cls, label] = html_cell(c, view);
  std::string out = fmt::format("<td class=\"{}\">", cls);
  const bool detail =
      !r.report.findings.empty() || !r.passed() || !r.cycles.empty() || !r.events.empty();
  if (!detail) return out + label + "</td>";
  return out + "<details><summary>" + label + "</summary>" + html_cell_details(r) +
         "</details></td>";
}

// The table: one row per scenario (and provider), one column per fetcher.
std::string html_table(const MatrixResult &m, MatrixView view) {
  const auto h = [](std::string_view s) { return xml_escape(s); };
  const bool by_provider = !m.providers.empty();
  std::string out = "<table>\n<thead><tr><th>scenario</th>";
  if (by_provider) out += "<th>provider</th>";
  for (const auto &f : m.fetchers) out += "<th>" + h(f) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  const std::size_t nf = m.fetchers.size();
  for (std::size_t row = 0; nf > 0 && row * nf < m.cells.size(); ++row) {
    const MatrixCell &first = m.cells[row * nf];
    out += "<tr><th>" + h(first.scenario) + "</th>";
    if (by_provider) out += "<td>" + h(first.provider) + "</td>";
    for (std::size_t k = 0; k < nf; ++k) out += html_matrix_cell(m.cells[row * nf + k], view);
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

}  // namespace

std::string matrix_html(const MatrixResult &m, MatrixView view) {
  std::string out = kHtmlHead;
  out += html_legend(m, view);
  out += heat_map_svg(m, view) + "\n";  // runner/pictures.hpp: squares open #cell-N below
  out += html_table(m, view);
  out += matrix_pictures_html(m, view);  // evidence and pictures per cell
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace dropcheck::runner

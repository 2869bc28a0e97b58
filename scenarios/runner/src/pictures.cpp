// Pictures in pages (runner/pictures.hpp): one result's pictures, the matrix
// heat map, and per cell the evidence and pictures a heat-map square opens.
#include "runner/pictures.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "runner/evaluation.hpp"
#include "svg.hpp"

namespace dropcheck::runner {

namespace {

using svg::esc;
using svg::label;
using svg::text;

// Heat map geometry (px).
constexpr int kHeatLabel = 240;  // row labels
constexpr int kHeatCell = 22;

constexpr std::size_t kHeatColumnChars = 16;  // column labels cut beyond

// Room for the column labels, rotated by 55 degrees: about 5 px per character,
// upwards.
int heat_header(const MatrixResult& m) {
  std::size_t longest = 4;
  for (const auto& f : m.fetchers)
    longest = std::max(longest, std::min(f.size(), kHeatColumnChars));
  return 16 + static_cast<int>(longest) * 5;
}

std::string_view status_fill(std::string_view cls) {
  if (cls == "clean") return "#c8efc8";
  if (cls == "expected") return "#e6f4c4";
  if (cls == "fail") return "#e05a5a";
  if (cls == "error") return "#b07cc6";
  return "#f3c46a";  // notexercised
}

std::string row_name(const MatrixCell& c) {
  return c.provider.empty() ? c.scenario : c.scenario + " / " + c.provider;
}

// The evaluation view's colours: the worst finding's severity (the page's legend).
std::string_view severity_fill(std::string_view cls) {
  if (cls == "critical") return "#e8857f";
  if (cls == "major") return "#f5a35c";
  if (cls == "moderate") return "#f7d154";
  if (cls == "minor") return "#fbefbd";
  return status_fill(cls);
}

// A square's class and tooltip label: by regression status, or in the evaluation view by the
// worst finding charged to the fetcher (documented or not), as the table's cell.
struct SquareLook {
  std::string cls, severity, label;
};
SquareLook square_look(const MatrixCell& c, MatrixView view) {
  const std::string status(cell_status_class(c.result));
  if (view == MatrixView::regression) return {status, "", cell_label(c)};
  const CellEvaluation e = evaluate_cell(c);
  if (!e.judged) return {status, "", cell_label(c)};
  const std::string sev = e.worst ? std::string(analyzer::severity_name(*e.worst)) : "clean";
  std::string lab = evaluation_label(e, c);
  if (!e.documented)
    lab += " (not as documented)";
  else if (e.worst)
    lab += " (documented)";
  return {status == "fail" ? sev + " fail" : sev, sev, lab};
}

std::string heat_square(const MatrixCell& c, std::size_t index, int x, int y, MatrixView view) {
  const SquareLook look = square_look(c, view);
  const std::string_view cls = cell_status_class(c.result);
  const std::string tip = fmt::format("{} / {}: {}", row_name(c), c.fetcher, look.label);
  std::string out = fmt::format("<a class=\"cell-link\" href=\"#cell-{}\">", index);
  const std::string_view fill =
      look.severity.empty() ? status_fill(cls) : severity_fill(look.severity);
  out += svg::rect(
      fmt::format("cell {}", look.cls), x, y, kHeatCell - 2, kHeatCell - 2, fill,
      cls == "fail" && !look.severity.empty() ? "#a00" : "#fff",
      fmt::format(
          "data-cell=\"{}\" data-scenario=\"{}\" data-provider=\"{}\" "
          "data-fetcher=\"{}\" data-status=\"{}\"{}",
          index, esc(c.scenario), esc(c.provider), esc(c.fetcher), esc(c.result.status()),
          look.severity.empty() ? "" : fmt::format(" data-severity=\"{}\"", look.severity)));
  if (cls == "fail" && look.severity.empty())
    out +=
        text(x + 5, y + 14, fmt::format("{}", c.result.missing.size() + c.result.unexpected.size()),
             "cell-count", "fill=\"#fff\" font-weight=\"600\" pointer-events=\"none\"");
  return out + "<title>" + esc(tip) + "</title></a>";
}

std::string heat_labels(const MatrixResult& m, std::size_t rows) {
  const int header = heat_header(m);
  std::string out;
  for (std::size_t k = 0; k < m.fetchers.size(); ++k) {
    const int x = kHeatLabel + static_cast<int>(k) * kHeatCell + 12;
    out += text(x, header - 4, label(m.fetchers[k], kHeatColumnChars), "col-label",
                fmt::format("transform=\"rotate(-55 {} {})\"", x, header - 4));
  }
  const std::size_t nf = m.fetchers.size();
  for (std::size_t row = 0; row < rows; ++row)
    out += text(4, header + static_cast<int>(row) * kHeatCell + 15,
                label(row_name(m.cells[row * nf]), 38), "row-label");
  return out;
}

// Where the failing cells' evidence starts: the details of cell N.
std::string evidence_html(const MatrixCell& c) {
  const ScenarioResult& r = c.result;
  std::string out = "<ul class=\"evidence\">";
  if (!r.error.empty()) out += "<li>error: " + esc(r.error) + "</li>";
  for (const auto& e : event_lines(r)) out += "<li>event " + esc(e) + "</li>";
  for (const auto& x : r.missing)
    out += "<li class=\"missing\">expected but missing: " + esc(x) + "</li>";
  for (const auto& x : r.unexpected)
    out += "<li class=\"unexpected\">unexpected: " + esc(x) + "</li>";
  for (const auto& f : r.report.findings)
    out += fmt::format("<li class=\"finding\" data-type=\"{}\">{} {} {}: <code>{}</code></li>",
                       esc(f.type), esc(f.type), esc(f.message.empty() ? "-" : f.message),
                       esc(f.recipient.empty() ? "-" : f.recipient), esc(f.evidence));
  return out + "</ul>";
}

// Failing cells first, then cells with findings, then the rest: each pictured
// while the page's budget and kMaxPicturedCells last.
std::vector<std::string> cell_pictures(const MatrixResult& m) {
  std::vector<std::size_t> order(m.cells.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const auto rank = [&](std::size_t i) {
    const ScenarioResult& r = m.cells[i].result;
    return !r.passed() ? 0 : r.report.findings.empty() ? 2 : 1;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return rank(a) < rank(b); });
  std::vector<std::string> out(m.cells.size());
  std::size_t budget = kMaxPicturePageBytes, pictured = 0;
  for (const std::size_t i : order) {
    if (pictured++ >= kMaxPicturedCells) budget = 0;
    out[i] = result_pictures_html(m.cells[i].result, budget);
  }
  return out;
}

constexpr std::string_view kOpenScript = R"(<script>
// A heat-map square links to #cell-N: open that cell's details (also on load with a #cell-N).
(function () {
  function open(id) {
    var d = document.getElementById(id);
    if (d && d.tagName === 'DETAILS') { d.open = true; d.scrollIntoView(); }
  }
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a.cell-link');
    if (a) open(a.getAttribute('href').slice(1));
  });
  if (location.hash) open(location.hash.slice(1));
})();
</script>
)";

}  // namespace

std::string_view cell_status_class(const ScenarioResult& r) {
  if (!r.error.empty()) return "error";
  if (!r.exercised()) return "notexercised";
  if (!r.passed()) return "fail";
  return r.report.findings.empty() ? "clean" : "expected";
}

std::string result_pictures_html(const ScenarioResult& r) {
  if (!r.error.empty()) return "<p class=\"no-picture\">not played: no picture</p>";
  return "<figure class=\"picture flow-picture\">" + flow_svg(flow_model(r)) +
         "<figcaption>What happened to each message: one edge per accepted "
         "delivery; dashed red: "
         "lost recipient; thick red: the copy that disclosed a blind-copy "
         "recipient; orange: "
         "duplicate; purple: misroute.</figcaption></figure>\n"
         "<figure class=\"picture timeline-picture\">" +
         timeline_svg(r) +
         "<figcaption>Cycles and POP3 sessions on the virtual clock (green: "
         "login, orange: "
         "refused for LOGIN-DELAY, red: refused credentials, black border: a "
         "fault ended it; "
         "shaded: the LOGIN-DELAY window), scheduled events, and per message "
         "the time from "
         "injection to each recipient's first "
         "delivery.</figcaption></figure>\n";
}

std::string result_pictures_html(const ScenarioResult& r, std::size_t& budget) {
  if (budget == 0)
    return "<p class=\"no-picture omitted\">picture omitted: the page's "
           "picture budget is "
           "spent</p>";
  std::string out = result_pictures_html(r);
  budget = out.size() >= budget ? 0 : budget - out.size();
  return out;
}

std::string heat_map_svg(const MatrixResult& m, MatrixView view) {
  const std::size_t nf = m.fetchers.size();
  if (nf == 0) return {};
  const std::size_t rows_total = m.cells.size() / nf;
  const std::size_t rows = std::min(rows_total, kMaxHeatMapCells / nf);
  const int header = heat_header(m);
  std::string body = heat_labels(m, rows);
  for (std::size_t i = 0; i < rows * nf; ++i)
    body += heat_square(m.cells[i], i, kHeatLabel + static_cast<int>(i % nf) * kHeatCell,
                        header + static_cast<int>(i / nf) * kHeatCell, view);
  int height = header + static_cast<int>(rows) * kHeatCell + 6;
  if (rows < rows_total) {
    body +=
        text(4, height + 10, fmt::format("{} more rows not drawn", rows_total - rows), "summary");
    height += 18;
  }
  const int width = std::max(kHeatLabel + static_cast<int>(nf) * kHeatCell + 60, 400);
  return svg::open(
             "heatmap", width, height,
             fmt::format("data-cells=\"{}\" data-failed=\"{}\"", m.cells.size(), m.failed())) +
         "<title>The matrix: one square per cell; a failing square opens its "
         "evidence</title>" +
         body + "</svg>";
}

std::string matrix_pictures_html(const MatrixResult& m, MatrixView view) {
  const auto pictures = cell_pictures(m);
  std::string out =
      "<section class=\"cell-pictures\">\n<h2>What happened, "
      "cell by cell</h2>\n"
      "<p>Each cell's evidence and pictures; a square of the "
      "heat map opens its cell.</p>\n";
  for (std::size_t i = 0; i < m.cells.size(); ++i) {
    const MatrixCell& c = m.cells[i];
    const std::string_view cls = cell_status_class(c.result);
    const SquareLook look = square_look(c, view);
    const std::string summary = look.severity.empty() || look.severity == "clean"
                                    ? look.label
                                    : look.severity + ": " + look.label;
    out += fmt::format(
        "<details id=\"cell-{}\" class=\"cell-detail {}\" data-scenario=\"{}\" "
        "data-provider=\"{}\" data-fetcher=\"{}\"><summary>{} / {}: "
        "{}</summary>\n",
        i, cls, esc(c.scenario), esc(c.provider), esc(c.fetcher), esc(row_name(c)), esc(c.fetcher),
        esc(summary));
    out += evidence_html(c) + "\n" + pictures[i] + "</details>\n";
  }
  return out + "</section>\n" + std::string(kOpenScript);
}

}  // namespace dropcheck::runner

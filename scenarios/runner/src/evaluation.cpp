#include "runner/evaluation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "analyzer/report.hpp"
#include "base/strings.hpp"
#include "probe/advice.hpp"
#include "runner/external.hpp"

namespace dropcheck::runner {

namespace {

using analyzer::Severity;

// Scenario names a verdict lists per finding; the rest are counted ("+3 more").
constexpr std::size_t kVerdictNames = 4;
// Columns of the text verdicts.
constexpr std::size_t kTextWidth = 100;

std::size_t table_rank(const std::string& type) {
  const auto& classes = analyzer::finding_classes();
  const analyzer::FindingClass* c = analyzer::finding_class(type);
  return c ? static_cast<std::size_t>(c - classes.data()) : classes.size();
}

std::string phrase_of(const std::string& type) {
  const analyzer::FindingClass* c = analyzer::finding_class(type);
  return c ? std::string(c->phrase) : type;
}

std::string capitalised(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string name_list(const std::set<std::string>& names) {
  std::vector<std::string> shown;
  for (const auto& n : names) {
    if (shown.size() == kVerdictNames) break;
    shown.push_back(n);
  }
  std::string out = fmt::format("{}", fmt::join(shown, ", "));
  if (names.size() > shown.size()) out += fmt::format(", +{} more", names.size() - shown.size());
  return out;
}

// What one group's cells show: (severity, table rank, type) -> scenarios, and the scenarios
// that impose findings on any fetcher.
struct Tally {
  std::map<std::tuple<Severity, std::size_t, std::string>, std::set<std::string>> hits;
  std::set<std::string> imposed;
};

void count_cell(EvaluationSummary& s, Tally& t, const MatrixCell& c) {
  const CellEvaluation e = evaluate_cell(c);
  ++s.cells;
  if (!e.judged) {
    ++s.not_judged;
    return;
  }
  if (!e.documented) ++s.undocumented;
  if (!e.inherent.empty()) {
    ++s.imposed;
    t.imposed.insert(c.scenario);
  }
  if (!e.worst) return;
  ++s.with_findings;
  ++s.cells_by_worst[static_cast<std::size_t>(*e.worst)];
  if (!s.worst || *e.worst < *s.worst) s.worst = e.worst;
  for (const auto& f : e.charged) {
    const Severity sev = analyzer::severity_of(f.type);
    ++s.findings_by_severity[static_cast<std::size_t>(sev)];
    t.hits[{sev, table_rank(f.type), f.type}].insert(c.scenario);
  }
}

// "Major: blind-copy recipients disclosed in 5 (bcc, mixed, ...) — to avoid: ...". Worst
// first: by severity, then by the number of scenarios, then in the table's order.
std::string findings_sentences(const EvaluationSummary& s, const Tally& t) {
  std::vector<std::pair<std::tuple<Severity, std::size_t, std::string>, std::set<std::string>>>
      order(t.hits.begin(), t.hits.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(a.first) != std::get<0>(b.first))
      return std::get<0>(a.first) < std::get<0>(b.first);
    return a.second.size() > b.second.size();
  });
  std::string out;
  std::optional<Severity> open;
  for (const auto& [key, names] : order) {
    const auto& [sev, rank, type] = key;
    out += open == sev ? "; "
                       : fmt::format("{}{}: ", open ? ". " : " ",
                                     capitalised(analyzer::severity_name(sev)));
    open = sev;
    out += fmt::format("{} in {} ({})", phrase_of(type), names.size(), name_list(names));
    if (const auto avoid = probe::avoidance(s.fetcher, type); !avoid.empty())
      out += fmt::format(" — to avoid: {}", avoid);
  }
  return open ? out + "." : out;
}

std::string verdict_of(const EvaluationSummary& s, const Tally& t) {
  std::string who = s.provider.empty() ? s.fetcher : s.fetcher + " with provider " + s.provider;
  const std::size_t judged = s.cells - s.not_judged;
  std::string out = s.worst
                        ? fmt::format("{}: {} — something goes wrong in {} of {} scenarios.", who,
                                      analyzer::severity_name(*s.worst), s.with_findings, judged)
                        : fmt::format("{}: clean in all {} scenarios judged.", who, judged);
  out += findings_sentences(s, t);
  if (s.imposed > 0)
    out += fmt::format(" Not counted: what {} scenario(s) impose on any fetcher ({}).", s.imposed,
                       name_list(t.imposed));
  if (s.undocumented > 0)
    out += fmt::format(" {} cell(s) not as documented (regression view).", s.undocumented);
  if (s.not_judged > 0)
    out += fmt::format(" {} cell(s) not judged (error, not exercised).", s.not_judged);
  return out;
}

std::string html(std::string_view s) { return base::xml_escape(analyzer::utf8_text(s)); }

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

// `text` in lines of at most `width` columns (a longer word stays whole), the first indented
// by `first`, the rest by `rest`.
std::string wrapped(std::string_view text, std::size_t width, std::string_view first,
                    std::string_view rest) {
  std::string out, line(first);
  bool empty = true;
  for (const auto word : base::split(text, ' ')) {
    if (word.empty()) continue;
    if (!empty && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = std::string(rest);
      empty = true;
    }
    line += (empty ? "" : " ") + std::string(word);
    empty = false;
  }
  return out + line + "\n";
}

nlohmann::json counts_json(const std::array<std::size_t, analyzer::kSeverityCount>& counts) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i < counts.size(); ++i)
    j[std::string(analyzer::severity_name(static_cast<Severity>(i)))] = counts[i];
  return j;
}

std::string worst_name(const std::optional<Severity>& s) {
  return s ? std::string(analyzer::severity_name(*s)) : "none";
}

}  // namespace

std::string_view view_name(MatrixView v) {
  return v == MatrixView::regression ? "regression" : "evaluation";
}

std::optional<MatrixView> parse_view(std::string_view name) {
  if (name == "regression") return MatrixView::regression;
  if (name == "evaluation") return MatrixView::evaluation;
  return std::nullopt;
}

MatrixView default_view(const MatrixResult& m) {
  const bool real = std::any_of(m.fetchers.begin(), m.fetchers.end(),
                                [](const std::string& f) { return is_external_fetcher(f); });
  return real || m.providers.size() > 1 ? MatrixView::evaluation : MatrixView::regression;
}

CellEvaluation evaluate_cell(const MatrixCell& c) {
  CellEvaluation e;
  const ScenarioResult& r = c.result;
  e.judged = r.error.empty() && r.exercised();
  e.documented = r.passed();
  for (const auto& f : r.report.findings) {
    const bool imposed = std::any_of(c.inherent.begin(), c.inherent.end(),
                                     [&](const Expectation& x) { return matches(f, x); });
    (imposed ? e.inherent : e.charged).push_back(f);
  }
  e.worst = analyzer::worst_severity(e.charged);
  e.words = analyzer::cell_words(e.charged);
  return e;
}

std::string evaluation_label(const CellEvaluation& e, const MatrixCell& c) {
  if (!e.judged) return cell_label(c);
  return e.words.empty() ? "clean" : fmt::format("{}", fmt::join(e.words, ", "));
}

std::string evaluation_text_cell(const MatrixCell& c) {
  const CellEvaluation e = evaluate_cell(c);
  if (!e.judged) return cell_label(c);
  std::string out = evaluation_label(e, c);
  if (e.worst) out = upper(analyzer::severity_name(*e.worst)) + " " + out;
  if (!e.inherent.empty()) out += " +imposed";
  if (!e.documented) return out + " [differs]";
  return e.worst ? out + " [doc]" : out;
}

std::string evaluation_text_head(const MatrixResult& m) {
  std::string out =
      "VERDICT (evaluation view: each cell by its worst finding, critical > major > moderate > "
      "minor)\n";
  for (const auto& s : evaluation_summaries(m)) out += wrapped(s.verdict, kTextWidth, "  ", "    ");
  out += wrapped(
      "[doc]: as documented for that fetcher (the regression view's pass); [differs]: not as "
      "documented, see the notes; +imposed: the scenario imposes findings on any fetcher (its "
      "expect), not counted.",
      kTextWidth, "", "");
  return out + "\n";
}

std::pair<std::string, std::string> evaluation_html_cell(const MatrixCell& c) {
  const CellEvaluation e = evaluate_cell(c);
  std::string label = html(evaluation_label(e, c));
  if (!e.documented)
    label += "<br><small class=\"mark differs\">not as documented</small>";
  else if (e.worst)
    label += "<br><small class=\"mark\">documented</small>";
  if (!e.inherent.empty())
    label += "<br><small class=\"imposed\">imposed by the scenario: " +
             html(fmt::format("{}", fmt::join(analyzer::cell_words(e.inherent), ", "))) +
             "</small>";
  return {e.worst ? std::string(analyzer::severity_name(*e.worst)) : "clean", label};
}

std::string evaluation_html_head(const MatrixResult& m) {
  std::string out = "<h2>Verdict</h2>\n<ul class=\"verdict\">\n";
  for (const auto& s : evaluation_summaries(m))
    out += fmt::format("<li class=\"{}\">{}</li>\n", worst_name(s.worst), html(s.verdict));
  out += "</ul>\n<p class=\"legend\">Each cell by its worst finding: ";
  for (std::size_t i = 0; i < analyzer::kSeverityCount; ++i) {
    const auto sev = static_cast<Severity>(i);
    out += fmt::format("<span class=\"{0}\">{0}: {1}</span>", analyzer::severity_name(sev),
                       html(analyzer::severity_description(sev)));
  }
  out +=
      "<span class=\"clean\">clean: no finding against the fetcher</span>"
      "<span class=\"notexercised\">NOT-EXERCISED</span><span class=\"error\">ERROR</span>"
      "</p>\n<p><small>\"documented\": the library records this behaviour for the fetcher "
      "(the regression view's pass) — documented is not fine. \"imposed by the scenario\": "
      "what the scenario forces on any fetcher (its <code>expect</code>), not counted. "
      "<code>--view regression</code> shows the CI view.</small></p>\n";
  return out;
}

std::vector<EvaluationSummary> evaluation_summaries(const MatrixResult& m) {
  const bool per_provider = m.providers.size() > 1;
  std::vector<EvaluationSummary> out;
  std::vector<Tally> tallies;
  for (const auto& c : m.cells) {
    const std::string provider = per_provider ? c.provider : "";
    auto it = std::find_if(out.begin(), out.end(), [&](const EvaluationSummary& s) {
      return s.fetcher == c.fetcher && s.provider == provider;
    });
    if (it == out.end()) {
      EvaluationSummary s;
      s.fetcher = c.fetcher;
      s.provider = provider;
      out.push_back(std::move(s));
      tallies.emplace_back();
      it = out.end() - 1;
    }
    count_cell(*it, tallies[static_cast<std::size_t>(it - out.begin())], c);
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i].verdict = verdict_of(out[i], tallies[i]);
  return out;
}

nlohmann::json evaluation_json(const MatrixResult& m) {
  nlohmann::json j;
  j["default_view"] = std::string(view_name(default_view(m)));
  j["severities"] = nlohmann::json::array();
  for (std::size_t i = 0; i < analyzer::kSeverityCount; ++i) {
    const auto s = static_cast<Severity>(i);
    j["severities"].push_back({{"name", analyzer::severity_name(s)},
                               {"rank", i},
                               {"description", analyzer::severity_description(s)}});
  }
  j["finding_types"] = nlohmann::json::array();
  for (const auto& c : analyzer::finding_classes())
    j["finding_types"].push_back({{"type", c.type},
                                  {"severity", analyzer::severity_name(c.severity)},
                                  {"reason", c.reason}});
  j["summaries"] = nlohmann::json::array();
  for (const auto& s : evaluation_summaries(m))
    j["summaries"].push_back({{"fetcher", s.fetcher},
                              {"provider", s.provider},
                              {"cells", s.cells},
                              {"with_findings", s.with_findings},
                              {"not_judged", s.not_judged},
                              {"undocumented", s.undocumented},
                              {"imposed", s.imposed},
                              {"cells_by_worst", counts_json(s.cells_by_worst)},
                              {"findings_by_severity", counts_json(s.findings_by_severity)},
                              {"worst", worst_name(s.worst)},
                              {"verdict", s.verdict}});
  return j;
}

void add_evaluation(nlohmann::json& cell, const MatrixCell& c) {
  const CellEvaluation e = evaluate_cell(c);
  cell["evaluation"] = {{"judged", e.judged},
                        {"worst", worst_name(e.worst)},
                        {"words", e.words},
                        {"label", evaluation_label(e, c)},
                        {"documented", e.documented},
                        {"charged", e.charged.size()},
                        {"inherent", e.inherent.size()}};
  const auto& all = c.result.report.findings;
  for (std::size_t i = 0; i < all.size() && i < cell["findings"].size(); ++i)
    cell["findings"][i]["inherent"] =
        std::any_of(c.inherent.begin(), c.inherent.end(),
                    [&](const Expectation& x) { return matches(all[i], x); });
}

}  // namespace dropcheck::runner

// Renderers of a provider replay: verdict lines, text, JSON, one HTML page.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "analyzer/severity.hpp"
#include "base/strings.hpp"
#include "runner/pictures.hpp"
#include "runner/replay.hpp"

namespace dropcheck::runner {

namespace {

// The verdict's noun phrase for a finding type (analyzer/severity.hpp, one table).
std::string phrase(const std::string& type) {
  const analyzer::FindingClass* c = analyzer::finding_class(type);
  return c ? std::string(c->phrase) : type;
}

// Worst first: by severity, then in the table's order.
std::size_t rank(const std::string& type) {
  const auto& classes = analyzer::finding_classes();
  const analyzer::FindingClass* c = analyzer::finding_class(type);
  const auto within = c ? static_cast<std::size_t>(c - classes.data()) : classes.size();
  return static_cast<std::size_t>(analyzer::severity_of(type)) * (classes.size() + 1) + within;
}

std::vector<const ReplayCell*> cells_of(const ReplayResult& r, const std::string& provider,
                                        const std::string& fetcher) {
  std::vector<const ReplayCell*> out;
  for (const auto& c : r.cells)
    if (c.provider == provider && c.fetcher == fetcher) out.push_back(&c);
  return out;
}

const ProviderLimitRule* limit_named(const ReplayResult& r, const std::string& provider,
                                     const std::string& name) {
  for (const auto& p : r.providers)
    if (p.name == provider)
      for (const auto& l : p.limits)
        if (l.name == name) return &l;
  return nullptr;
}

std::string scenario_list(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::vector<std::string> replay_verdict(const ReplayResult& r, const std::string& provider,
                                        const std::string& fetcher) {
  const auto cells = cells_of(r, provider, fetcher);
  // (attribution, type, reason) -> scenarios
  std::map<std::tuple<Attribution, std::size_t, std::string, std::string>, std::set<std::string>>
      groups;
  std::set<std::string> clean, unexplained;
  for (const ReplayCell* c : cells) {
    if (!c->explained()) unexplained.insert(c->scenario);
    if (c->problem.empty() && c->findings.empty()) clean.insert(c->scenario);
    for (const auto& f : c->findings)
      groups[{f.by, rank(f.finding.type), f.finding.type, f.reason}].insert(c->scenario);
  }
  std::vector<std::string> out;
  out.push_back(fmt::format("clean in {} of {} scenarios", clean.size(), cells.size()));
  // Worst first within each attribution: by severity (analyzer/severity.hpp).
  for (const auto by : {Attribution::unexplained, Attribution::provider, Attribution::fetcher,
                        Attribution::scenario})
    for (const auto& [key, names] : groups) {
      const auto& [attr, rk, type, reason] = key;
      if (attr != by) continue;
      if (by == Attribution::provider) {
        const ProviderLimitRule* l = limit_named(r, provider, reason);
        out.push_back(fmt::format("{} in {} scenario(s): provider limit, {}", phrase(type),
                                  names.size(), l ? l->text : reason));
      } else if (by == Attribution::fetcher) {
        out.push_back(fmt::format("{} in {} scenario(s): fetcher defect ({})", phrase(type),
                                  names.size(), reason));
      } else if (by == Attribution::scenario) {
        out.push_back(
            fmt::format("{} in {} scenario(s): caused by the scenario's own faults "
                        "({})",
                        phrase(type), names.size(), scenario_list(names)));
      } else {
        out.push_back(fmt::format("UNEXPLAINED {} in {} scenario(s): {}", phrase(type),
                                  names.size(), scenario_list(names)));
      }
    }
  std::set<std::string> problems, stopped;
  for (const ReplayCell* c : cells)
    if (!c->problem.empty())
      (c->problem_by_fetcher ? stopped : problems).insert(c->scenario + " (" + c->problem + ")");
  if (!stopped.empty())
    out.push_back(
        fmt::format("stopped before the scenario's event in {} scenario(s), which the "
                    "core met here: fetcher defect ({})",
                    stopped.size(), scenario_list(stopped)));
  if (!problems.empty())
    out.push_back(fmt::format("UNEXPLAINED, not judged: {}", scenario_list(problems)));
  return out;
}

std::string replay_text(const ReplayResult& r) {
  std::string out;
  for (const auto& p : r.providers) {
    out += fmt::format("PROVIDER {} (profile {})\n", p.name, p.profile.name);
    for (const auto& l : p.limits) out += fmt::format("  limit {}: {}\n", l.name, l.text);
    if (p.limits.empty()) out += "  no known limits\n";
    for (const auto& f : r.fetchers) {
      const auto lines = replay_verdict(r, p.name, f);
      out += fmt::format("  {:<18} {}\n", f, lines.front());
      for (std::size_t i = 1; i < lines.size(); ++i)
        out += fmt::format("  {:<18} {}\n", "", lines[i]);
    }
  }
  out += fmt::format("{} cell(s), {} unexplained, {:.1f} s\n", r.cells.size(), r.unexplained(),
                     r.wall_ms / 1000);
  return out;
}

nlohmann::json replay_json(const ReplayResult& r) {
  nlohmann::json j;
  j["providers"] = nlohmann::json::array();
  for (const auto& p : r.providers) {
    nlohmann::json pj{{"name", p.name}, {"profile", p.profile.name}};
    pj["limits"] = nlohmann::json::array();
    for (const auto& l : p.limits)
      pj["limits"].push_back({{"name", l.name}, {"text", l.text}, {"explains", l.explains}});
    pj["fetchers"] = nlohmann::json::array();
    for (const auto& f : r.fetchers) {
      std::size_t unexplained = 0;
      for (const ReplayCell* c : cells_of(r, p.name, f)) unexplained += c->explained() ? 0 : 1;
      pj["fetchers"].push_back({{"fetcher", f},
                                {"verdict", replay_verdict(r, p.name, f)},
                                {"unexplained_cells", unexplained}});
    }
    j["providers"].push_back(std::move(pj));
  }
  j["cells"] = nlohmann::json::array();
  for (const auto& c : r.cells) {
    nlohmann::json cj{{"scenario", c.scenario},
                      {"provider", c.provider},
                      {"fetcher", c.fetcher},
                      {"status", c.result.status()},
                      {"explained", c.explained()},
                      {"problem", c.problem},
                      {"problem_by_fetcher", c.problem_by_fetcher}};
    cj["findings"] = nlohmann::json::array();
    for (const auto& f : c.findings)
      cj["findings"].push_back(
          {{"type", f.finding.type},
           {"severity", analyzer::severity_name(analyzer::severity_of(f.finding.type))},
           {"message", f.finding.message},
           {"recipient", f.finding.recipient},
           {"evidence", f.finding.evidence},
           {"attribution", attribution_name(f.by)},
           {"reason", f.reason}});
    j["cells"].push_back(std::move(cj));
  }
  j["unexplained_cells"] = r.unexplained();
  j["wall_ms"] = r.wall_ms;
  return j;
}

std::string replay_html(const ReplayResult& r) {
  const auto esc = [](std::string_view s) { return base::xml_escape(s); };
  std::string h =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>dropcheck provider "
      "replay</title><style>body{font:14px sans-serif;margin:1em}table{border-collapse:"
      "collapse}td,th{border:1px solid #999;padding:4px;vertical-align:top}li.unexplained{"
      "color:#a00;font-weight:bold}li.provider{color:#850}li.fetcher{color:#036}li.scenario{color:#"
      "555}"
      "</style></head><body><h1>What each provider costs you</h1>\n";
  h += fmt::format("<p>{} cell(s), <b>{}</b> unexplained.</p>\n", r.cells.size(), r.unexplained());
  h += "<table><tr><th>fetcher</th>";
  for (const auto& p : r.providers) {
    h += "<th>" + esc(p.name) + "<br><small>";
    for (const auto& l : p.limits) h += esc(l.name) + " ";
    h += "</small></th>";
  }
  h += "</tr>\n";
  for (const auto& f : r.fetchers) {
    h += "<tr><th>" + esc(f) + "</th>";
    for (const auto& p : r.providers) {
      h += "<td><ul>";
      for (const auto& line : replay_verdict(r, p.name, f)) {
        const char* cls = line.rfind("UNEXPLAINED", 0) == 0                  ? "unexplained"
                          : line.find("provider limit") != std::string::npos ? "provider"
                          : line.find("fetcher defect") != std::string::npos ? "fetcher"
                          : line.find("scenario's own") != std::string::npos ? "scenario"
                                                                             : "clean";
        h += fmt::format("<li class=\"{}\">{}</li>", cls, esc(line));
      }
      h += "</ul></td>";
    }
    h += "</tr>\n";
  }
  h += "</table>\n<h2>Evidence</h2>\n";
  std::size_t picture_budget = kMaxPicturePageBytes;  // runner/pictures.hpp
  for (const auto& c : r.cells) {
    if (c.findings.empty() && c.problem.empty()) continue;
    h += fmt::format("<details><summary>{} / {} / {}{}</summary><ul>", esc(c.provider),
                     esc(c.fetcher), esc(c.scenario), c.explained() ? "" : " — UNEXPLAINED");
    if (!c.problem.empty())
      h += fmt::format("<li class=\"{}\">{}</li>", c.problem_by_fetcher ? "fetcher" : "unexplained",
                       esc(c.problem));
    for (const auto& f : c.findings)
      h += fmt::format("<li class=\"{}\">{} {} {} — {} ({})</li>", attribution_name(f.by),
                       esc(f.finding.type), esc(f.finding.message), esc(f.finding.recipient),
                       esc(f.finding.evidence), esc(f.reason));
    h += "</ul>" + result_pictures_html(c.result, picture_budget) + "</details>\n";
  }
  return h + "</body></html>\n";
}

}  // namespace dropcheck::runner

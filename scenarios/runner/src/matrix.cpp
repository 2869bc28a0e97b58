#include "runner/matrix.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "analyzer/report.hpp"
#include "base/strings.hpp"
#include "fetcher/fetcher.hpp"
#include "matrix_internal.hpp"
#include "runner/evaluation.hpp"
#include "runner/external.hpp"
#include "runner/pictures.hpp"

namespace dropcheck::runner {

namespace detail {

std::string xml_escape(std::string_view s) { return base::xml_escape(analyzer::utf8_text(s)); }

}  // namespace detail

using detail::xml_escape;

namespace {

bool is_defect_model(const std::string &name) {
  return name != "none" && fetcher::parse_defect(name).ok();
}

std::string provider_label(const MatrixCell &c) { return c.provider; }

// Failure text of a cell: what was missing, what was unexpected, or the harness
// error.
std::string failure_text(const ScenarioResult &r) {
  std::string out;
  if (!r.error.empty()) out += "error: " + r.error + "\n";
  for (const auto &e : r.events)
    if (!e.fired) out += "not exercised: " + e.name + " did not fire: " + e.detail + "\n";
  for (const auto &m : r.missing) out += "expected but missing: " + m + "\n";
  for (const auto &u : r.unexpected) out += "unexpected: " + u + "\n";
  return out;
}

// "scheduled: overlap, provider-fault:x; fired in: core, fetchmail" for a row with scheduled
// events ("" for none): every cell says which of its events fired.
std::string fired_note(const MatrixResult &m, std::size_t row) {
  const std::size_t nf = m.fetchers.size();
  std::vector<std::string> names;
  std::vector<std::string> fired_in;
  for (std::size_t k = 0; k < nf; ++k) {
    const ScenarioResult &r = m.cells[row * nf + k].result;
    for (const auto &e : r.events)
      if (std::find(names.begin(), names.end(), e.name) == names.end()) names.push_back(e.name);
    if (!r.events.empty() && r.exercised()) fired_in.push_back(m.cells[row * nf + k].fetcher);
  }
  if (names.empty()) return {};
  return fmt::format(
      "scheduled: {}; all fired in: {}", fmt::join(names, ", "),
      fired_in.empty() ? std::string("-") : fmt::format("{}", fmt::join(fired_in, ", ")));
}

// A cell in the text matrix, in `view`.
std::string text_cell(const MatrixCell &c, MatrixView view) {
  return view == MatrixView::regression ? cell_label(c) : evaluation_text_cell(c);
}

}  // namespace

std::size_t MatrixResult::failed() const {
  return static_cast<std::size_t>(std::count_if(
      cells.begin(), cells.end(), [](const MatrixCell &c) { return !c.result.passed(); }));
}

base::Status check_matrix_fetchers(const std::vector<std::string> &fetchers,
                                   const std::string &command) {
  if (fetchers.empty()) return base::make_error("bad-fetcher", "empty list of fetchers");
  for (const auto &f : fetchers) {
    if (f == "core" || is_defect_model(f) || is_external_fetcher(f)) {
      if (f == "command" && command.empty())
        return base::make_error("bad-fetcher",
                                "fetcher 'command' needs --command \"TEMPLATE\" (placeholders "
                                "in scenarios/README.md)");
      continue;
    }
    std::string known = "core";
    for (const auto &k : external_fetcher_kinds()) known += ", " + k;
    known += ", " + fetcher::defect_model_names();
    return base::make_error("bad-fetcher",
                            fmt::format("unknown fetcher '{}' (known: {})", f, known));
  }
  return base::ok_status();
}

Scenario matrix_cell_scenario(const Scenario &scenario, const std::string &provider,
                              const std::string &fetcher, const std::string &command) {
  Scenario s;
  if (const auto kind = parse_fetcher_kind(fetcher))
    s = with_fetcher(scenario, *kind, command);
  else
    s = with_defect(with_fetcher(scenario, FetcherKind::core),
                    fetcher::parse_defect(fetcher).value());
  if (!provider.empty()) s.profile = provider;
  return s;
}

std::string matrix_cell_dir(const MatrixCell &cell, bool provider_replaced) {
  std::string name = cell.scenario + "--";
  if (provider_replaced) name += std::filesystem::path(cell.provider).stem().string() + "--";
  name += cell.fetcher;
  for (char &ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-')
      ch = '_';
  return name;
}

std::vector<ScenarioResult> run_all(
    const std::vector<Scenario> &plays, unsigned jobs,
    const std::function<void(std::size_t, const ScenarioResult &)> &done,
    const std::vector<std::string> &keep_dirs, const std::function<void(std::string_view)> &log) {
  std::vector<ScenarioResult> results(plays.size());
  // Runs are independent (own io_context, ephemeral ports, temp dir, child
  // processes), so they may run on several threads; results land in their fixed
  // slots.
  std::atomic<std::size_t> next{0};
  std::mutex done_mu;
  auto worker = [&] {
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= plays.size()) return;
      RunOptions run;
      run.log = log;
      if (i < keep_dirs.size()) run.keep_dir = keep_dirs[i];
      results[i] = run_scenario(plays[i], run);
      if (done) {
        std::lock_guard<std::mutex> lock(done_mu);
        done(i, results[i]);
      }
    }
  };
  jobs = std::max(1u, std::min<unsigned>(jobs, 64));
  if (jobs == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (unsigned j = 0; j < jobs; ++j) pool.emplace_back(worker);
    for (auto &t : pool) t.join();
  }
  return results;
}

MatrixResult run_matrix(const std::vector<Scenario> &scenarios, const MatrixOptions &options,
                        const std::function<void(const MatrixCell &)> &progress) {
  const auto start = std::chrono::steady_clock::now();
  MatrixResult m;
  m.fetchers = options.fetchers;
  m.providers = options.providers;
  const std::vector<std::string> providers =
      options.providers.empty() ? std::vector<std::string>{""} : options.providers;
  std::vector<Scenario> plays;
  std::vector<std::string> keep_dirs;
  for (const auto &s : scenarios) {
    m.scenarios.push_back(s.name);
    for (const auto &p : providers) {
      for (const auto &f : options.fetchers) {
        MatrixCell c;
        c.scenario = s.name;
        c.fetcher = f;
        plays.push_back(matrix_cell_scenario(s, p, f, options.command));
        c.provider = plays.back().profile;
        if (p.empty())
          for (const auto &alt : s.expect.any_of)
            c.inherent.insert(c.inherent.end(), alt.begin(), alt.end());
        if (!options.keep_dir.empty())
          keep_dirs.push_back(
              (std::filesystem::path(options.keep_dir) / matrix_cell_dir(c, !p.empty())).string());
        m.cells.push_back(std::move(c));
      }
    }
  }
  const auto results = run_all(
      plays, options.jobs,
      [&](std::size_t i, const ScenarioResult &r) {
        if (!progress) return;
        MatrixCell c = m.cells[i];
        c.result = r;
        progress(c);
      },
      keep_dirs);
  for (std::size_t i = 0; i < results.size(); ++i) m.cells[i].result = results[i];
  m.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return m;
}

std::vector<std::string> event_lines(const ScenarioResult &r) {
  std::vector<std::string> out;
  for (const auto &e : r.events)
    out.push_back(fmt::format("{} {} ({})", e.name, e.fired ? "fired" : "NOT FIRED", e.detail));
  return out;
}

nlohmann::json result_json(const ScenarioResult &r) {
  nlohmann::json j = analyzer::to_json(r.report);
  j["source"] = r.source;
  j["status"] = std::string(r.status());
  j["passed"] = r.passed();
  j["missing"] = r.missing;
  j["unexpected"] = r.unexpected;
  j["error"] = r.error;
  j["wall_ms"] = r.wall_ms;
  j["events"] = nlohmann::json::array();
  for (const auto &e : r.events)
    j["events"].push_back({{"name", e.name}, {"fired", e.fired}, {"detail", e.detail}});
  j["cycles"] = nlohmann::json::array();
  for (const auto &cy : r.cycles)
    j["cycles"].push_back(
        {{"outcome", std::string(fetcher::outcome_name(cy.outcome))}, {"detail", cy.detail}});
  analyzer::utf8_safe(j);
  return j;
}

std::string cell_label(const MatrixCell &c) {
  const auto &r = c.result;
  if (!r.error.empty()) return "ERROR";
  if (!r.exercised()) return "NOT-EXERCISED";
  if (r.passed())
    return r.report.findings.empty() ? "ok"
                                     : fmt::format("ok ({} expected)", r.report.findings.size());
  return fmt::format("FAIL +{} -{}", r.unexpected.size(), r.missing.size());
}

std::string matrix_text(const MatrixResult &m) { return matrix_text(m, default_view(m)); }

std::string matrix_text(const MatrixResult &m, MatrixView view) {
  const bool by_provider = !m.providers.empty();
  std::string out = view == MatrixView::evaluation ? evaluation_text_head(m) : "";
  std::size_t width = 18;  // a column fits its longest label up to 40; longer ones overflow
  for (const auto &c : m.cells)
    width = std::clamp(text_cell(c, view).size() + 1, width, std::size_t{40});
  out += fmt::format("{:<26}", "SCENARIO");
  if (by_provider) out += fmt::format(" {:<16}", "PROVIDER");
  for (const auto &f : m.fetchers) out += fmt::format(" {:<{}}", f, width);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += "\n";
  const std::size_t nf = m.fetchers.size();
  for (std::size_t row = 0; row * nf < m.cells.size(); ++row) {
    const MatrixCell &first = m.cells[row * nf];
    std::string line = fmt::format("{:<26}", first.scenario);
    if (by_provider) line += fmt::format(" {:<16}", provider_label(first));
    std::vector<std::string> notes;
    for (std::size_t k = 0; k < nf; ++k) {
      const MatrixCell &c = m.cells[row * nf + k];
      line += fmt::format(" {:<{}}", text_cell(c, view), width);
      if (!c.result.error.empty()) notes.push_back(c.fetcher + ": error: " + c.result.error);
      for (const auto &e : c.result.events)
        if (!e.fired) notes.push_back(c.fetcher + ": not exercised: " + e.name + ": " + e.detail);
      for (const auto &x : c.result.missing)
        notes.push_back(c.fetcher + ": expected but missing: " + x);
      for (const auto &x : c.result.unexpected) notes.push_back(c.fetcher + ": unexpected: " + x);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (const std::string fired = fired_note(m, row); !fired.empty()) out += "    " + fired + "\n";
    for (const auto &n : notes) out += "    " + n + "\n";
  }
  out += fmt::format("{} cell(s), {} failed, {:.1f} s: {} ({} view)\n", m.cells.size(), m.failed(),
                     m.wall_ms / 1000.0, m.all_passed() ? "all as expected" : "SOME DIFFER",
                     view_name(view));
  return out;
}

nlohmann::json matrix_json(const MatrixResult &m) {
  nlohmann::json j;
  j["version"] = 1;
  j["scenarios"] = m.scenarios;
  j["providers"] = m.providers;
  j["fetchers"] = m.fetchers;
  j["cells_total"] = m.cells.size();
  j["cells_failed"] = m.failed();
  j["passed"] = m.all_passed();
  j["wall_ms"] = m.wall_ms;
  j["cells"] = nlohmann::json::array();
  for (const auto &c : m.cells) {
    nlohmann::json cj = result_json(c.result);
    cj["scenario"] = c.scenario;
    cj["provider"] = c.provider;
    cj["fetcher"] = c.fetcher;
    cj["label"] = cell_label(c);
    add_evaluation(cj, c);
    j["cells"].push_back(std::move(cj));
  }
  j["evaluation"] = evaluation_json(m);
  analyzer::utf8_safe(j);
  return j;
}

std::string matrix_junit(const MatrixResult &m) {
  // One testsuite per fetcher, one testcase per scenario x provider.
  std::map<std::string, std::vector<const MatrixCell *>> by_fetcher;
  for (const auto &c : m.cells) by_fetcher[c.fetcher].push_back(&c);
  // A harness error and a cell whose scheduled events did not fire are errors (nothing was
  // judged); findings that differ are failures.
  const auto is_error = [](const ScenarioResult &r) { return !r.error.empty() || !r.exercised(); };
  std::size_t failures = 0, errors = 0;
  for (const auto &c : m.cells) {
    if (is_error(c.result))
      ++errors;
    else if (!c.result.passed())
      ++failures;
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format(
      "<testsuites name=\"dropcheck matrix\" tests=\"{}\" "
      "failures=\"{}\" errors=\"{}\" "
      "time=\"{:.3f}\">\n",
      m.cells.size(), failures, errors, m.wall_ms / 1000.0);
  for (const auto &f : m.fetchers) {
    const auto &cells = by_fetcher[f];
    std::size_t sf = 0, se = 0;
    double st = 0;
    for (const auto *c : cells) {
      if (is_error(c->result))
        ++se;
      else if (!c->result.passed())
        ++sf;
      st += c->result.wall_ms;
    }
    out += fmt::format(
        "  <testsuite name=\"matrix.{}\" tests=\"{}\" "
        "failures=\"{}\" errors=\"{}\" "
        "time=\"{:.3f}\">\n",
        xml_escape(f), cells.size(), sf, se, st / 1000.0);
    for (const auto *c : cells) {
      out += fmt::format(
          "    <testcase classname=\"matrix.{}.{}\" name=\"{}\" "
          "time=\"{:.3f}\"",
          xml_escape(f), xml_escape(c->provider), xml_escape(c->scenario),
          c->result.wall_ms / 1000.0);
      const auto &r = c->result;
      std::string findings;
      for (const auto &x : r.report.findings)
        findings += fmt::format("{} message={} recipient={}: {}\n", x.type,
                                x.message.empty() ? "-" : x.message,
                                x.recipient.empty() ? "-" : x.recipient, x.evidence);
      for (const auto &e : event_lines(r)) findings += "event " + e + "\n";
      if (r.passed() && findings.empty()) {
        out += "/>\n";
        continue;
      }
      out += ">\n";
      if (!r.error.empty()) {
        out += fmt::format("      <error message=\"{}\">{}</error>\n", xml_escape(r.error),
                           xml_escape(failure_text(r)));
      } else if (!r.exercised()) {
        out += fmt::format(
            "      <error message=\"not exercised: a scheduled event did not fire\" "
            "type=\"not-exercised\">{}</error>\n",
            xml_escape(failure_text(r)));
      } else if (!r.passed()) {
        std::string msg = fmt::format("{} missing, {} unexpected finding(s)", r.missing.size(),
                                      r.unexpected.size());
        out += fmt::format("      <failure message=\"{}\" type=\"findings\">{}</failure>\n",
                           xml_escape(msg), xml_escape(failure_text(r)));
      }
      if (!findings.empty()) out += "      <system-out>" + xml_escape(findings) + "</system-out>\n";
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

}  // namespace dropcheck::runner

// dropcheck: run scenarios, fetch, analyze. Thin: parse flags, call libraries, map errors to
// exit codes (0 ok, 1 findings differ from expectations / fetch failed, 2 usage or config).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "analyzer/report.hpp"
#include "base/clock.hpp"
#include "base/strings.hpp"
#include "fake_smtp/journal.hpp"
#include "fetcher/fetcher.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace {

using namespace dropcheck;

constexpr int kExitOk = 0;
constexpr int kExitFindings = 1;
constexpr int kExitUsage = 2;

std::string findings_summary(const runner::ScenarioResult& r) {
  if (!r.error.empty()) return "ERROR " + r.error;
  if (r.report.findings.empty()) return "-";
  std::map<std::string, int> counts;
  for (const auto& f : r.report.findings) ++counts[f.type];
  std::string out;
  for (const auto& [t, n] : counts) out += (out.empty() ? "" : ", ") + fmt::format("{}×{}", t, n);
  return out;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

int cmd_run(const std::vector<std::string>& files, const std::string& json_path,
            const std::string& keep, bool verbose) {
  std::vector<runner::Scenario> scenarios;
  if (files.empty()) {
    scenarios = runner::builtin_scenarios();
  } else {
    for (const auto& f : files) {
      auto s = runner::load_scenario_file(f);
      if (!s.ok()) {
        fmt::print(stderr, "dropcheck: {}\n", s.error().message);
        return kExitUsage;
      }
      scenarios.push_back(std::move(s).value());
    }
  }
  runner::RunOptions opt;
  if (verbose) opt.log = [](std::string_view l) { fmt::print(stderr, "{}\n", l); };
  fmt::print("{:<28} {:<6} {:>7}  {}\n", "SCENARIO", "RESULT", "TIME", "FINDINGS");
  bool all = true;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : scenarios) {
    runner::RunOptions o = opt;
    if (!keep.empty()) o.keep_dir = keep + "/" + s.name;
    auto r = runner::run_scenario(s, o);
    all = all && r.passed();
    fmt::print("{:<28} {:<6} {:>5.0f}ms  {}\n", r.name, r.passed() ? "pass" : "FAIL", r.wall_ms,
               findings_summary(r));
    for (const auto& m : r.missing) fmt::print("    expected but missing: {}\n", m);
    for (const auto& u : r.unexpected) fmt::print("    unexpected: {}\n", u);
    if (!r.passed() || verbose)
      for (const auto& f : r.report.findings)
        fmt::print("    {} {} {}: {}\n", f.type, f.message, f.recipient, f.evidence);
    auto rj = analyzer::to_json(r.report);
    rj["source"] = r.source;
    rj["passed"] = r.passed();
    rj["missing"] = r.missing;
    rj["unexpected"] = r.unexpected;
    rj["error"] = r.error;
    rj["wall_ms"] = r.wall_ms;
    j.push_back(std::move(rj));
  }
  fmt::print("{} scenario(s), {}\n", scenarios.size(), all ? "all as expected" : "SOME DIFFER");
  if (!json_path.empty() && !write_file(json_path, j.dump(2) + "\n")) {
    fmt::print(stderr, "dropcheck: cannot write {}\n", json_path);
    return kExitUsage;
  }
  return all ? kExitOk : kExitFindings;
}

// Scenario × fetcher matrix. Fetchers: "core" and the core's defect models by name; each cell
// passes when the findings equal what the scenario expects of that fetcher.
int cmd_matrix(const std::vector<std::string>& files, const std::string& fetchers_csv,
               const std::string& json_path) {
  std::vector<runner::Scenario> scenarios;
  if (files.empty()) {
    scenarios = runner::builtin_scenarios();
  } else {
    for (const auto& f : files) {
      auto s = runner::load_scenario_file(f);
      if (!s.ok()) {
        fmt::print(stderr, "dropcheck: {}\n", s.error().message);
        return kExitUsage;
      }
      scenarios.push_back(std::move(s).value());
    }
  }
  std::vector<std::string> fetchers;
  for (auto f : base::split(fetchers_csv, ',')) {
    std::string name(base::trim(f));
    if (name.empty()) continue;
    if (name != "core" && !fetcher::parse_defect(name).ok()) {
      fmt::print(stderr, "dropcheck: --fetchers: unknown fetcher '{}' (core, {})\n", name,
                 "sbs-connector, pullmail, no-strip, no-lock, no-dedup, fill-empty-sender");
      return kExitUsage;
    }
    fetchers.push_back(name);
  }
  if (fetchers.empty()) {
    fmt::print(stderr, "dropcheck: --fetchers: empty list\n");
    return kExitUsage;
  }
  std::string head = fmt::format("{:<26}", "SCENARIO");
  for (const auto& f : fetchers) head += fmt::format(" {:<18}", f);
  fmt::print("{}\n", head);
  bool all = true;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : scenarios) {
    std::string row = fmt::format("{:<26}", s.name);
    std::vector<std::string> notes;
    for (const auto& f : fetchers) {
      const runner::Scenario cell = f == "core" ? s : runner::with_defect(s, f);
      auto r = runner::run_scenario(cell);
      all = all && r.passed();
      std::string text = r.report.findings.empty()
                             ? "clean"
                             : fmt::format("{} finding(s)", r.report.findings.size());
      row += fmt::format(" {:<18}", (r.passed() ? "ok " : "FAIL ") + text);
      for (const auto& m : r.missing) notes.push_back(f + ": expected but missing: " + m);
      for (const auto& u : r.unexpected) notes.push_back(f + ": unexpected: " + u);
      if (!r.error.empty()) notes.push_back(f + ": error: " + r.error);
      auto rj = analyzer::to_json(r.report);
      rj["fetcher"] = f;
      rj["passed"] = r.passed();
      rj["missing"] = r.missing;
      rj["unexpected"] = r.unexpected;
      rj["error"] = r.error;
      j.push_back(std::move(rj));
    }
    fmt::print("{}\n", row);
    for (const auto& n : notes) fmt::print("    {}\n", n);
  }
  fmt::print("{} cell(s), {}\n", scenarios.size() * fetchers.size(),
             all ? "all as expected" : "SOME DIFFER");
  if (!json_path.empty() && !write_file(json_path, j.dump(2) + "\n")) {
    fmt::print(stderr, "dropcheck: cannot write {}\n", json_path);
    return kExitUsage;
  }
  return all ? kExitOk : kExitFindings;
}

int cmd_fetch(const std::string& config_path, bool once) {
  if (!once) {
    fmt::print(stderr, "dropcheck fetch: only --once is implemented in this version\n");
    return kExitUsage;
  }
  auto cfg = fetcher::load_config(config_path);
  if (!cfg.ok()) {
    fmt::print(stderr, "dropcheck: {}\n", cfg.error().message);
    return kExitUsage;
  }
  if (cfg->state_dir.empty()) {
    const char* home = std::getenv("HOME");
    cfg->state_dir = std::string(home ? home : ".") + "/.local/state/dropcheck";
  }
  base::SystemClock clock;
  fetcher::Fetcher f(std::move(cfg).value(), clock,
                     [](const std::string& l) { fmt::print("{}\n", l); });
  auto r = f.run_cycle_blocking();
  switch (r.outcome) {
    case fetcher::Outcome::ok: return kExitOk;
    case fetcher::Outcome::locked: return 3;  // another cycle runs: distinct code
    default: return kExitFindings;
  }
}

int cmd_analyze(const std::string& journal_dir, const std::string& truth_path, bool json) {
  auto truth = analyzer::load_truth(truth_path);
  if (!truth.ok()) {
    fmt::print(stderr, "dropcheck: {}\n", truth.error().message);
    return kExitUsage;
  }
  auto records = fake_smtp::read_journal(journal_dir);
  if (!records.ok()) {
    fmt::print(stderr, "dropcheck: {}: {}\n", journal_dir, records.error().message);
    return kExitUsage;
  }
  auto rep = analyzer::analyze(*truth, runner::to_deliveries(*records));
  if (json)
    fmt::print("{}\n", analyzer::to_json(rep).dump(2));
  else
    fmt::print("{}", analyzer::to_text(rep));
  return rep.findings.empty() ? kExitOk : kExitFindings;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dropcheck: diagnostics and test harness for POP3 multidrop fetchers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dropcheck 0.1.0");

  auto* run = app.add_subcommand("run", "Play scenarios (default: the built-in library) and judge them");
  std::vector<std::string> files;
  std::string json_path, keep;
  bool verbose = false;
  run->add_option("files", files, "Scenario YAML files (default: built-in scenarios)");
  run->add_option("--json", json_path, "Write the reports as JSON to this file");
  run->add_option("--keep", keep, "Keep each scenario's journal and truth.json under DIR/NAME");
  run->add_flag("-v,--verbose", verbose, "Log fetcher decisions and all findings");

  auto* matrix = app.add_subcommand("matrix", "Scenarios x fetchers: each cell pass or its findings");
  std::vector<std::string> mfiles;
  std::string fetchers = "core,sbs-connector,pullmail,no-strip,no-lock,no-dedup,fill-empty-sender";
  std::string mjson;
  matrix->add_option("files", mfiles, "Scenario YAML files (default: built-in scenarios)");
  matrix->add_option("--fetchers", fetchers, "Comma-separated: core and defect models")
      ->capture_default_str();
  matrix->add_option("--json", mjson, "Write every cell as JSON to this file");

  auto* fetch = app.add_subcommand("fetch", "Run the fetcher core");
  std::string config;
  bool once = false;
  fetch->add_option("--config", config, "Fetcher config (YAML)")->required();
  fetch->add_flag("--once", once, "Run one cycle and exit");

  auto* analyze = app.add_subcommand("analyze", "Re-analyze a recorded run offline");
  std::string journal, truth;
  bool json = false;
  analyze->add_option("--journal", journal, "Journal directory written by fake-smtp")->required();
  analyze->add_option("--truth", truth, "truth.json of the run")->required();
  analyze->add_flag("--json", json, "JSON output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  try {
    if (*run) return cmd_run(files, json_path, keep, verbose);
    if (*matrix) return cmd_matrix(mfiles, fetchers, mjson);
    if (*fetch) return cmd_fetch(config, once);
    if (*analyze) return cmd_analyze(journal, truth, json);
  } catch (const std::exception& e) {
    fmt::print(stderr, "dropcheck: {}\n", e.what());
    return kExitUsage;
  }
  return kExitUsage;
}

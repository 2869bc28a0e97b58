// dropcheck run: play the library (or files) and judge each scenario, in parallel, printed in
// the library's order; with --provider the replay against providers (runner/replay.hpp).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "runner/matrix.hpp"
#include "runner/replay.hpp"
#include "runner/runner.hpp"

namespace dropcheck::cli {

namespace {

std::string findings_summary(const runner::ScenarioResult& r) {
  if (!r.error.empty()) return "ERROR " + r.error;
  if (r.report.findings.empty()) return "-";
  std::map<std::string, int> counts;
  for (const auto& f : r.report.findings) ++counts[f.type];
  std::string out;
  for (const auto& [t, n] : counts) out += (out.empty() ? "" : ", ") + fmt::format("{}×{}", t, n);
  return out;
}

// One scenario's lines of `dropcheck run`: result, events not fired, differences, findings.
void print_run_result(const runner::ScenarioResult& r, bool verbose) {
  const std::string_view status = r.status();
  fmt::print("{:<28} {:<13} {:>5.0f}ms  {}\n", r.name,
             status == "ok"     ? "pass"
             : status == "fail" ? "FAIL"
                                : status,
             r.wall_ms, findings_summary(r));
  for (const auto& e : r.events)
    if (!e.fired || verbose)
      fmt::print("    event {} {}: {}\n", e.name, e.fired ? "fired" : "NOT FIRED", e.detail);
  for (const auto& m : r.missing) fmt::print("    expected but missing: {}\n", m);
  for (const auto& u : r.unexpected) fmt::print("    unexpected: {}\n", u);
  if (!r.passed() || verbose)
    for (const auto& f : r.report.findings)
      fmt::print("    {} {} {}: {}\n", f.type, f.message, f.recipient, f.evidence);
}

// Scenarios played at once by `run` without -j: one per hardware thread, at most 8 (they mostly
// wait on loopback, fsync and timers; more would only add contention).
unsigned default_run_jobs() { return std::clamp(std::thread::hardware_concurrency(), 1u, 8u); }

// Plays `scenarios` `jobs` at a time (runner::run_all) and prints each result in the list's
// order as soon as it and every one before it are done; the results, in that order.
std::vector<runner::ScenarioResult> play_in_order(const std::vector<runner::Scenario>& scenarios,
                                                  unsigned jobs, const std::string& keep,
                                                  bool verbose, bool progress) {
  std::vector<std::string> keep_dirs;
  if (!keep.empty())
    for (const auto& s : scenarios) keep_dirs.push_back(keep + "/" + s.name);
  std::function<void(std::string_view)> log;
  auto log_mu = std::make_shared<std::mutex>();
  if (verbose)
    log = [log_mu](std::string_view l) {
      std::lock_guard<std::mutex> lock(*log_mu);
      fmt::print(stderr, "{}\n", l);
    };
  std::vector<std::optional<runner::ScenarioResult>> ready(scenarios.size());
  std::size_t done = 0, printed = 0;
  auto on_done = [&](std::size_t i, const runner::ScenarioResult& r) {
    if (progress) fmt::print(stderr, "\r[{}/{}] {:<40}", ++done, scenarios.size(), r.name);
    ready[i] = r;
    for (; printed < ready.size() && ready[printed]; ++printed) {
      std::lock_guard<std::mutex> lock(*log_mu);
      print_run_result(*ready[printed], verbose);
      ready[printed].reset();
    }
    std::fflush(stdout);
  };
  return runner::run_all(scenarios, jobs, on_done, keep_dirs, log);
}

int cmd_run(const std::vector<std::string>& files, const std::string& json_path,
            const std::string& keep, bool verbose, const std::string& shard,
            const std::string& junit_path, const std::string& html_path, unsigned jobs) {
  std::vector<runner::Scenario> scenarios;
  if (!load_scenarios(files, scenarios)) return kExitUsage;
  if (!apply_shard(shard, scenarios)) return kExitUsage;
  const bool progress = !verbose && ::isatty(STDERR_FILENO) && !::isatty(STDOUT_FILENO);
  fmt::print("{:<28} {:<13} {:>7}  {}\n", "SCENARIO", "RESULT", "TIME", "FINDINGS");
  std::fflush(stdout);
  bool all = true;
  nlohmann::json j = nlohmann::json::array();
  runner::MatrixResult table;
  const auto run_start = std::chrono::steady_clock::now();
  auto results = play_in_order(scenarios, jobs, keep, verbose, progress);
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    auto& r = results[i];
    all = all && r.passed();
    j.push_back(runner::result_json(r));
    // The same cells as a one-column matrix, for the JUnit and HTML renderers.
    if (std::find(table.scenarios.begin(), table.scenarios.end(), r.name) == table.scenarios.end())
      table.scenarios.push_back(r.name);
    table.cells.push_back({r.name, "", runner::fetcher_name(scenarios[i].fetcher), std::move(r)});
  }
  table.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - run_start)
          .count();
  for (const auto& c : table.cells)
    if (std::find(table.fetchers.begin(), table.fetchers.end(), c.fetcher) == table.fetchers.end())
      table.fetchers.push_back(c.fetcher);
  if (!junit_path.empty() && !write_file(junit_path, runner::matrix_junit(table))) {
    fmt::print(stderr, "dropcheck: cannot write {}\n", junit_path);
    return kExitUsage;
  }
  if (!html_path.empty() && !write_file(html_path, runner::matrix_html(table))) {
    fmt::print(stderr, "dropcheck: cannot write {}\n", html_path);
    return kExitUsage;
  }
  if (progress) fmt::print(stderr, "\r{:<60}\r", "");
  fmt::print("{} scenario(s), {}\n", scenarios.size(), all ? "all as expected" : "SOME DIFFER");
  if (!json_path.empty() && !write_file(json_path, j.dump(2) + "\n")) {
    fmt::print(stderr, "dropcheck: cannot write {}\n", json_path);
    return kExitUsage;
  }
  return all ? kExitOk : kExitFindings;
}

int cmd_replay(const std::vector<std::string>& files, const ReplayFlags& flags,
               const std::string& json_path, const std::string& html_path) {
  std::vector<runner::Scenario> scenarios;
  if (!load_scenarios(files, scenarios)) return kExitUsage;
  runner::ReplayOptions opt;
  for (const auto& p : flags.providers)
    for (auto& one : csv(p)) opt.providers.push_back(std::move(one));
  opt.fetchers = csv(flags.fetchers);
  opt.command = flags.command;
  opt.jobs = flags.jobs;
  if (int rc = check_cell_inputs(opt.fetchers, opt.command, opt.providers, "--provider")) return rc;
  std::function<void(const runner::ReplayCell&)> progress;
  if (flags.verbose)
    progress = [](const runner::ReplayCell& c) {
      fmt::print(stderr, "cell provider={} scenario={} fetcher={} status={} wall_ms={:.0f}\n",
                 c.provider, c.scenario, c.fetcher, c.result.status(), c.result.wall_ms);
    };
  const auto r = runner::run_replay(scenarios, opt, progress);
  fmt::print("{}", runner::replay_text(r));
  if (!json_path.empty() && !write_file(json_path, runner::replay_json(r).dump(2) + "\n")) {
    fmt::print(stderr, "dropcheck: cannot write {}\n", json_path);
    return kExitUsage;
  }
  if (!html_path.empty() && !write_file(html_path, runner::replay_html(r))) {
    fmt::print(stderr, "dropcheck: cannot write {}\n", html_path);
    return kExitUsage;
  }
  return r.unexplained() == 0 ? kExitOk : kExitFindings;
}

}  // namespace

CLI::App* add_run(CLI::App& app, RunFlags& f) {
  CLI::App* run =
      app.add_subcommand("run", "Play scenarios (default: the built-in library) and judge them");
  run->add_option("files", f.files, "Scenario YAML files (default: built-in scenarios)");
  run->add_option("--json", f.json_path, "Write the reports as JSON to this file");
  run->add_option("--keep", f.keep, "Keep each scenario's journal and truth.json under DIR/NAME");
  run->add_flag("-v,--verbose", f.verbose, "Log fetcher decisions and all findings");
  run->add_option("--shard", f.shard,
                  "I/N: play only every N-th scenario starting at I (CI fan-out)");
  run->add_option("--junit", f.run_junit, "Write a JUnit XML report (a testcase per scenario)");
  run->add_option("--html", f.run_html, "Write one self-contained HTML report");
  run->add_option("--provider", f.replay.providers,
                  "Replay the library against this provider profile (name or YAML file, e.g. "
                  "from probe --profile-out; repeat or comma-separate for several): each fetcher "
                  "configured as the probe recommends, findings attributed to provider or fetcher")
      ->allow_extra_args(false);
  run->add_option("--fetchers", f.replay.fetchers,
                  "With --provider: comma-separated fetchers (the core is always played)")
      ->capture_default_str();
  run->add_option("--command", f.replay.command,
                  "With --provider: the 'command' fetcher's template");
  run->add_option("-j,--jobs", f.jobs,
                  "Scenarios (with --provider: cells) played at once; default: one per hardware "
                  "thread, at most 8 (with --provider: 1); 1 plays them one after another")
      ->check(CLI::Validator(
          [](const std::string& v) {
            return v == "0" ? std::string(
                                  "0 plays nothing: give 1 to play scenarios one after "
                                  "another, or N > 1 to play N at once")
                            : std::string();
          },
          "", "jobs"))
      ->check(CLI::Range(1, 64));
  return run;
}

// run: the library or files, or with --provider the replay against providers.
int cmd_run_or_replay(RunFlags& f) {
  if (!f.replay.providers.empty()) {
    if (!f.keep.empty() || !f.shard.empty() || !f.run_junit.empty()) {
      fmt::print(stderr,
                 "dropcheck run: --provider does not combine with --keep, --shard or "
                 "--junit\n");
      return kExitUsage;
    }
    f.replay.verbose = f.verbose;
    f.replay.jobs = f.jobs == 0 ? 1 : f.jobs;
    return cmd_replay(f.files, f.replay, f.json_path, f.run_html);
  }
  return cmd_run(f.files, f.json_path, f.keep, f.verbose, f.shard, f.run_junit, f.run_html,
                 f.jobs == 0 ? default_run_jobs() : f.jobs);
}

}  // namespace dropcheck::cli

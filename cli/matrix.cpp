// dropcheck matrix: scenarios x providers x fetchers (runner/matrix.hpp), text, JSON, JUnit, HTML.
#include "runner/matrix.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include "commands.hpp"
#include "runner/evaluation.hpp"

namespace dropcheck::cli {

namespace {

// On a terminal: "[k/N] cells, T s, last: SCENARIO / FETCHER" on one line of stderr.
std::function<void(const runner::MatrixCell&)> terminal_progress(std::size_t total) {
  if (!::isatty(STDERR_FILENO)) return {};
  auto done = std::make_shared<std::size_t>(0);
  const auto start = std::chrono::steady_clock::now();
  return [done, total, start](const runner::MatrixCell& c) {
    const auto s =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
    fmt::print(stderr, "\r[{}/{}] cells, {} s, last: {} / {}\x1b[K{}", ++*done, total, s.count(),
               c.scenario, c.fetcher, *done == total ? "\n" : "");
  };
}

}  // namespace

int cmd_matrix(const MatrixFlags& flags) {
  std::vector<runner::Scenario> scenarios;
  if (!load_scenarios(flags.files, scenarios)) return kExitUsage;
  if (!apply_shard(flags.shard, scenarios)) return kExitUsage;
  runner::MatrixOptions opt;
  opt.fetchers = csv(flags.fetchers);
  opt.providers = csv(flags.providers);
  opt.command = flags.command;
  opt.jobs = flags.jobs;
  opt.keep_dir = flags.keep;
  if (int rc = check_cell_inputs(opt.fetchers, opt.command, opt.providers, "--providers"))
    return rc;
  std::function<void(const runner::MatrixCell&)> progress = terminal_progress(
      scenarios.size() * std::max<std::size_t>(1, opt.providers.size()) * opt.fetchers.size());
  if (flags.verbose)
    progress = [](const runner::MatrixCell& c) {
      fmt::print(stderr, "cell scenario={} provider={} fetcher={} result=\"{}\" wall_ms={:.0f}\n",
                 c.scenario, c.provider, c.fetcher, runner::cell_label(c), c.result.wall_ms);
    };
  const auto m = runner::run_matrix(scenarios, opt, progress);
  const runner::MatrixView view = runner::parse_view(flags.view).value_or(runner::default_view(m));
  fmt::print("{}", runner::matrix_text(m, view));
  const std::pair<const std::string*, std::string> outputs[] = {
      {&flags.json, flags.json.empty() ? "" : runner::matrix_json(m).dump(2) + "\n"},
      {&flags.junit, flags.junit.empty() ? "" : runner::matrix_junit(m)},
      {&flags.html, flags.html.empty() ? "" : runner::matrix_html(m, view)}};
  for (const auto& [path, text] : outputs) {
    if (!path->empty() && !write_file(*path, text)) {
      fmt::print(stderr, "dropcheck: cannot write {}\n", *path);
      return kExitUsage;
    }
  }
  return m.all_passed() ? kExitOk : kExitFindings;
}

CLI::App* add_matrix(CLI::App& app, MatrixFlags& mf) {
  CLI::App* matrix = app.add_subcommand(
      "matrix", "Scenarios x providers x fetchers: each cell pass or its findings");
  matrix->add_option("files", mf.files, "Scenario YAML files (default: built-in scenarios)");
  matrix
      ->add_option("--fetchers", mf.fetchers,
                   "Comma-separated: core, defect models, fetchmail, getmail6, command")
      ->capture_default_str();
  matrix->add_option("--providers", mf.providers,
                     "Comma-separated provider profiles (names or YAML files) replacing each "
                     "scenario's own");
  matrix->add_option(
      "--command", mf.command,
      "Command line template for the 'command' fetcher ({pop3_port}, {config}, ...)");
  matrix->add_option("--json", mf.json, "Write every cell as JSON to this file");
  matrix->add_option("--junit", mf.junit, "Write JUnit XML (a testcase per cell) to this file");
  matrix->add_option("--html", mf.html, "Write a self-contained HTML page to this file");
  matrix
      ->add_option("--view", mf.view,
                   "Text and HTML: regression (each cell as documented or not) or evaluation "
                   "(each cell by its worst finding; default with fetchmail, getmail6, command "
                   "or several providers)")
      ->check(CLI::IsMember({"regression", "evaluation"}));
  matrix->add_option("-j,--jobs", mf.jobs, "Cells run in parallel")->check(CLI::Range(1, 64));
  matrix->add_flag("-v,--verbose", mf.verbose, "One line per finished cell on stderr");
  matrix->add_option("--keep", mf.keep,
                     "Keep each cell's journal and truth.json under DIR/SCENARIO--FETCHER "
                     "(--providers: DIR/SCENARIO--PROVIDER--FETCHER), for dropcheck view DIR");
  matrix->add_option("--shard", mf.shard,
                     "I/N: play only every N-th scenario starting at I (CI fan-out; each "
                     "shard's JUnit stands on its own)");
  return matrix;
}

}  // namespace dropcheck::cli

#pragma once
// The compatibility matrix: scenarios x provider profiles x fetchers. A fetcher
// is "core", a defect model of the core (sbs-connector, no-strip, ...) or an
// external kind (fetchmail, getmail6, command). Each cell is one scenario run
// judged against what the scenario expects of that fetcher (`expect`,
// `defects:`, `fetchers:`). Renderers: text, JSON, JUnit XML, HTML.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {

struct MatrixOptions {
  std::vector<std::string> fetchers = {"core"};
  // Provider profiles (built-in names or YAML paths) replacing each scenario's
  // own; empty: every scenario keeps its profile. Expectations are written for
  // the scenario's own profile.
  std::vector<std::string> providers;
  std::string command;  // the command line template for the "command" fetcher
  unsigned jobs = 1;    // cells run in parallel (each has its own io_context, ports, workdir)
  // Non-empty: keep each cell's journal/ and truth.json under keep_dir/CELL (matrix_cell_dir),
  // one level deep as run --keep, so `dropcheck view keep_dir` shows every cell.
  std::string keep_dir;
};

struct MatrixCell {
  std::string scenario;
  std::string provider;  // the profile the cell ran with
  std::string fetcher;
  ScenarioResult result;
  // What the scenario imposes on any fetcher (its `expect`, every alternative: no envelope
  // header to recover a blind copy from, a receiver too slow for the timeout it sets). Empty
  // when the provider was replaced: `expect` is written for the scenario's own profile.
  std::vector<Expectation> inherent = {};
};

struct MatrixResult {
  std::vector<std::string> scenarios;  // row order
  std::vector<std::string> providers;  // "" when each scenario used its own profile
  std::vector<std::string> fetchers;   // column order
  std::vector<MatrixCell> cells;       // scenario-major, then provider, then fetcher
  double wall_ms = 0;
  std::size_t failed() const;
  bool all_passed() const { return failed() == 0; }
};

// Error "bad-fetcher" for a name that is neither core, a defect model nor an
// external kind, or "command" without a command line.
base::Status check_matrix_fetchers(const std::vector<std::string> &fetchers,
                                   const std::string &command);

// The scenario of one cell: played by `fetcher`, with `provider` ("" = its own
// profile).
Scenario matrix_cell_scenario(const Scenario &scenario, const std::string &provider,
                              const std::string &fetcher, const std::string &command);

// The folder name of a cell under matrix --keep: "SCENARIO--FETCHER", or
// "SCENARIO--PROVIDER--FETCHER" when the provider was replaced (a profile file by its stem);
// characters other than [A-Za-z0-9._-] become '_'.
std::string matrix_cell_dir(const MatrixCell &cell, bool provider_replaced);

// Plays every scenario (`jobs` at a time, each with its own io_context, ports and
// workdir); `done` is called after each, from one thread at a time, in completion order.
// keep_dirs: empty, or one RunOptions::keep_dir per play. log: every play's RunOptions::log,
// called from the play's thread (several at once when jobs > 1).
std::vector<ScenarioResult> run_all(
    const std::vector<Scenario> &plays, unsigned jobs,
    const std::function<void(std::size_t, const ScenarioResult &)> &done = {},
    const std::vector<std::string> &keep_dirs = {},
    const std::function<void(std::string_view)> &log = {});

// `progress` is called after each cell (from the calling thread, in completion
// order).
MatrixResult run_matrix(const std::vector<Scenario> &scenarios, const MatrixOptions &options,
                        const std::function<void(const MatrixCell &)> &progress = {});

// One short text per cell: "ok", "ok (2 expected)", "FAIL +1 -0", "NOT-EXERCISED", "ERROR".
std::string cell_label(const MatrixCell &cell);
// One scenario result: the analyzer report plus source, status, passed, missing, unexpected,
// error, wall_ms, events (name, fired, detail) and cycles.
nlohmann::json result_json(const ScenarioResult &result);
// "provider-fault:drop_in_retr fired (fired 1 time(s))" / "... NOT FIRED (...)", one per event.
std::vector<std::string> event_lines(const ScenarioResult &result);
// Two views of one run (runner/evaluation.hpp): regression — each cell as expected or not;
// evaluation — each cell by the worst finding in it, "documented" only a secondary mark.
enum class MatrixView { regression, evaluation };
// Text and HTML in `view`; without one, default_view(m) (evaluation.hpp).
std::string matrix_text(const MatrixResult &m);
std::string matrix_text(const MatrixResult &m, MatrixView view);
// Every cell, each finding with its severity, and the evaluation summaries (both views' data).
nlohmann::json matrix_json(const MatrixResult &m);
// The regression view, always.
std::string matrix_junit(const MatrixResult &m);
// One self-contained page: inline CSS, no scripts, each finding's evidence in
// <details>.
std::string matrix_html(const MatrixResult &m);
std::string matrix_html(const MatrixResult &m, MatrixView view);

}  // namespace dropcheck::runner

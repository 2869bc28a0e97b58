// dropcheck: run scenarios, fetch, analyze. Thin: parse flags, call the subcommands
// (commands.hpp: run, matrix, fetch, probe; analyze.hpp; view.hpp), map errors to exit codes
// (0 ok, 1 findings differ from expectations / fetch failed, 2 usage or config).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <exception>

#include "analyze.hpp"
#include "commands.hpp"
#include "view.hpp"

namespace {

using namespace dropcheck;
using namespace dropcheck::cli;

struct AnalyzeFlags {
  std::string journal, truth;
  bool json = false;
};

CLI::App* add_analyze(CLI::App& app, AnalyzeFlags& f) {
  CLI::App* analyze = app.add_subcommand("analyze", "Re-analyze a recorded run offline");
  analyze->add_option("--journal", f.journal, "Journal directory written by fake-smtp")->required();
  analyze->add_option("--truth", f.truth, "truth.json of the run")->required();
  analyze->add_flag("--json", f.json, "JSON output");
  return analyze;
}

CLI::App* add_view(CLI::App& app, cli::ViewFlags& vf) {
  CLI::App* view = app.add_subcommand("view",
                                      "Browse a kept run (run --keep DIR, matrix --keep DIR): "
                                      "serve the page and REST API, or write the page");
  view->add_option("dir", vf.dir, "The --keep DIR, one scenario's folder, or a journal DIR")
      ->required();
  view->add_option("--listen", vf.listen, "Serve the page and REST API at ADDR:PORT (loopback)");
  view->add_option("--out", vf.out, "Write the page as one self-contained HTML file");
  view->add_flag("--allow-non-loopback", vf.allow_non_loopback,
                 "Permit a --listen address outside 127.0.0.0/8 and ::1");
  return view;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dropcheck: diagnostics and test harness for POP3 multidrop fetchers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dropcheck 0.1.0");
  RunFlags rn;
  MatrixFlags mf;
  FetchFlags ff;
  AnalyzeFlags af;
  cli::ViewFlags vf;
  ProbeFlags pf;
  const CLI::App* run = add_run(app, rn);
  const CLI::App* matrix = add_matrix(app, mf);
  const CLI::App* fetch = add_fetch(app, ff);
  const CLI::App* analyze = add_analyze(app, af);
  const CLI::App* view = add_view(app, vf);
  const CLI::App* probe_cmd = add_probe(app, pf);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  try {
    if (*run) return cmd_run_or_replay(rn);
    if (*matrix) return cmd_matrix(mf);
    if (*fetch) return cmd_fetch(ff);
    if (*analyze) return dropcheck::cli::cmd_analyze(af.journal, af.truth, af.json);
    if (*probe_cmd) return cmd_probe(pf, *probe_cmd);
    if (*view) return cli::cmd_view(vf);
  } catch (const std::exception& e) {
    fmt::print(stderr, "dropcheck: {}\n", e.what());
    return kExitUsage;
  }
  return kExitUsage;
}

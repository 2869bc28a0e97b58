// dropcheck: run scenarios, fetch, analyze. Thin: parse flags, call libraries, map errors to
// exit codes (0 ok, 1 findings differ from expectations / fetch failed, 2 usage or config).
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "analyze.hpp"
#include "analyzer/report.hpp"
#include "base/clock.hpp"
#include "base/strings.hpp"
#include "base/yaml.hpp"
#include "fake_pop3/profile.hpp"
#include "fetcher/accounts.hpp"
#include "fetcher/fetcher.hpp"
#include "probe/accounts.hpp"
#include "probe/probe.hpp"
#include "runner/evaluation.hpp"
#include "runner/external.hpp"
#include "runner/matrix.hpp"
#include "runner/replay.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"
#include "view.hpp"

namespace {

using namespace dropcheck;

constexpr int kExitOk = 0;
constexpr int kExitFindings = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 4;  // matrix: an external fetcher under test is not installed

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

// "--shard i/n" (1-based): this process plays scenarios i, i+n, i+2n, ... of the sorted list.
bool parse_shard(const std::string& text, std::size_t& index, std::size_t& count) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return false;
  try {
    std::size_t used = 0;
    index = std::stoul(text.substr(0, slash), &used);
    if (used != slash) return false;
    count = std::stoul(text.substr(slash + 1), &used);
    if (used != text.size() - slash - 1) return false;
  } catch (const std::exception&) {
    return false;
  }
  return count >= 1 && index >= 1 && index <= count;
}

// Keeps this shard's scenarios ("--shard I/N": I, I+N, I+2N, ... of the list); false (message
// printed) when `shard` is malformed. Empty: all.
bool apply_shard(const std::string& shard, std::vector<runner::Scenario>& scenarios) {
  if (shard.empty()) return true;
  std::size_t index = 0, count = 0;
  if (!parse_shard(shard, index, count)) {
    fmt::print(stderr, "dropcheck: --shard {}: expected I/N with 1 <= I <= N\n", shard);
    return false;
  }
  std::vector<runner::Scenario> mine;
  for (std::size_t k = index - 1; k < scenarios.size(); k += count)
    mine.push_back(std::move(scenarios[k]));
  scenarios = std::move(mine);
  return true;
}

// The built-in library when no files are given, else the files; false (message printed) on the
// first file that does not load.
bool load_scenarios(const std::vector<std::string>& files, std::vector<runner::Scenario>& out) {
  if (files.empty()) {
    out = runner::builtin_scenarios();
    return true;
  }
  for (const auto& f : files) {
    auto s = runner::load_scenario_file(f);
    if (!s.ok()) {
      fmt::print(stderr, "dropcheck: {}\n", s.error().message);
      return false;
    }
    out.push_back(std::move(s).value());
  }
  return true;
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

// Scenarios × provider profiles × fetchers (runner/matrix.hpp). Fetchers: "core", the core's
// defect models, and the external kinds fetchmail, getmail6, command; each cell passes when its
// findings equal what the scenario expects of that fetcher (expect / defects: / fetchers:).
struct MatrixFlags {
  std::vector<std::string> files;
  std::string fetchers = "core,sbs-connector,pullmail,no-strip,no-lock,no-dedup,fill-empty-sender";
  std::string providers;
  std::string command;
  std::string json, junit, html;
  std::string shard;
  std::string keep;
  std::string view;  // "" = runner::default_view
  unsigned jobs = 1;
  bool verbose = false;
};

std::vector<std::string> csv(const std::string& text) {
  std::vector<std::string> out;
  for (auto f : base::split(text, ',')) {
    std::string name(base::trim(f));
    if (!name.empty()) out.push_back(name);
  }
  return out;
}

// Fetchers and providers a matrix or replay names: 0 when usable, else the exit code (message
// printed).
int check_cell_inputs(const std::vector<std::string>& fetchers, const std::string& command,
                      const std::vector<std::string>& providers, std::string_view provider_flag) {
  if (auto ok = runner::check_matrix_fetchers(fetchers, command); !ok.ok()) {
    fmt::print(stderr, "dropcheck: --fetchers: {}\n", ok.error().message);
    return kExitUsage;
  }
  for (const auto& p : providers)
    if (auto prof = fake_pop3::load_profile(p); !prof.ok()) {
      fmt::print(stderr, "dropcheck: {}: {}\n", provider_flag, prof.error().message);
      return kExitUsage;
    }
  for (const auto& f : fetchers) {
    std::string missing;
    if (runner::is_external_fetcher(f) && !runner::external_fetcher_available(f, &missing)) {
      fmt::print(stderr, "dropcheck: fetcher {} is not installed (missing: {})\n", f, missing);
      return kExitUnavailable;
    }
  }
  return 0;
}

// The library replayed against providers (runner/replay.hpp): what each provider costs each
// fetcher, provider limits told apart from fetcher defects. Exit 1 when a cell is unexplained.
struct ReplayFlags {
  std::vector<std::string> providers;
  std::string fetchers = "core";
  std::string command;
  unsigned jobs = 1;
  bool verbose = false;
};

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

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

// One round of every account per interval until SIGINT/SIGTERM; an overlapping run is
// impossible here (one loop) and refused by the per-account lock against other invocations. A
// refused login backs off (fetcher::AuthBackoff) and repeats its alert every round.
int run_daemon(const fetcher::Accounts& accounts, const base::Clock& clock,
               const fetcher::LogFn& log, std::chrono::milliseconds interval) {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  fetcher::AuthBackoff backoff(interval);
  while (!g_stop) {
    const auto started = std::chrono::steady_clock::now();
    fetcher::AccountsOptions options;
    options.backoff = &backoff;
    const auto results = fetcher::run_accounts_blocking(accounts, clock, log, options);
    for (const auto& r : results)
      if (r.result.outcome == fetcher::Outcome::state_error) return kExitFindings;
    const auto next = started + interval;
    while (!g_stop && std::chrono::steady_clock::now() < next)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  fmt::print("event=daemon-stop\n");
  return kExitOk;
}

int cmd_fetch(const std::string& config_path, bool once, bool daemon, const std::string& interval) {
  if (once == daemon) {
    fmt::print(stderr, "dropcheck fetch: give exactly one of --once or --daemon\n");
    return kExitUsage;
  }
  long long interval_ms = 0;
  if (daemon) {
    const YAML::Node n = YAML::Load("{i: \"" + interval + "\"}");
    try {
      interval_ms = base::YamlReader("--interval").duration_ms(n, "i", "", 0);
    } catch (const base::YamlError& e) {
      fmt::print(stderr, "dropcheck fetch: --interval {}: expected a duration like 5m, 90s\n",
                 interval);
      return kExitUsage;
    }
    if (interval_ms < 1000) {
      fmt::print(stderr, "dropcheck fetch: --interval must be at least 1s\n");
      return kExitUsage;
    }
  }
  auto loaded = fetcher::load_accounts(config_path);
  if (!loaded.ok()) {
    fmt::print(stderr, "dropcheck: {}\n", loaded.error().message);
    return kExitUsage;
  }
  fetcher::Accounts accounts = std::move(loaded).value();
  for (auto& c : accounts.accounts)
    if (c.state_dir.empty()) {
      const char* home = std::getenv("HOME");
      c.state_dir = std::string(home ? home : ".") + "/.local/state/dropcheck";
    }
  base::SystemClock clock;
  const fetcher::LogFn log = [](const std::string& l) {
    fmt::print("{}\n", l);
    std::fflush(stdout);
  };
  if (daemon) return run_daemon(accounts, clock, log, std::chrono::milliseconds(interval_ms));
  return fetcher::exit_status(fetcher::run_accounts_blocking(accounts, clock, log));
}

struct ProbeFlags {
  std::string accounts;  // --accounts FILE: the health check of several accounts
  std::size_t jobs = probe::kDefaultParallel;
  int deadline_s = static_cast<int>(probe::kDefaultAccountDeadline.count());
  std::string pop3, smtp, user, password_file, ca_file, json, html, profile_out;
  std::string domain, foreign_address, from, tag;
  bool tls = false, starttls = false, insecure = false, allow_plaintext = false;
  bool send_tests = false, cleanup = false, verbose = false;
  std::size_t max_messages = probe::kDefaultMaxMessages;
  int poll_attempts = 10;
  int poll_interval_s = 30;
  int timeout_s = 60;
};

int probe_usage(const std::string& m) {
  fmt::print(stderr, "dropcheck probe: {}\n", m);
  return kExitUsage;
}

// The flags of one account's probe, which --accounts does not combine with ("" when none given).
std::string single_account_flags(const CLI::App& cmd) {
  static constexpr const char* kFlags[] = {
      "--pop3",          "--tls",           "--starttls",
      "--ca-file",       "--insecure",      "--allow-plaintext",
      "--user",          "--password-file", "--max-messages",
      "--html",          "--profile-out",   "--send-tests",
      "--smtp",          "--domain",        "--foreign-address",
      "--from",          "--tag",           "--cleanup",
      "--poll-attempts", "--poll-interval"};
  std::string given;
  for (const char* f : kFlags)
    if (cmd.count(f) > 0) given += (given.empty() ? "" : ", ") + std::string(f);
  return given;
}

// dropcheck probe --accounts FILE: a read-only health check of every account in FILE, one line
// each (or JSON); exit 0 all ok, 1 any failed, 2 usage or a bad file. No credentials printed.
int cmd_probe_accounts(const ProbeFlags& fl, const CLI::App& cmd) {
  if (const auto given = single_account_flags(cmd); !given.empty())
    return probe_usage(
        "--accounts FILE checks the accounts of FILE; it does not combine with "
        "the single-account flags (" +
        given + ")");
  auto accounts = probe::load_accounts(fl.accounts);
  if (!accounts.ok()) return probe_usage(accounts.error().message);
  probe::CheckOptions o;
  o.parallel = fl.jobs;
  o.timeout = std::chrono::seconds(fl.timeout_s);
  o.deadline = std::chrono::seconds(fl.deadline_s);
  if (fl.verbose) o.log = [](std::string_view l) { fmt::print(stderr, "{}\n", l); };
  const auto results = probe::check_accounts_blocking(*accounts, o);
  if (fl.json == "-") {
    fmt::print("{}", probe::accounts_json(results));
  } else {
    fmt::print("{}", probe::accounts_text(results));
    if (!fl.json.empty() && !write_file(fl.json, probe::accounts_json(results))) {
      fmt::print(stderr, "dropcheck probe: cannot write {}\n", fl.json);
      return kExitUsage;
    }
  }
  return probe::accounts_exit_status(results) == 0 ? kExitOk : kExitFindings;
}

// dropcheck probe: evaluate a provider's catch-all mailbox. The password is read from a file
// and never printed; exit 0 no failed answer, 1 a failed answer or the probe stopped, 2 usage.
int cmd_probe(const ProbeFlags& fl, const CLI::App& cmd) {
  if (!fl.accounts.empty()) return cmd_probe_accounts(fl, cmd);
  for (const char* f : {"--pop3", "--user", "--password-file"})
    if (cmd.count(f) == 0) return probe_usage(std::string(f) + " is required (or --accounts FILE)");
  if (cmd.count("--jobs") > 0 || cmd.count("--deadline") > 0)
    return probe_usage("--jobs and --deadline only with --accounts FILE");
  const auto usage = probe_usage;
  probe::Options o;
  auto pop3 = probe::parse_host_port(fl.pop3);
  if (!pop3.ok()) return usage("--pop3 " + pop3.error().message);
  o.pop3 = *pop3;
  o.tls = fl.tls ? probe::TlsMode::implicit
                 : (fl.starttls ? probe::TlsMode::stls : probe::TlsMode::none);
  o.ca_file = fl.ca_file;
  o.insecure = fl.insecure;
  o.allow_plaintext = fl.allow_plaintext;
  o.user = fl.user;
  o.password_file = fl.password_file;
  {
    std::ifstream in(fl.password_file, std::ios::binary);
    if (!in) return usage("--password-file: cannot read " + fl.password_file);
    std::getline(in, o.password);
    while (!o.password.empty() && (o.password.back() == '\r' || o.password.back() == '\n'))
      o.password.pop_back();
    if (o.password.empty()) return usage("--password-file: " + fl.password_file + " is empty");
  }
  o.max_messages = fl.max_messages;
  o.timeout = std::chrono::seconds(fl.timeout_s);
  if (fl.send_tests) {
    if (fl.smtp.empty() || fl.domain.empty())
      return usage("--send-tests needs --smtp HOST:PORT and --domain D");
    auto smtp = probe::parse_host_port(fl.smtp);
    if (!smtp.ok()) return usage("--smtp " + smtp.error().message);
    o.send_tests = true;
    o.smtp = *smtp;
    o.domain = fl.domain;
    if (!fl.foreign_address.empty()) o.foreign_address = fl.foreign_address;
    o.from = fl.from;
    o.tag = fl.tag;
    o.cleanup = fl.cleanup;
    o.poll_attempts = fl.poll_attempts;
    o.poll_interval = std::chrono::seconds(fl.poll_interval_s);
  } else if (fl.cleanup) {
    return usage("--cleanup only with --send-tests (it deletes only the probe's own test mails)");
  } else if (!fl.domain.empty()) {
    o.domain = fl.domain;
  }
  if (fl.verbose) o.log = [](std::string_view l) { fmt::print(stderr, "{}\n", l); };
  if (fl.verbose || ::isatty(STDERR_FILENO))
    o.waiting = [](std::string_view l) { fmt::print(stderr, "dropcheck probe: {}\n", l); };
  const auto report = probe::run_probe_blocking(std::move(o));
  fmt::print("{}", probe::to_text(report));
  const auto out = [&](const std::string& path, const std::string& text) {
    if (!path.empty() && !write_file(path, text)) {
      fmt::print(stderr, "dropcheck probe: cannot write {}\n", path);
      return false;
    }
    return true;
  };
  if (!out(fl.json, probe::to_json(report)) || !out(fl.html, probe::to_html(report)) ||
      !out(fl.profile_out, probe::profile_yaml(report)))
    return kExitUsage;
  return probe::exit_status(report) == 0 ? kExitOk : kExitFindings;
}

// ---- the subcommands' flags

struct RunFlags {
  std::vector<std::string> files;
  std::string json_path, keep;
  bool verbose = false;
  std::string shard;
  std::string run_junit, run_html;
  unsigned jobs = 0;  // -j; 0 when not given: run plays default_run_jobs(), --provider 1
  ReplayFlags replay;
};

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

struct FetchFlags {
  std::string config;
  bool once = false;
  bool daemon = false;
  std::string interval = "5m";
};

CLI::App* add_fetch(CLI::App& app, FetchFlags& f) {
  CLI::App* fetch = app.add_subcommand(
      "fetch",
      "Run the fetcher core over every account of --config. Exit 0 ok, 1 a failure (held "
      "mail, unreachable server), 2 config, 3 another cycle holds the lock, 5 a login was "
      "refused (credentials)");
  fetch->add_option("--config", f.config, "Fetcher config (YAML)")->required();
  fetch->add_flag("--once", f.once, "Run one cycle of every account and exit");
  fetch->add_flag("--daemon", f.daemon,
                  "Run a round every --interval until SIGINT/SIGTERM (a refused login backs off: "
                  "1, 2, 4 ... intervals, at most 6 h, the alert repeated every round)");
  fetch->add_option("--interval", f.interval, "Time between cycle starts (e.g. 5m, 90s)")
      ->capture_default_str();
  return fetch;
}

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

CLI::App* add_probe(CLI::App& app, ProbeFlags& pf) {
  CLI::App* probe_cmd = app.add_subcommand(
      "probe", "Evaluate a provider's catch-all POP3 mailbox (read-only unless --send-tests)");
  probe_cmd->add_option("--accounts", pf.accounts,
                        "Health check of every account in this YAML file (read-only; excludes "
                        "the single-account flags)");
  probe_cmd->add_option("-j,--jobs", pf.jobs, "With --accounts: accounts checked at once")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, probe::kMaxParallel));
  probe_cmd->add_option("--deadline", pf.deadline_s, "With --accounts: seconds per account")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  probe_cmd->add_option("--pop3", pf.pop3, "POP3 server HOST:PORT (required without --accounts)");
  auto* tls_flag = probe_cmd->add_flag("--tls", pf.tls, "Implicit TLS (POP3S)");
  probe_cmd->add_flag("--starttls", pf.starttls, "Require STLS (used anyway when offered)")
      ->excludes(tls_flag);
  auto* ca_opt = probe_cmd->add_option("--ca-file", pf.ca_file, "PEM CA file to verify the server");
  probe_cmd->add_flag("--insecure", pf.insecure, "Log in even if the certificate does not verify")
      ->excludes(ca_opt);
  probe_cmd->add_flag("--allow-plaintext", pf.allow_plaintext,
                      "Send USER/PASS without TLS when the server offers neither STLS nor APOP");
  probe_cmd->add_option("--user", pf.user, "POP3 user of the catch-all mailbox");
  probe_cmd->add_option("--password-file", pf.password_file, "File holding the password");
  probe_cmd->add_option("--max-messages", pf.max_messages, "Messages examined with TOP n 0")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  probe_cmd->add_option("--timeout", pf.timeout_s, "Seconds per network operation")
      ->capture_default_str()
      ->check(CLI::Range(1, 600));
  probe_cmd->add_option("--json", pf.json,
                        "Write the report as JSON to this file (--accounts: '-' for stdout)");
  probe_cmd->add_option("--html", pf.html, "Write the report as HTML to this file");
  probe_cmd->add_option("--profile-out", pf.profile_out,
                        "Write the inferred fake-pop3 profile (YAML) to this file");
  probe_cmd->add_flag("--send-tests", pf.send_tests,
                      "Active mode: send tagged test mails through the provider's MX");
  probe_cmd->add_option("--smtp", pf.smtp, "The provider's MX HOST:PORT (active mode)");
  probe_cmd->add_option("--domain", pf.domain, "The catch-all domain (active mode)");
  probe_cmd->add_option("--foreign-address", pf.foreign_address,
                        "Address put in Cc: only (never in the envelope)");
  probe_cmd->add_option("--from", pf.from, "Envelope sender of the test mails");
  probe_cmd->add_option("--tag", pf.tag, "Run tag (default: random)");
  probe_cmd->add_flag("--cleanup", pf.cleanup, "Delete the probe's own tagged test mails");
  probe_cmd->add_option("--poll-attempts", pf.poll_attempts, "Mailbox polls for the test mails")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  probe_cmd->add_option("--poll-interval", pf.poll_interval_s, "Seconds between polls")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  probe_cmd->add_flag("-v,--verbose", pf.verbose, "Progress on stderr (never credentials)");
  return probe_cmd;
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
    if (*fetch) return cmd_fetch(ff.config, ff.once, ff.daemon, ff.interval);
    if (*analyze) return dropcheck::cli::cmd_analyze(af.journal, af.truth, af.json);
    if (*probe_cmd) return cmd_probe(pf, *probe_cmd);
    if (*view) return cli::cmd_view(vf);
  } catch (const std::exception& e) {
    fmt::print(stderr, "dropcheck: {}\n", e.what());
    return kExitUsage;
  }
  return kExitUsage;
}

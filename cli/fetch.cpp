// dropcheck fetch: the fetcher core over every account of a config, once or as a daemon.
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "base/clock.hpp"
#include "base/yaml.hpp"
#include "commands.hpp"
#include "fetcher/accounts.hpp"
#include "fetcher/fetcher.hpp"

namespace dropcheck::cli {

namespace {

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

}  // namespace

int cmd_fetch(const FetchFlags& f) {
  const std::string& config_path = f.config;
  const std::string& interval = f.interval;
  const bool once = f.once, daemon = f.daemon;
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

}  // namespace dropcheck::cli

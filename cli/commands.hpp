#pragma once
// The dropcheck command's subcommands (cli/main.cpp wires them): each one's flags, the function
// that adds it to the CLI11 app and the one that runs it, and the helpers they share.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "probe/accounts.hpp"
#include "probe/probe.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFindings = 1;
inline constexpr int kExitUsage = 2;
// matrix: an external fetcher under test is not installed
inline constexpr int kExitUnavailable = 4;

// ---- shared by the subcommands (commands.cpp)

bool write_file(const std::string& path, const std::string& text);
// Keeps this shard's scenarios ("--shard I/N": I, I+N, I+2N, ... of the list); false (message
// printed) when `shard` is malformed. Empty: all.
bool apply_shard(const std::string& shard, std::vector<runner::Scenario>& scenarios);
// The built-in library when no files are given, else the files; false (message printed) on the
// first file that does not load.
bool load_scenarios(const std::vector<std::string>& files, std::vector<runner::Scenario>& out);
// "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> csv(const std::string& text);
// Fetchers and providers a matrix or replay names: 0 when usable, else the exit code (message
// printed).
int check_cell_inputs(const std::vector<std::string>& fetchers, const std::string& command,
                      const std::vector<std::string>& providers, std::string_view provider_flag);

// ---- run (run.cpp): the library or files, or with --provider the replay against providers

// --provider: the library replayed against providers (runner/replay.hpp): what each provider
// costs each fetcher, provider limits told apart from fetcher defects. Exit 1 when a cell is
// unexplained.
struct ReplayFlags {
  std::vector<std::string> providers;
  std::string fetchers = "core";
  std::string command;
  unsigned jobs = 1;
  bool verbose = false;
};

struct RunFlags {
  std::vector<std::string> files;
  std::string json_path, keep;
  bool verbose = false;
  std::string shard;
  std::string run_junit, run_html;
  unsigned jobs = 0;  // -j; 0 when not given: run plays default_run_jobs(), --provider 1
  ReplayFlags replay;
};

CLI::App* add_run(CLI::App& app, RunFlags& f);
int cmd_run_or_replay(RunFlags& f);

// ---- matrix (matrix.cpp)

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

CLI::App* add_matrix(CLI::App& app, MatrixFlags& mf);
int cmd_matrix(const MatrixFlags& flags);

// ---- fetch (fetch.cpp): the fetcher core over a config's accounts

struct FetchFlags {
  std::string config;
  bool once = false;
  bool daemon = false;
  std::string interval = "5m";
};

CLI::App* add_fetch(CLI::App& app, FetchFlags& f);
int cmd_fetch(const FetchFlags& f);

// ---- probe (probe.cpp): a real provider's catch-all mailbox, or --accounts FILE

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

CLI::App* add_probe(CLI::App& app, ProbeFlags& pf);
int cmd_probe(const ProbeFlags& fl, const CLI::App& cmd);

}  // namespace dropcheck::cli

// dropcheck probe: evaluate a real provider's catch-all mailbox, or check several accounts.
#include "probe/probe.hpp"

#include <fmt/format.h>

#include <chrono>
#include <string>

#include "commands.hpp"
#include "probe/accounts.hpp"

namespace dropcheck::cli {

namespace {

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

}  // namespace

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

}  // namespace dropcheck::cli

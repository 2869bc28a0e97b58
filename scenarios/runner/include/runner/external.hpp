#pragma once
// External fetchers under test (fetchmail, getmail6, any command): one cycle =
// one child process run against the scenario's fake provider and receiving
// server, bounded in time. The scenario's fetcher intent (envelope header,
// occurrence, qmail prefix, local domains, aliases, fallback, keep) is turned
// into the fetcher's own configuration by an adapter; the generators are pure
// functions (unit-tested), the child runs under posix_spawn in its own process
// group and is awaited by polling waitpid on a timer, so the io_context keeps
// serving the fake servers meanwhile. Exit codes are reported, never trusted:
// the journal is the judge.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "fetcher/fetcher.hpp"
#include "net/asio.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {

// One provider mailbox the fetcher polls. All accounts of a cycle are on the
// same provider host and TLS mode.
struct ExternalAccount {
  // Unique, [a-z0-9_-]: names the account's files (getmailrc-<name>, ...).
  std::string name;
  std::string user;  // POP3 user of the provider mailbox
  std::string password;
  // Empty: multidrop (envelope routing, the scenario's intent); else
  // single-drop: every message to this one local address.
  std::string deliver_to;
  // 0: ExternalContext::pop3_port (tests: one fake provider per mailbox).
  std::uint16_t port = 0;
};

struct ExternalContext {
  const Scenario *scenario = nullptr;
  std::string workdir;  // per scenario run; the adapter may create files below it
  std::string pop3_host = "127.0.0.1";
  std::uint16_t pop3_port = 0;
  std::string user;
  std::string password;
  // Several mailboxes polled in one invocation; empty: one multidrop account
  // from user/password (the configuration is then exactly the single-account
  // one).
  std::vector<ExternalAccount> accounts;
  client::TlsMode pop3_tls = client::TlsMode::none;  // Scenario::provider_tls
  std::string ca_file;  // PEM the fetcher must trust for the provider's certificate
  std::string smtp_host = "127.0.0.1";
  std::uint16_t smtp_port = 0;
  bool lmtp = false;
  int cycle = 1;  // 1-based invocation number
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

// Kinds the runner accepts besides "core": fetchmail, getmail6, command.
const std::vector<std::string> &external_fetcher_kinds();
bool is_external_fetcher(std::string_view kind);

// Whether the programs a kind needs are installed (found on PATH): fetchmail;
// getmail and msmtp; "command" is always available. `missing` names what is
// not.
bool external_fetcher_available(std::string_view kind, std::string *missing = nullptr);

// Runs one cycle; the coroutine waits for the child without blocking the
// io_context (the fake servers keep serving). outcome ok when the child exited
// (its exit code and output tail are in `detail`: exit codes are reported,
// never trusted: the journal is the judge), pop3_error when it could not be
// started or timed out (then its process group is killed).
net::awaitable<fetcher::CycleResult> run_external_cycle(const ExternalContext &ctx);

// ---- child processes
// --------------------------------------------------------------------

struct ChildSpec {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH when it has no '/'
  std::vector<std::string> env;   // "K=V"; empty: inherit this process's environment
  std::string cwd;                // "" = inherit
  std::string output_path;        // stdout and stderr appended here ("" = /dev/null)
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

struct ChildResult {
  bool started = false;
  bool timed_out = false;  // killed (SIGKILL to its process group) at the deadline
  int exit_code = -1;      // when it exited normally
  int signal = 0;          // when a signal ended it
  std::string error;       // why it could not be started
  double wall_ms = 0;
};

// Spawns the child in a new process group (stdin /dev/null) and polls waitpid
// every kChildPollInterval on an asio timer; at the deadline the whole group
// gets SIGKILL and is reaped. Leftover members of the group (children that
// outlive the leader) are killed too.
net::awaitable<ChildResult> run_child(const ChildSpec &spec);

// The last `max_bytes` of a file, control characters shown as spaces (for
// `detail`).
std::string output_tail(const std::string &path, std::size_t max_bytes = 600);

// ---- adapters (pure: config text from the intent)
// -------------------------------------

// The accounts of one cycle: ctx.accounts, or the one multidrop account
// "catchall" made of ctx.user/password when there are none; ports resolved (0
// becomes ctx.pop3_port).
std::vector<ExternalAccount> external_accounts(const ExternalContext &ctx);
// ctx.accounts usable: names non-empty, [a-z0-9_-] and unique; users non-empty;
// no control characters in user, password or deliver_to (they would end a
// config line); deliver_to a full address. Error "bad-account" naming the
// account.
base::Status check_accounts(const ExternalContext &ctx);

// fetchmail run control file (must be written mode 0600). One account: one
// poll entry in multidrop mode ("is * here"), "envelope [skip] HEADER" from the
// intent's first envelope spec (occurrence N >= 1 becomes skip count N-1;
// fetchmail reads one header line only), "qvirtual" from the qmail prefix,
// localdomains, world.aliases as "address"="mailbox" mappings, postmaster =
// world.fallback, no bouncemail, smtphost/lmtp from the receiver, keep,
// sslproto ''.
// Several accounts: one poll entry per provider port holding one `user` entry
// per account, each followed by its own smtphost, ssl, sslproto and keep
// (fetchmail binds them to the `user` they follow). A single-drop account is
// `user "U" with password "P" is "<deliver_to>" here`: fetchmail 6.4 sends a
// local name containing '@' as the RCPT TO unchanged (a bare name would get
// "@<smtphost>" appended).
std::string fetchmail_rc(const ExternalContext &ctx);
// The fetchmail command line for one cycle (rc, pid file and UIDL file below
// `dir`).
std::vector<std::string> fetchmail_argv(const std::string &dir);

// getmailrc: MultidropPOP3Retriever with envelope_recipient =
// header:occurrence, destination MDA_external running msmtp (SMTP or LMTP to
// the receiver, envelope sender and recipient from getmail, header rewriting
// off), read_all = false, delete = !keep. This is the rc of the one account of
// external_accounts(ctx) when ctx.accounts is empty.
std::string getmail_rc(const ExternalContext &ctx, const std::string &msmtp_path,
                       const std::string &msmtp_config);
// The rc of one account (getmail reads one account per rc file): multidrop as
// above, or single-drop: SimplePOP3Retriever (SSL variant for implicit TLS)
// whose msmtp gets the fixed recipient deliver_to (getmail offers %(recipient)
// to multidrop retrievers only).
std::string getmail_rc(const ExternalContext &ctx, const ExternalAccount &account,
                       const std::string &msmtp_path, const std::string &msmtp_config);
// The rc file of an account below the getmail directory: "getmailrc" when
// ctx.accounts is empty, else "getmailrc-<name>".
std::string getmail_rc_name(const ExternalContext &ctx, const ExternalAccount &account);
std::vector<std::string> getmail_argv(const std::string &getmail_dir, const std::string &rcfile);
// One invocation for several accounts: --rcfile once per file, in order.
std::vector<std::string> getmail_argv(const std::string &getmail_dir,
                                      const std::vector<std::string> &rcfiles);

// The intent as a fetcher-core config (YAML, the format of `dropcheck fetch
// --config`): what the command fetcher gets as {config}. The password is
// referenced by password_file. With ctx.accounts: no top-level pop3, an
// `accounts:` list instead (name, pop3 with that account's password file, mode
// multidrop | single, deliver_to), `parallel: 1`; smtp and routing shared.
std::string intent_config(const ExternalContext &ctx, const std::string &password_file,
                          const std::string &state_dir);
// The password file of each account of external_accounts(ctx), in order: the
// first is `password_file` itself ({password_file}), the others
// "<password_file>-<name>". Each is written 0600 holding that password.
std::vector<std::string> account_password_files(const ExternalContext &ctx,
                                                const std::string &password_file);

// Placeholders of the command fetcher, name -> value, for one cycle: pop3_host,
// pop3_port, user, password, password_file (of the first account when there are
// several), smtp_host, smtp_port, lmtp
// (true/false), protocol (smtp/lmtp), config, workdir, state_dir, cycle.
std::map<std::string, std::string> command_placeholders(const ExternalContext &ctx,
                                                        const std::string &config_path,
                                                        const std::string &password_file,
                                                        const std::string &state_dir);
// Replaces every {name} by its value, shell-quoted (the result is run by
// /bin/sh -c); "{{" and "}}" are literal braces. Error "bad-command" for an
// unknown or unterminated placeholder.
base::Result<std::string> substitute_command(std::string_view tmpl,
                                             const std::map<std::string, std::string> &values);
// POSIX shell single-quoting ('it'\''s').
std::string shell_quote(std::string_view s);

}  // namespace dropcheck::runner

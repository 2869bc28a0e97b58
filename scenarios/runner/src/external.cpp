#include "runner/external.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "base/strings.hpp"

extern char **environ;

namespace dropcheck::runner {

namespace fs = std::filesystem;
namespace asio = net::asio;

namespace {

// How often a running child is polled with waitpid(WNOHANG): short against a
// fetcher cycle (tens of ms), long enough not to busy-spin the one io_context
// thread.
constexpr auto kChildPollInterval = std::chrono::milliseconds(2);
// Secrets and rc files: fetchmail refuses a run control file readable by
// others.
constexpr fs::perms kPrivateFile = fs::perms::owner_read | fs::perms::owner_write;

// The envelope spec the intent names first (external fetchers read one header
// only), or the core's default when the scenario names none.
mail::EnvelopeSpec first_envelope(const Scenario &s) {
  if (!s.fetcher.envelope.empty()) return s.fetcher.envelope.front();
  return mail::EnvelopeSpec{};
}

// A double-quoted string with backslash escapes for '"' and '\\': the form read
// by Python (getmailrc tuple elements) and by YAML double-quoted scalars (the
// {config} file). Not by fetchmail: see fetchmail_quote.
std::string dquote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// A fetchmail rc string. Its lexer ends a "..." string at the first '"'
// whatever precedes it (fetchmail 6.4.37 reads "a\"b" as a syntax error or
// garbage) and then decodes escapes inside: '"' is written \x22 (it reads two
// hex digits at most), a backslash \\.
std::string fetchmail_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"')
      out += "\\x22";
    else if (c == '\\')
      out += "\\\\";
    else
      out.push_back(c);
  }
  return out + "\"";
}

// Full path of a program on PATH, "" when absent.
std::string find_program(std::string_view name) {
  if (name.find('/') != std::string_view::npos)
    return ::access(std::string(name).c_str(), X_OK) == 0 ? std::string(name) : std::string();
  const char *path = std::getenv("PATH");
  std::string_view p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!p.empty()) {
    const auto colon = p.find(':');
    std::string dir(p.substr(0, colon));
    if (dir.empty()) dir = ".";
    const std::string full = dir + "/" + std::string(name);
    if (::access(full.c_str(), X_OK) == 0) return full;
    if (colon == std::string_view::npos) break;
    p.remove_prefix(colon + 1);
  }
  return {};
}

void write_file(const fs::path &path, const std::string &text, fs::perms perms) {
  // Created with the final mode (never briefly world-readable).
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(perms));
  if (fd < 0)
    throw std::runtime_error(
        fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::strerror(e)));
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  fs::permissions(path,
                  perms);  // an existing file keeps its old mode under O_CREAT
}

void make_private_dir(const fs::path &dir) {
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
}

// A small environment for fetchmail/getmail: their own HOME (no ~/.fetchmailrc,
// ~/.netrc or
// ~/.msmtprc of the user running the harness leaks in), PATH, a fixed locale.
std::vector<std::string> private_env(const std::string &home) {
  const char *path = std::getenv("PATH");
  return {"HOME=" + home, "PATH=" + std::string(path ? path : "/usr/local/bin:/usr/bin:/bin"),
          "LC_ALL=C.UTF-8", "LANG=C.UTF-8", "TZ=UTC"};
}

// Kills and reaps the child if the awaiting coroutine is destroyed before it
// finished (the io_context stopped at the scenario deadline): no child outlives
// the harness.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
};

std::string describe_exit(const ChildResult &r) {
  if (r.timed_out) return fmt::format("killed after {:.0f} ms (timeout)", r.wall_ms);
  if (r.signal) return fmt::format("signal={}", r.signal);
  return fmt::format("exit={}", r.exit_code);
}

}  // namespace

const std::vector<std::string> &external_fetcher_kinds() {
  static const std::vector<std::string> kKinds = [] {
    std::vector<std::string> out;
    for (const auto k : {FetcherKind::fetchmail, FetcherKind::getmail6, FetcherKind::command})
      out.emplace_back(fetcher_kind_name(k));
    return out;
  }();
  return kKinds;
}

bool is_external_fetcher(std::string_view kind) {
  const auto k = parse_fetcher_kind(kind);
  return k && *k != FetcherKind::core;
}

bool external_fetcher_available(std::string_view kind, std::string *missing) {
  std::vector<std::string_view> need;
  if (kind == "fetchmail")
    need = {"fetchmail"};
  else if (kind == "getmail6")
    need = {"getmail", "msmtp"};
  else if (kind == "command")
    need = {"sh"};
  else {
    if (missing) *missing = "unknown fetcher " + std::string(kind);
    return false;
  }
  std::string miss;
  for (auto n : need)
    if (find_program(n).empty()) miss += (miss.empty() ? "" : ", ") + std::string(n);
  if (missing) *missing = miss;
  return miss.empty();
}

// ---- child processes
// ----------------------------------------------------------------------

net::awaitable<ChildResult> run_child(const ChildSpec &spec) {
  ChildResult res;
  const auto start = std::chrono::steady_clock::now();
  if (spec.argv.empty()) {
    res.error = "empty command";
    co_return res;
  }
  std::vector<char *> argv;
  for (const auto &a : spec.argv) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char *> envp;
  for (const auto &e : spec.env) envp.push_back(const_cast<char *>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = spec.output_path.empty() ? "/dev/null" : spec.output_path;
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
  // Own process group (so a timeout kills the fetcher and whatever it started,
  // e.g. getmail's msmtp), default signal dispositions, nothing blocked.
  sigset_t def, mask;
  sigemptyset(&def);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM})
    sigaddset(&def, sig);
  sigemptyset(&mask);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                     POSIX_SPAWN_SETSIGMASK));
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(),
                                spec.env.empty() ? environ : envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    res.error = fmt::format("cannot start {}: {}", spec.argv[0], std::strerror(rc));
    co_return res;
  }
  res.started = true;
  ChildGuard guard{pid};

  const auto deadline = start + spec.timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      res.error = fmt::format("waitpid: {}", std::strerror(errno));
      guard.pid = -1;
      co_return res;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    timer.expires_after(kChildPollInterval);
    co_await timer.async_wait(asio::use_awaitable);
  }
  guard.pid = -1;
  // Members of its process group that outlive the leader (a backgrounded MDA,
  // `cmd &` in a command fetcher) are ended too; ESRCH when there are none.
  ::kill(-pid, SIGKILL);
  if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
  res.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  co_return res;
}

std::string output_tail(const std::string &path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
  const std::size_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string data(size - from, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  std::string out;
  for (char c : data) {
    const bool ctl = static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    if (ctl) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return from > 0 ? "..." + out : out;
}

// ---- adapters
// -----------------------------------------------------------------------------

std::vector<ExternalAccount> external_accounts(const ExternalContext &ctx) {
  std::vector<ExternalAccount> out = ctx.accounts;
  if (out.empty()) out.push_back({"catchall", ctx.user, ctx.password, "", 0});
  for (auto &a : out)
    if (a.port == 0) a.port = ctx.pop3_port;
  return out;
}

base::Status check_accounts(const ExternalContext &ctx) {
  const auto bad = [](const ExternalAccount &a, std::string_view why) {
    return base::make_error("bad-account", fmt::format("account '{}': {}", a.name, why));
  };
  const auto has_control = [](std::string_view v) {
    return std::any_of(v.begin(), v.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  };
  std::vector<std::string_view> seen;
  for (const auto &a : ctx.accounts) {
    const bool name_ok = !a.name.empty() && std::all_of(a.name.begin(), a.name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
    if (!name_ok) return bad(a, "name must be non-empty [a-z0-9_-]");
    if (std::find(seen.begin(), seen.end(), a.name) != seen.end()) return bad(a, "name used twice");
    seen.push_back(a.name);
    if (a.user.empty()) return bad(a, "no POP3 user");
    if (has_control(a.user) || has_control(a.password) || has_control(a.deliver_to))
      return bad(a, "control character in user, password or deliver_to");
    if (!a.deliver_to.empty() && (a.deliver_to.find('@') == std::string::npos ||
                                  a.deliver_to.find_first_of(" <>\"") != std::string::npos))
      return bad(a, "deliver_to must be a full address (local@domain)");
  }
  return base::ok_status();
}

namespace {

// Received intent: fetchmail reads a Received line's "for" only when its "by"
// host is one of the names it knows for the server ("aka"; with "no dns" the
// poll name and aka only, man fetchmail "envelope"). Occurrence 0 or 1 is
// fetchmail's default envelope (no envelope line: "Received", the topmost
// line); N >= 2 is `envelope N-1 "Received"`.
std::string fetchmail_received(const mail::EnvelopeSpec &spec) {
  std::string rc = "  aka " + fetchmail_quote(spec.received_by) + "\n";
  if (spec.occurrence >= 2)
    rc += fmt::format("  envelope {} \"Received\"\n", spec.occurrence - 1);
  else
    rc += "  # envelope: fetchmail's default (Received)\n";
  return rc;
}

// The server part of a fetchmail poll entry: protocol, port and the multidrop
// options (envelope, qvirtual, localdomains) shared by every user entry below
// it.
std::string fetchmail_poll(const ExternalContext &ctx, std::uint16_t port) {
  const Scenario &s = *ctx.scenario;
  std::string rc =
      fmt::format("poll {} with proto pop3 port {} no dns uidl\n", ctx.pop3_host, port);
  if (s.fetcher.to_cc) {
    // To/Cc mode: no envelope header, not even the Received-line guess.
    rc += "  no envelope\n";
  } else if (mail::reads_received(first_envelope(s))) {
    rc += fetchmail_received(first_envelope(s));
  } else {
    const auto spec = first_envelope(s);
    // occurrence N >= 1 is the Nth line from the top: fetchmail skips N-1; 0
    // ("every line") cannot be expressed, fetchmail reads the first.
    if (spec.occurrence >= 2)
      rc += fmt::format("  envelope {} {}\n", spec.occurrence - 1, fetchmail_quote(spec.header));
    else
      rc += "  envelope " + fetchmail_quote(spec.header) + "\n";
    if (!spec.qvirtual.empty())
      rc += "  qvirtual " + fetchmail_quote(spec.qvirtual) + "\n";
    else if (spec.strip_qmail_prefix)
      // fetchmail strips one literal prefix: the first local domain's
      // "<domain>-".
      rc += "  qvirtual " + fetchmail_quote(s.world.local_domains.front() + "-") + "\n";
  }
  rc += "  localdomains";
  for (const auto &d : s.world.local_domains) {
    rc += ' ';  // not " " + quote(d): GCC 12's false -Wrestrict (PR 105329)
    rc += fetchmail_quote(d);
  }
  rc += "\n";
  return rc;
}

// One user entry and its user options (fetchmail binds smtphost, ssl, sslproto
// and keep to the `user` they follow: every entry repeats them).
std::string fetchmail_user(const ExternalContext &ctx, const ExternalAccount &a) {
  const Scenario &s = *ctx.scenario;
  std::string rc =
      "  user " + fetchmail_quote(a.user) + " with password " + fetchmail_quote(a.password) + " is";
  if (a.deliver_to.empty()) {
    // Multidrop: '*' passes local names through; full-address mappings
    // (fetchmail >= 6.3.5) carry world.aliases and take precedence over
    // localdomains.
    for (const auto &[from, to] : s.world.aliases)
      rc += " " + fetchmail_quote(from) + "=" + fetchmail_quote(to);
    rc += " * here\n";
  } else {
    // Single-drop: one local name; containing '@', it is the RCPT TO as is.
    rc += " " + fetchmail_quote(a.deliver_to) + " here\n";
  }
  if (ctx.lmtp)
    rc += fmt::format("  lmtp smtphost {}/{}\n", ctx.smtp_host, ctx.smtp_port);
  else
    rc += fmt::format("  smtphost {}/{}\n", ctx.smtp_host, ctx.smtp_port);
  if (ctx.pop3_tls == client::TlsMode::none) {
    rc += "  sslproto ''\n";  // plain POP3: no opportunistic STLS attempt
  } else {
    // Required TLS (implicit, or STLS in-band), certificate verified against
    // the run's CA.
    if (ctx.pop3_tls == client::TlsMode::implicit) rc += "  ssl\n";
    rc += "  sslproto 'TLS1.2+' sslcertck sslcertfile " + fetchmail_quote(ctx.ca_file) + "\n";
  }
  rc += s.fetcher.keep ? "  keep\n" : "  no keep\n";
  return rc;
}

}  // namespace

std::string fetchmail_rc(const ExternalContext &ctx) {
  const Scenario &s = *ctx.scenario;
  std::string rc = fmt::format(
      "# dropcheck: fetchmail run control for "
      "scenario {}, cycle {} (generated)\n",
      s.name, ctx.cycle);
  // Undeliverable mail and mail with no local recipient go to the fallback
  // mailbox, not back to the (often forged) sender: backscatter is worse than a
  // postmaster copy.
  if (!s.world.fallback.empty()) rc += "set postmaster " + fetchmail_quote(s.world.fallback) + "\n";
  rc += "set no bouncemail\nset no spambounce\n";
  // One poll entry per provider port (in the order the accounts name them),
  // holding the user entries of that port.
  const auto accounts = external_accounts(ctx);
  std::vector<std::uint16_t> ports;
  for (const auto &a : accounts)
    if (std::find(ports.begin(), ports.end(), a.port) == ports.end()) ports.push_back(a.port);
  for (const auto port : ports) {
    rc += fetchmail_poll(ctx, port);
    for (const auto &a : accounts)
      if (a.port == port) rc += fetchmail_user(ctx, a);
  }
  return rc;
}

std::vector<std::string> fetchmail_argv(const std::string &dir) {
  return {"fetchmail",
          "-f",
          dir + "/fetchmailrc",
          "--pidfile",
          dir + "/fetchmail.pid",
          "-i",
          dir + "/fetchids",
          "-d0",
          "-v",
          "--nosyslog"};
}

std::string getmail_rc(const ExternalContext &ctx, const std::string &msmtp_path,
                       const std::string &msmtp_config) {
  return getmail_rc(ctx, external_accounts(ctx).front(), msmtp_path, msmtp_config);
}

std::string getmail_rc(const ExternalContext &ctx, const ExternalAccount &account,
                       const std::string &msmtp_path, const std::string &msmtp_config) {
  const Scenario &s = *ctx.scenario;
  const auto spec = first_envelope(s);
  const bool multidrop = account.deliver_to.empty();
  const std::uint16_t port = account.port ? account.port : ctx.pop3_port;
  std::string rc = fmt::format("# dropcheck: getmailrc for scenario {}, cycle {} (generated)\n",
                               s.name, ctx.cycle);
  if (!ctx.accounts.empty())
    rc += fmt::format("# account {} ({})\n", account.name, multidrop ? "multidrop" : "single-drop");
  // getmail has no STLS for POP3: only the SSL retriever (implicit TLS)
  // protects the password.
  const bool ssl = ctx.pop3_tls == client::TlsMode::implicit;
  rc += fmt::format("[retriever]\ntype = {}POP3{}Retriever\n", multidrop ? "Multidrop" : "Simple",
                    ssl ? "SSL" : "");
  if (ssl) rc += "ca_certs = " + ctx.ca_file + "\n";
  rc += fmt::format("server = {}\nport = {}\nusername = {}\npassword = {}\n", ctx.pop3_host, port,
                    account.user, account.password);
  // getmail reads one occurrence of one header: "name:position", position 1 =
  // topmost.
  if (multidrop)
    rc += fmt::format("envelope_recipient = {}:{}\n", base::to_lower(spec.header),
                      std::max(1, spec.occurrence));
  rc += "\n[destination]\ntype = MDA_external\n";
  rc += "path = " + msmtp_path + "\n";
  // msmtp re-injects with the envelope getmail found: MAIL FROM = the
  // Return-Path getmail read (%(sender), "" for <>), RCPT TO = the envelope
  // recipient (multidrop) or the account's one local address (single-drop:
  // getmail has no %(recipient) there); no header rewriting.
  std::vector<std::string> args = {"-C",
                                   msmtp_config,
                                   "--host=" + ctx.smtp_host,
                                   fmt::format("--port={}", ctx.smtp_port),
                                   ctx.lmtp ? "--protocol=lmtp" : "--protocol=smtp",
                                   "--auth=off",
                                   "--tls=off",
                                   "--set-from-header=off",
                                   "--set-date-header=off",
                                   "--set-msgid-header=off",
                                   "-f",
                                   "%(sender)",
                                   "--",
                                   multidrop ? std::string("%(recipient)") : account.deliver_to};
  rc += "arguments = (";
  for (std::size_t i = 0; i < args.size(); ++i) rc += (i ? ", " : "") + dquote(args[i]);
  rc += ")\n";
  // The harness may run as root (CI containers); getmail refuses external MDAs
  // as root unless told otherwise.
  rc += "allow_root_commands = true\n";
  rc += "\n[options]\nverbose = 2\nread_all = false\n";
  rc += s.fetcher.keep ? "delete = false\n" : "delete = true\n";
  return rc;
}

std::string getmail_rc_name(const ExternalContext &ctx, const ExternalAccount &account) {
  return ctx.accounts.empty() ? "getmailrc" : "getmailrc-" + account.name;
}

std::vector<std::string> getmail_argv(const std::string &getmail_dir, const std::string &rcfile) {
  return getmail_argv(getmail_dir, std::vector<std::string>{rcfile});
}

std::vector<std::string> getmail_argv(const std::string &getmail_dir,
                                      const std::vector<std::string> &rcfiles) {
  std::vector<std::string> argv = {"getmail", "--getmaildir", getmail_dir};
  for (const auto &rc : rcfiles) {
    argv.push_back("--rcfile");
    argv.push_back(rc);
  }
  return argv;
}

std::string intent_config(const ExternalContext &ctx, const std::string &password_file,
                          const std::string &state_dir) {
  const Scenario &s = *ctx.scenario;
  std::string y = fmt::format("# dropcheck: fetcher intent for scenario {} (generated)\n", s.name);
  y += "version: 1\nname: scenario\n";
  const auto pop3 = [&](std::uint16_t port, const std::string &user, const std::string &pw_file) {
    return fmt::format(
        "{{host: {}, port: {}, tls: {}, user: {}, password_file: {}{}}}", ctx.pop3_host, port,
        ctx.pop3_tls == client::TlsMode::implicit ? "implicit" : "none", dquote(user),
        dquote(pw_file), ctx.ca_file.empty() ? "" : ", ca_file: " + dquote(ctx.ca_file));
  };
  if (ctx.accounts.empty()) y += "pop3: " + pop3(ctx.pop3_port, ctx.user, password_file) + "\n";
  y += fmt::format("smtp: {{host: {}, port: {}, lmtp: {}}}\n", ctx.smtp_host, ctx.smtp_port,
                   ctx.lmtp ? "true" : "false");
  y += "routing:\n";
  y += std::string("  source: ") + (s.fetcher.to_cc ? "to-cc" : "envelope-header") + "\n";
  if (!s.fetcher.envelope.empty()) {
    y += "  envelope:\n";
    for (const auto &e : s.fetcher.envelope)
      y += fmt::format("    - {{header: {}, occurrence: {}, qmail_prefix: {}{}}}\n",
                       dquote(e.header), e.occurrence, e.strip_qmail_prefix ? "true" : "false",
                       e.received_by.empty() ? "" : ", by: " + dquote(e.received_by));
  }
  y += "  local_domains: [";
  for (std::size_t i = 0; i < s.world.local_domains.size(); ++i)
    y += (i ? ", " : "") + dquote(s.world.local_domains[i]);
  y += "]\n";
  if (!s.world.aliases.empty()) {
    y += "  aliases:\n";
    for (const auto &[from, to] : s.world.aliases)
      y += "    " + dquote(from) + ": " + dquote(to) + "\n";
  }
  if (s.fetcher.knows_users && !s.world.users.empty()) {
    y += "  users: [";
    for (std::size_t i = 0; i < s.world.users.size(); ++i)
      y += (i ? ", " : "") + dquote(s.world.users[i]);
    y += "]\n";
  }
  if (!s.world.fallback.empty()) y += "  fallback: " + dquote(s.world.fallback) + "\n";
  y += "state_dir: " + dquote(state_dir) + "\n";
  y += std::string("keep: ") + (s.fetcher.keep ? "true" : "false") + "\n";
  if (!ctx.accounts.empty()) {
    const auto accounts = external_accounts(ctx);
    const auto pw_files = account_password_files(ctx, password_file);
    y += "accounts:\n";
    for (std::size_t i = 0; i < accounts.size(); ++i) {
      const auto &a = accounts[i];
      y += "  - name: " + dquote(a.name) + "\n";
      y += "    pop3: " + pop3(a.port, a.user, pw_files[i]) + "\n";
      if (a.deliver_to.empty()) {
        y += "    mode: multidrop\n";
      } else {
        y += "    mode: single\n";
        y += "    deliver_to: " + dquote(a.deliver_to) + "\n";
      }
    }
    // One account after the other, as the real fetchers poll them.
    y += "parallel: 1\n";
  }
  return y;
}

std::vector<std::string> account_password_files(const ExternalContext &ctx,
                                                const std::string &password_file) {
  std::vector<std::string> out;
  for (const auto &a : external_accounts(ctx))
    out.push_back(out.empty() ? password_file : password_file + "-" + a.name);
  return out;
}

std::map<std::string, std::string> command_placeholders(const ExternalContext &ctx,
                                                        const std::string &config_path,
                                                        const std::string &password_file,
                                                        const std::string &state_dir) {
  const ExternalAccount first = external_accounts(ctx).front();
  return {{"pop3_host", ctx.pop3_host},
          {"pop3_port", std::to_string(first.port)},
          {"user", first.user},
          {"password", first.password},
          {"password_file", password_file},
          {"smtp_host", ctx.smtp_host},
          {"smtp_port", std::to_string(ctx.smtp_port)},
          {"lmtp", ctx.lmtp ? "true" : "false"},
          {"protocol", ctx.lmtp ? "lmtp" : "smtp"},
          {"config", config_path},
          {"workdir", ctx.workdir},
          {"state_dir", state_dir},
          {"cycle", std::to_string(ctx.cycle)},
          {"tls", std::string(client::to_string(ctx.pop3_tls))},
          {"ca_file", ctx.ca_file}};
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

base::Result<std::string> substitute_command(std::string_view tmpl,
                                             const std::map<std::string, std::string> &values) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '}') return base::make_error("bad-command", fmt::format("stray '}}' at offset {}", i));
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    const auto close = tmpl.find('}', i + 1);
    if (close == std::string_view::npos)
      return base::make_error("bad-command", fmt::format("unterminated '{{' at offset {}", i));
    const std::string name(tmpl.substr(i + 1, close - i - 1));
    const auto it = values.find(name);
    if (it == values.end()) {
      std::string known;
      for (const auto &kv : values) known += (known.empty() ? "" : ", ") + kv.first;
      return base::make_error("bad-command",
                              fmt::format("unknown placeholder {{{}}} (known: {})", name, known));
    }
    out += shell_quote(it->second);
    i = close;
  }
  return out;
}

// ---- one cycle
// ----------------------------------------------------------------------------

net::awaitable<fetcher::CycleResult> run_external_cycle(const ExternalContext &ctx) {
  fetcher::CycleResult r;
  const Scenario &s = *ctx.scenario;
  const std::string kind(fetcher_kind_name(s.fetcher.kind));
  ChildSpec child;
  child.timeout = ctx.timeout;
  try {
    const fs::path dir = fs::path(ctx.workdir) / kind;
    make_private_dir(dir);
    child.output_path = (dir / fmt::format("cycle-{}.log", ctx.cycle)).string();
    child.cwd = dir.string();
    if (auto ok = check_accounts(ctx); !ok.ok()) {
      r.outcome = fetcher::Outcome::pop3_error;
      r.detail = fmt::format("{}: {}", kind, ok.error().message);
      co_return r;
    }
    std::string missing;
    if (!external_fetcher_available(kind, &missing)) {
      r.outcome = fetcher::Outcome::pop3_error;
      r.detail = fmt::format("external fetcher '{}' is not available (missing: {})", kind, missing);
      co_return r;
    }
    if (s.fetcher.kind == FetcherKind::fetchmail) {
      // One rc per cycle (same content): fetchmail's own state is the UIDL file
      // and the pid file, shared by the cycles of this run like a real
      // installation's.
      write_file(dir / "fetchmailrc", fetchmail_rc(ctx), kPrivateFile);
      child.argv = fetchmail_argv(dir.string());
      child.env = private_env(dir.string());
      child.env.push_back("FETCHMAILHOME=" + dir.string());
    } else if (s.fetcher.kind == FetcherKind::getmail6) {
      const fs::path msmtprc = dir / "msmtprc";
      write_file(msmtprc, "# dropcheck: empty; everything is on msmtp's command line\n",
                 kPrivateFile);
      // One rc file per account (getmail reads one account per file), all in
      // one invocation; its state (oldmail-<server>-<port>-<user>) is per
      // account already.
      std::vector<std::string> rcfiles;
      for (const auto &a : external_accounts(ctx)) {
        const fs::path rc = dir / getmail_rc_name(ctx, a);
        write_file(rc, getmail_rc(ctx, a, find_program("msmtp"), msmtprc.string()), kPrivateFile);
        rcfiles.push_back(rc.string());
      }
      child.argv = getmail_argv(dir.string(), rcfiles);
      child.env = private_env(dir.string());
    } else if (s.fetcher.kind == FetcherKind::command) {
      const fs::path pw = dir / "password";
      const fs::path state = dir / "state";
      const fs::path config = dir / "intent.yaml";
      make_private_dir(state);
      const auto accounts = external_accounts(ctx);
      const auto pw_files = account_password_files(ctx, pw.string());
      for (std::size_t i = 0; i < accounts.size(); ++i)
        write_file(pw_files[i], accounts[i].password + "\n", kPrivateFile);
      write_file(config, intent_config(ctx, pw.string(), state.string()), kPrivateFile);
      auto line = substitute_command(
          s.fetcher.command,
          command_placeholders(ctx, config.string(), pw.string(), state.string()));
      if (!line.ok()) {
        r.outcome = fetcher::Outcome::pop3_error;
        r.detail = "fetcher.command: " + line.error().message;
        co_return r;
      }
      child.argv = {"/bin/sh", "-c", *line};
      // The user's environment (their fetcher may need it) plus where it runs.
    } else {
      r.outcome = fetcher::Outcome::pop3_error;
      r.detail = "unknown external fetcher '" + kind + "'";
      co_return r;
    }
  } catch (const std::exception &e) {
    r.outcome = fetcher::Outcome::pop3_error;
    r.detail = fmt::format("{}: cannot prepare cycle {}: {}", kind, ctx.cycle, e.what());
    co_return r;
  }
  const ChildResult c = co_await run_child(child);
  const std::string tail = output_tail(child.output_path);
  if (!c.started) {
    r.outcome = fetcher::Outcome::pop3_error;
    r.detail = fmt::format("{}: {}", kind, c.error);
  } else if (c.timed_out || !c.error.empty()) {
    r.outcome = fetcher::Outcome::pop3_error;
    r.detail = fmt::format("{} {}{} output: {}", kind, describe_exit(c),
                           c.error.empty() ? "" : " " + c.error, tail);
  } else {
    r.outcome = fetcher::Outcome::ok;
    r.detail = fmt::format("{} {} ({:.0f} ms) output: {}", kind, describe_exit(c), c.wall_ms, tail);
  }
  co_return r;
}

}  // namespace dropcheck::runner

#include "runner/external.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "base/strings.hpp"
#include "external_internal.hpp"

namespace dropcheck::runner {

namespace fs = std::filesystem;
namespace asio = net::asio;
using detail::dquote;
using detail::first_envelope;

namespace {

// Secrets and rc files: fetchmail refuses a run control file readable by
// others.
constexpr fs::perms kPrivateFile = fs::perms::owner_read | fs::perms::owner_write;

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

std::string describe_exit(const ChildResult &r) {
  if (r.timed_out) return fmt::format("killed after {:.0f} ms (timeout)", r.wall_ms);
  if (r.signal) return fmt::format("signal={}", r.signal);
  return fmt::format("exit={}", r.exit_code);
}

}  // namespace

namespace detail {

mail::EnvelopeSpec first_envelope(const Scenario &s) {
  if (!s.fetcher.envelope.empty()) return s.fetcher.envelope.front();
  return mail::EnvelopeSpec{};
}

std::string dquote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace detail

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

// Child processes (run_child, output_tail): external_child.cpp.

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

// The fetchmail adapter: external_fetchmail.cpp; getmail6: external_getmail.cpp.

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

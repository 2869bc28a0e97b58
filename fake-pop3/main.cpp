// fake-pop3: a fake mail provider for fetcher tests. An MX intake (SMTP) stamps the envelope into
// the stored copy as the profile says; a POP3 (and optionally POP3S) service serves the
// catch-all maildrop (--user), or several mailboxes (--mailboxes FILE: per-user boxes owning
// addresses, at most one catch-all). Prints "pop3 ADDR:PORT", "pop3s ADDR:PORT", "mx ADDR:PORT" on
// stdout once listening; one key=value line per POP3 session on stderr; exits cleanly on
// SIGINT/SIGTERM.
//
// Exit codes: 0 clean shutdown, 2 usage or configuration error, 3 cannot listen.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "base/clock.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "net/asio.hpp"
#include "net/server.hpp"

namespace {

using namespace dropcheck;

constexpr int kExitConfig = 2;
constexpr int kExitListen = 3;

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

net::tcp::endpoint endpoint_for(const std::string& text, bool allow_any, const char* flag) {
  net::tcp::endpoint ep;
  try {
    ep = net::parse_endpoint(text);
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("{} {}: {}", flag, text, e.what()));
  }
  if (!allow_any && !net::is_loopback(ep))
    throw ConfigError(
        fmt::format("{} {}: not a loopback address (use --allow-non-loopback)", flag, text));
  return ep;
}

// The first line of `path`, without its line ending (never logged).
std::string read_password_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line))
    throw ConfigError(fmt::format("--password-file {}: cannot read a line", path));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw ConfigError(fmt::format("--password-file {}: first line is empty", path));
  return line;
}

// --state DIR: the maildrop (one file per stored copy) and the session log, written at exit.
void write_state(const std::filesystem::path& dir, const fake_pop3::Provider& p) {
  std::filesystem::create_directories(dir / "maildrop");
  for (const auto& m : p.stored()) {
    std::ofstream f(dir / "maildrop" / (m.uidl + ".eml"), std::ios::binary);
    f << m.data;
  }
  std::ofstream log(dir / "sessions.log", std::ios::app);
  for (const auto& e : p.session_log()) log << fake_pop3::to_log_line(e) << '\n';
}

constexpr const char* kMailboxesHelp = R"(--mailboxes FILE (YAML; instead of --user/--password):
  version: 1
  mailboxes:
    - user: anna                       # POP3 user, unique
      password_file: anna.pw           # first line; or password: ... (one of them)
      addresses: [anna@firma.example]  # recipients it owns (case-insensitive)
    - user: catchall
      password_file: catchall.pw
      catch_all: true                  # every recipient no box owns (at most one box)
The MX puts an owned recipient in its box and any other in the catch-all; with no catch-all
it refuses it (550 5.1.1). Errors name file:line:col and the field, never a password.)";

// The mailboxes: --mailboxes FILE, or the one catch-all box of --user and its password.
std::vector<fake_pop3::Mailbox> mailboxes_from(const std::string& file, const std::string& user,
                                               std::string password,
                                               const std::string& password_file) {
  if (!file.empty()) {
    if (!user.empty() || !password.empty() || !password_file.empty())
      throw ConfigError("--mailboxes excludes --user, --password and --password-file");
    auto boxes = fake_pop3::load_mailboxes(file);
    if (!boxes) throw ConfigError(boxes.error().message);
    return std::move(boxes).value();
  }
  if (!password.empty() && !password_file.empty())
    throw ConfigError("--password and --password-file exclude each other");
  if (!password_file.empty()) password = read_password_file(password_file);
  if (user.empty() || password.empty())
    throw ConfigError(
        "--user and --password (or --password-file) are required, or --mailboxes FILE");
  return {fake_pop3::Mailbox{user, std::move(password), {}, true}};
}

// Everything the command line sets.
struct Options {
  std::string listen, tls_listen, mx_listen, profile_name = "x-envelope-to", user, password;
  std::string cert, key, state_dir;
  bool allow_any = false;
  bool list_profiles = false;
  std::string password_file;
  std::string mailboxes_file;
  std::size_t max_sessions = 0;
  std::size_t mx_max_sessions = 64;
};

void add_options(CLI::App& app, Options& o) {
  app.add_option("--listen", o.listen, "POP3 listen address, e.g. 127.0.0.1:0 (0: any free port)");
  app.add_option("--tls-listen", o.tls_listen, "POP3S (implicit TLS) listen address");
  app.add_option("--mx-listen", o.mx_listen, "SMTP intake listen address");
  app.add_option("--profile", o.profile_name,
                 "built-in profile name or YAML file (default x-envelope-to)");
  app.add_option("--user", o.user, "POP3 user of the catch-all maildrop (or --mailboxes)");
  app.add_option("--password", o.password, "its password (visible in ps: prefer --password-file)");
  app.add_option("--password-file", o.password_file, "file whose first line is the password");
  app.add_option("--mailboxes", o.mailboxes_file,
                 "YAML file of several mailboxes (format below); excludes --user, --password, "
                 "--password-file");
  app.add_option("--max-sessions", o.max_sessions,
                 "concurrent POP3 sessions per listener (default: the profile's); more get "
                 "-ERR [SYS/TEMP] and a session record")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
  app.add_option("--mx-max-sessions", o.mx_max_sessions,
                 "concurrent MX intake sessions; more get 421 4.3.2 and a log line")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--cert", o.cert, "PEM certificate for STLS/POP3S (default: self-signed)");
  app.add_option("--key", o.key, "PEM private key for --cert");
  app.add_option("--state", o.state_dir, "directory: maildrop and session log written at exit");
  app.add_flag("--allow-non-loopback", o.allow_any, "permit listening on non-loopback addresses");
  app.add_flag("--list-profiles", o.list_profiles, "print the built-in profile names and exit");
}

// STLS/POP3S: --cert/--key, or a self-signed pair; none when nothing asks for TLS.
std::shared_ptr<net::ssl::context> make_tls(const Options& o, const fake_pop3::Provider& provider) {
  if (o.tls_listen.empty() && o.cert.empty() && !provider.profile().stls) return nullptr;
  try {
    return o.cert.empty() ? net::make_server_tls(net::make_self_signed())
                          : net::make_server_tls_files(o.cert, o.key);
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("TLS setup: {}", e.what()));
  }
}

void log_line(std::string_view line) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
}

net::ServerOptions mx_server_options(const Options& o) {
  net::ServerOptions mx_options;
  mx_options.max_sessions = o.mx_max_sessions;
  mx_options.busy_reply =
      "421 4.3.2 mx.provider.example Error: too many connections, try again later\r\n";
  mx_options.fd_limit_reply =
      "421 4.3.2 mx.provider.example Error: out of file descriptors, try again later\r\n";
  mx_options.log = log_line;
  mx_options.on_refused = [](const net::Peer& p, std::string_view reason) {
    log_line(
        fmt::format("event=mx-session peer={}:{} end={} reply=421", p.address, p.port, reason));
  };
  return mx_options;
}

// The listeners (POP3, POP3S, MX intake) until SIGINT/SIGTERM; then --state.
int serve(const Options& o, fake_pop3::Provider& provider) {
  net::asio::io_context io;
  const std::shared_ptr<net::ssl::context> tls = make_tls(o, provider);
  std::vector<std::unique_ptr<net::Server>> servers;
  const auto add = [&](const std::string& addr, const char* flag, const char* label,
                       net::SessionFactory factory, net::ServerOptions opts) {
    const auto ep = endpoint_for(addr, o.allow_any, flag);
    try {
      servers.push_back(std::make_unique<net::Server>(io, ep, std::move(factory), std::move(opts)));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "event=listen-failed listener=%s addr=%s error=\"%s\"\n", label,
                   addr.c_str(), e.what());
      std::exit(kExitListen);
    }
    servers.back()->start();
    fmt::print("{} {}\n", label, fmt::streamed(servers.back()->local_endpoint()));
  };
  const auto pop3_options = [&](bool implicit_tls) {
    net::ServerOptions opts = provider.pop3_server_options(tls, implicit_tls);
    if (o.max_sessions != 0) opts.max_sessions = o.max_sessions;
    opts.log = log_line;
    return opts;
  };
  if (!o.listen.empty())
    add(
        o.listen, "--listen", "pop3",
        [&](const net::Peer& p) { return provider.make_pop3_session(p); }, pop3_options(false));
  if (!o.tls_listen.empty())
    add(
        o.tls_listen, "--tls-listen", "pop3s",
        [&](const net::Peer& p) { return provider.make_pop3_session(p); }, pop3_options(true));
  if (!o.mx_listen.empty())
    add(
        o.mx_listen, "--mx-listen", "mx",
        [&](const net::Peer& p) { return provider.make_mx_session(p); }, mx_server_options(o));
  std::fflush(stdout);

  net::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const net::error_code& ec, int sig) {
    if (ec) return;
    std::fprintf(stderr, "event=shutdown signal=%d\n", sig);
    for (auto& s : servers) s->stop();
  });
  io.run();
  if (!o.state_dir.empty()) write_state(o.state_dir, provider);
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{
      "fake-pop3: a fake POP3 provider (a catch-all or several mailboxes) with an MX "
      "intake (dropcheck)"};
  app.footer(kMailboxesHelp);
  Options o;
  add_options(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (o.list_profiles) {
    for (const auto& n : fake_pop3::builtin_profile_names()) fmt::print("{}\n", n);
    return 0;
  }
  if (o.listen.empty() && o.tls_listen.empty())
    throw ConfigError("--listen or --tls-listen needed");
  auto mailboxes = mailboxes_from(o.mailboxes_file, o.user, o.password, o.password_file);
  if (o.cert.empty() != o.key.empty()) throw ConfigError("--cert and --key go together");

  auto profile = fake_pop3::load_profile(o.profile_name);
  if (!profile) throw ConfigError(profile.error().message);

  base::SystemClock clock;
  std::optional<fake_pop3::Provider> made;
  try {
    made.emplace(std::move(*profile), std::move(mailboxes), clock);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
  fake_pop3::Provider& provider = *made;
  // One line per mailbox of a --mailboxes file (never its password).
  if (!o.mailboxes_file.empty())
    for (const auto& m : provider.mailboxes())
      std::fprintf(stderr, "event=mailbox user=%s addresses=%zu catch_all=%s\n", m.user.c_str(),
                   m.addresses.size(), m.catch_all ? "true" : "false");
  provider.on_session_end([](const fake_pop3::SessionLogEntry& e) {
    std::fprintf(stderr, "%s\n", fake_pop3::to_log_line(e).c_str());
  });
  return serve(o, provider);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "fake-pop3: %s\n", e.what());
    return kExitConfig;
  }
}

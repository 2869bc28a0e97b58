// fake-smtp: the harness's receiving SMTP/LMTP server. Journals every transaction (accepted or
// refused) under --journal DIR; never delivers or relays anything.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "base/clock.hpp"
#include "fake_smtp/fake_smtp.hpp"
#include "net/asio.hpp"
#include "net/server.hpp"
#include "web/server.hpp"

namespace {

// Exit codes: 0 clean stop, 2 usage/configuration, 3 journal I/O failure, 4 listen failure.
constexpr int kExitConfig = 2;
constexpr int kExitJournal = 3;
constexpr int kExitListen = 4;

using namespace dropcheck;

// --http: the page and REST API over what this server journals (web/), on the first I/O
// thread's io_context. Records come from every I/O thread and are posted to that one.
struct HttpView {
  web::Store store;
  std::unique_ptr<web::HttpServer> server;
  explicit HttpView(web::StoreLimits limits) : store(limits) {}
};

web::Item item_of(fake_smtp::TransactionRecord rec) {
  web::Item item;
  item.id = rec.seq;
  item.rec = std::move(rec);
  return item;
}

// The journal so far (a continued journal), then every new record as it is journaled.
void feed_view(HttpView& view, const fake_smtp::Journal& journal, fake_smtp::Receiver& receiver,
               net::asio::io_context& io) {
  auto contents = fake_smtp::read_journal_contents(journal.dir());
  if (contents.ok())
    for (auto& rec : contents->records) view.store.add(item_of(std::move(rec)));
  receiver.set_on_record([&view, &io](const fake_smtp::TransactionRecord& rec) {
    net::asio::post(io, [&view, rec] {
      view.store.add(item_of(rec));
      view.server->notify();
    });
  });
}

// Exits run() with `code` after "fake-smtp: MESSAGE" on stderr (configuration, journal, listen).
struct Exit {
  int code;
  std::string message;
};

// Everything the command line sets.
struct Options {
  std::string listen = "127.0.0.1:2525";
  std::string journal_dir;
  bool allow_non_loopback = false;
  bool fsync = false;
  std::string relay = "deny";
  std::string tls_cert, tls_key;
  bool tls_self_signed = false;
  fake_smtp::Policy policy;
  protocol::SmtpServerConfig smtp;
  std::string rcpt_fault;
  std::size_t disconnect_after = 0;
  bool disconnect_set = false;
  std::size_t max_sessions = 64;
  // Half the CPUs (at most 4): the other half is for the fetcher or client under test; on a
  // 2-CPU machine a second I/O thread only competes with the client (bench/README.md).
  std::size_t threads = std::clamp<std::size_t>(std::thread::hardware_concurrency() / 2, 1, 4);
  std::string store = "inline";
  std::string journal_mode = "0600";
  std::vector<std::string> delays;
  unsigned idle_seconds = 300;
  unsigned transaction_seconds = 600;
  std::string http_listen;
  std::size_t http_max_sessions = 16;
  web::StoreLimits view_limits;
};

void add_options(CLI::App& app, Options& o) {
  o.smtp.hostname = "fake-smtp.test";
  app.add_option("--listen", o.listen, "address:port to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--journal", o.journal_dir, "journal directory (journal.jsonl)")->required();
  app.add_option(
         "--store", o.store,
         "message bytes: inline (in the journal record) or files (DIR/messages/<sha256>.eml)")
      ->check(CLI::IsMember({"inline", "files"}))
      ->capture_default_str();
  app.add_option("--local-domain", o.policy.local_domains, "a local domain (repeatable)")
      ->required();
  app.add_option("--user", o.policy.users,
                 "a known user: local part or local@domain (repeatable; none = any user)");
  app.add_option("--catch-all", o.policy.catch_all, "mailbox for unknown local users");
  app.add_flag("--lmtp", o.policy.lmtp, "speak LMTP (RFC 2033) instead of SMTP");
  app.add_option("--relay", o.relay, "non-local recipients: deny (550 5.7.1) or open")
      ->check(CLI::IsMember({"deny", "open"}))
      ->capture_default_str();
  app.add_flag("--reject-null-sender", o.policy.reject_null_sender, "refuse MAIL FROM:<>");
  app.add_flag("--loop-check", o.policy.loop_check,
               "554 5.4.6 when Delivered-To already names the recipient");
  app.add_option("--hostname", o.smtp.hostname, "name in the greeting")->capture_default_str();
  app.add_option("--max-message", o.smtp.max_message, "SIZE limit in octets")
      ->capture_default_str();
  app.add_option("--max-rcpts", o.smtp.max_rcpts, "recipients per transaction")
      ->capture_default_str();
  app.add_option("--max-errors", o.smtp.max_errors, "protocol errors before 421")
      ->capture_default_str();
  app.add_flag("--reject-bare-lf", o.smtp.reject_bare_lf,
               "521 5.5.2 and close at a bare LF in a command or in DATA (default: recorded; "
               "DATA ends only on CRLF.CRLF either way)");
  app.add_option("--max-sessions", o.max_sessions,
                 "concurrent connections; more get 421 4.3.2 and a session record")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--journal-mode", o.journal_mode,
                 "octal mode of journal, session and message files (0644: readable by all)")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "I/O threads (default: half the CPUs, at most 4)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--tls-cert", o.tls_cert, "PEM certificate for STARTTLS");
  app.add_option("--tls-key", o.tls_key, "PEM private key for STARTTLS");
  app.add_flag("--tls-self-signed", o.tls_self_signed,
               "offer STARTTLS with a generated certificate");
  app.add_flag("--fsync", o.fsync, "journal (and message files) on disk before each reply");
  app.add_flag("--allow-non-loopback", o.allow_non_loopback,
               "permit a --listen address outside 127.0.0.0/8 and ::1");
  app.add_option("--fault-connect", o.policy.faults.connect_code, "greeting code (421, 554)");
  app.add_option("--fault-rcpt", o.rcpt_fault, "K:CODE - the K-th RCPT of a transaction fails");
  app.add_option("--fault-data", o.policy.faults.data_fail_code, "reply code to DATA/BDAT");
  app.add_option("--fault-data-end", o.policy.faults.data_end_fail_code,
                 "reply code after the message");
  app.add_option("--fault-disconnect-data", o.disconnect_after,
                 "close after N octets of a message, without reply")
      ->each([&](const std::string&) { o.disconnect_set = true; });
  app.add_option("--fault-reply-rate", o.policy.faults.reply_rate, "reply bytes per second");
  app.add_option("--fault-delay", o.delays,
                 "STAGE:MS - wait before each reply of STAGE (greeting, mail, rcpt, data, "
                 "data-end, other, all); repeatable");
  app.add_option("--fault-only-transaction", o.policy.faults.only_transaction,
                 "apply RCPT, DATA and delay faults only to the N-th transaction");
  app.add_option("--idle-timeout", o.idle_seconds,
                 "seconds to wait for a command or message data (RFC 5321 4.5.3.2: >= 5 min)")
      ->check(CLI::Range(1u, 86'400u))
      ->capture_default_str();
  app.add_option("--transaction-timeout", o.transaction_seconds,
                 "seconds from MAIL to the end of its message (a trickling client is cut)")
      ->check(CLI::Range(1u, 86'400u))
      ->capture_default_str();
  app.add_option("--http", o.http_listen,
                 "address:port of the page and REST API over the journal (README.md: REST API)");
  app.add_option("--http-max-sessions", o.http_max_sessions,
                 "concurrent HTTP connections (event streams included); more get 503")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000}))
      ->capture_default_str();
  app.add_option("--http-max-messages", o.view_limits.max_items,
                 "records the page and API hold (older ones leave the view, not the journal)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}))
      ->capture_default_str();
}

unsigned parse_file_mode(const std::string& journal_mode) {
  unsigned file_mode = 0;
  const char* first = journal_mode.data();
  const char* last = first + journal_mode.size();
  const auto [end, ec] = std::from_chars(first, last, file_mode, 8);
  if (ec != std::errc() || end != last || first == last || file_mode > 0777)
    throw Exit{kExitConfig, "--journal-mode wants an octal mode such as 0600 or 0644"};
  return file_mode;
}

// --fault-delay STAGE:MS into the policy.
void apply_delay(fake_smtp::Policy& policy, const std::string& d) {
  const auto colon = d.find(':');
  const std::string stage = d.substr(0, colon);
  const auto which = fake_smtp::reply_stage_from_name(stage);
  long long ms = -1;
  if (colon != std::string::npos) {
    const char* first = d.data() + colon + 1;
    const char* last = d.data() + d.size();
    const auto [end, ec] = std::from_chars(first, last, ms);
    if (ec != std::errc() || end != last || first == last) ms = -1;
  }
  if ((!which && stage != "all") || ms < 0 || ms > 3'600'000)
    throw Exit{kExitConfig,
               "--fault-delay wants STAGE:MS with STAGE one of greeting, mail, rcpt, data, "
               "data-end, other, all and 0 <= MS <= 3600000, e.g. data-end:30000"};
  for (std::size_t i = 0; i < policy.faults.reply_delay.size(); ++i)
    if (!which || static_cast<std::size_t>(*which) == i)
      policy.faults.reply_delay[i] = std::chrono::milliseconds(ms);
}

// The policy's timeouts and faults from their flags.
void apply_policy_flags(Options& o) {
  fake_smtp::Policy& policy = o.policy;
  policy.transaction_timeout = std::chrono::seconds(o.transaction_seconds);
  policy.relay = o.relay == "open" ? fake_smtp::RelayMode::open : fake_smtp::RelayMode::deny;
  policy.idle_timeout = std::chrono::seconds(o.idle_seconds);
  if (o.disconnect_set) policy.faults.disconnect_after_data_octets = o.disconnect_after;
  if (!o.rcpt_fault.empty()) {
    const std::string& rcpt_fault = o.rcpt_fault;
    const auto colon = rcpt_fault.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("missing ':'");
      policy.faults.rcpt_fail_at = std::stoul(rcpt_fault.substr(0, colon));
      policy.faults.rcpt_fail_code = std::stoi(rcpt_fault.substr(colon + 1));
    } catch (const std::exception&) {
      throw Exit{kExitConfig, "--fault-rcpt wants K:CODE, e.g. 2:451"};
    }
  }
  for (const auto& d : o.delays) apply_delay(policy, d);
  if (o.tls_cert.empty() != o.tls_key.empty())
    throw Exit{kExitConfig, "--tls-cert and --tls-key go together"};
}

// A listening address from its flag; outside loopback only with --allow-non-loopback.
net::tcp::endpoint checked_endpoint(const Options& o, const std::string& flag,
                                    const std::string& text, const std::string& refused) {
  net::tcp::endpoint ep;
  try {
    ep = net::parse_endpoint(text);
  } catch (const std::invalid_argument& e) {
    throw Exit{kExitConfig, flag + ": " + e.what()};
  }
  if (!net::is_loopback(ep) && !o.allow_non_loopback)
    throw Exit{kExitConfig, refused + " " + text + " (use --allow-non-loopback)"};
  return ep;
}

net::ServerOptions server_options(const Options& o) {
  net::ServerOptions options;
  options.max_sessions = o.max_sessions;
  options.busy_reply =
      "421 4.3.2 " + o.smtp.hostname + " Error: too many connections, try again later\r\n";
  options.fd_limit_reply =
      "421 4.3.2 " + o.smtp.hostname + " Error: out of file descriptors, try again later\r\n";
  try {
    if (!o.tls_cert.empty())
      options.tls = net::make_server_tls_files(o.tls_cert, o.tls_key);
    else if (o.tls_self_signed)
      options.tls = net::make_server_tls(net::make_self_signed());
  } catch (const std::exception& e) {
    throw Exit{kExitConfig, std::string("TLS setup: ") + e.what()};
  }
  return options;
}

std::unique_ptr<fake_smtp::Journal> open_journal(const Options& o, unsigned file_mode) {
  std::unique_ptr<fake_smtp::Journal> journal;
  try {
    journal = std::make_unique<fake_smtp::Journal>(
        o.journal_dir, o.fsync,
        o.store == "files" ? fake_smtp::MessageStore::files : fake_smtp::MessageStore::inline_bytes,
        file_mode);
  } catch (const std::exception& e) {
    throw Exit{kExitJournal, e.what()};
  }
  journal->set_group_commit(true);  // --fsync: concurrent sessions share each fdatasync
  if (journal->recovered_torn_bytes() != 0)
    std::cerr << "event=journal-torn-tail-removed octets=" << journal->recovered_torn_bytes()
              << " path=" << journal->journal_path().string() << "\n";
  return journal;
}

std::string printable(const net::tcp::endpoint& ep) {
  const std::string addr =
      ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  return addr + ":" + std::to_string(ep.port());
}

// The I/O threads: one io_context, thread and net::Server per thread, all on one port
// (SO_REUSEPORT): the kernel spreads connections; sessions never move between threads. The
// journal is shared under its mutex (README.md: why several threads).
int serve(const Options& o, const net::tcp::endpoint& ep,
          const std::optional<net::tcp::endpoint>& http_ep, unsigned file_mode) {
  const std::size_t threads = o.threads;
  net::ServerOptions options = server_options(o);
  const auto journal = open_journal(o, file_mode);
  base::SystemClock clock;
  fake_smtp::Receiver receiver(o.policy, *journal, clock, o.smtp);
  receiver.set_starttls(options.tls != nullptr);
  std::mutex log_mutex;  // log lines come from every I/O thread
  auto log = [&](std::string_view line) {
    const std::lock_guard lock(log_mutex);
    std::cerr << line << "\n";
  };
  receiver.set_log(log);
  options.log = log;
  options.on_refused = [&receiver](const net::Peer& peer, std::string_view reason) {
    receiver.record_refused(peer, reason);
  };

  options.reuse_port = threads > 1;
  options.shared_sessions = std::make_shared<std::atomic<std::size_t>>(0);
  std::vector<std::unique_ptr<net::asio::io_context>> ios;
  std::vector<std::unique_ptr<net::Server>> servers;
  try {
    for (std::size_t i = 0; i < threads; ++i) {
      ios.push_back(std::make_unique<net::asio::io_context>(1));
      // Port 0: the first server picks the port, the others join it.
      const auto at = i == 0 ? ep : servers.front()->local_endpoint();
      servers.push_back(
          std::make_unique<net::Server>(*ios.back(), at, receiver.factory(), options));
    }
  } catch (const std::exception& e) {
    throw Exit{kExitListen, "cannot listen on " + o.listen + ": " + e.what()};
  }
  std::unique_ptr<HttpView> view;
  if (http_ep) {
    view = std::make_unique<HttpView>(o.view_limits);
    web::HttpOptions http_options;
    http_options.max_sessions = o.http_max_sessions;
    http_options.loopback_host_only = net::is_loopback(*http_ep);
    http_options.log = log;
    try {
      view->server =
          std::make_unique<web::HttpServer>(*ios.front(), *http_ep, view->store, http_options);
    } catch (const std::exception& e) {
      throw Exit{kExitListen, "cannot listen on " + o.http_listen + ": " + e.what()};
    }
    feed_view(*view, *journal, receiver, *ios.front());
  }
  auto stop_all = [&] {
    for (std::size_t i = 0; i < threads; ++i)
      net::asio::post(*ios[i], [&server = *servers[i]] { server.stop(); });
    if (view) net::asio::post(*ios.front(), [&view] { view->server->stop(); });
  };
  receiver.set_on_fatal([&](const std::string& what) {
    log(fmt::format("event=fatal error=\"{}\"", what));
    stop_all();
  });
  net::asio::signal_set signals(*ios.front(), SIGINT, SIGTERM);
  signals.async_wait([&](const net::error_code& ec, int sig) {
    if (ec) return;
    log(fmt::format("event=stop signal={}", sig));
    stop_all();
  });
  for (auto& server : servers) server->start();
  std::cout << "listening " << printable(servers.front()->local_endpoint()) << std::endl;
  if (view) {
    view->server->start();
    std::cout << "http " << printable(view->server->local_endpoint()) << std::endl;
  }
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < threads; ++i) workers.emplace_back([&io = *ios[i]] { io.run(); });
  ios.front()->run();
  for (auto& t : workers) t.join();
  signals.cancel();
  if (receiver.failed()) throw Exit{kExitJournal, "journal failure: " + receiver.fatal_error()};
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"fake-smtp: receiving SMTP/LMTP server that journals every transaction"};
  Options o;
  add_options(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitConfig;
  }
  try {
    const unsigned file_mode = parse_file_mode(o.journal_mode);
    apply_policy_flags(o);
    const auto ep = checked_endpoint(o, "--listen", o.listen, "refusing to listen on non-loopback");
    std::optional<net::tcp::endpoint> http_ep;
    if (!o.http_listen.empty())
      http_ep =
          checked_endpoint(o, "--http", o.http_listen, "refusing to serve HTTP on non-loopback");
    return serve(o, ep, http_ep, file_mode);
  } catch (const Exit& e) {
    std::cerr << "fake-smtp: " << e.message << "\n";
    return e.code;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fake-smtp: " << e.what() << "\n";
    return 1;
  }
}
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

int run(int argc, char** argv) {
  CLI::App app{"fake-smtp: receiving SMTP/LMTP server that journals every transaction"};
  std::string listen = "127.0.0.1:2525";
  std::string journal_dir;
  bool allow_non_loopback = false;
  bool fsync = false;
  std::string relay = "deny";
  std::string tls_cert, tls_key;
  bool tls_self_signed = false;
  fake_smtp::Policy policy;
  protocol::SmtpServerConfig smtp;
  smtp.hostname = "fake-smtp.test";
  std::string rcpt_fault;
  std::size_t disconnect_after = 0;
  bool disconnect_set = false;
  std::size_t max_sessions = 64;
  // Half the CPUs (at most 4): the other half is for the fetcher or client under test; on a
  // 2-CPU machine a second I/O thread only competes with the client (bench/README.md).
  std::size_t threads = std::clamp<std::size_t>(std::thread::hardware_concurrency() / 2, 1, 4);

  app.add_option("--listen", listen, "address:port to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--journal", journal_dir, "journal directory (journal.jsonl)")->required();
  std::string store = "inline";
  app.add_option("--store", store,
                 "message bytes: inline (in the journal record) or files (DIR/messages/<sha256>.eml)")
      ->check(CLI::IsMember({"inline", "files"}))
      ->capture_default_str();
  app.add_option("--local-domain", policy.local_domains, "a local domain (repeatable)")->required();
  app.add_option("--user", policy.users,
                 "a known user: local part or local@domain (repeatable; none = any user)");
  app.add_option("--catch-all", policy.catch_all, "mailbox for unknown local users");
  app.add_flag("--lmtp", policy.lmtp, "speak LMTP (RFC 2033) instead of SMTP");
  app.add_option("--relay", relay, "non-local recipients: deny (550 5.7.1) or open")
      ->check(CLI::IsMember({"deny", "open"}))
      ->capture_default_str();
  app.add_flag("--reject-null-sender", policy.reject_null_sender, "refuse MAIL FROM:<>");
  app.add_flag("--loop-check", policy.loop_check,
               "554 5.4.6 when Delivered-To already names the recipient");
  app.add_option("--hostname", smtp.hostname, "name in the greeting")->capture_default_str();
  app.add_option("--max-message", smtp.max_message, "SIZE limit in octets")->capture_default_str();
  app.add_option("--max-rcpts", smtp.max_rcpts, "recipients per transaction")
      ->capture_default_str();
  app.add_option("--max-errors", smtp.max_errors, "protocol errors before 421")
      ->capture_default_str();
  app.add_flag("--reject-bare-lf", smtp.reject_bare_lf,
               "521 5.5.2 and close at a bare LF in a command or in DATA (default: recorded; "
               "DATA ends only on CRLF.CRLF either way)");
  app.add_option("--max-sessions", max_sessions,
                 "concurrent connections; more get 421 4.3.2 and a session record")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  std::string journal_mode = "0600";
  app.add_option("--journal-mode", journal_mode,
                 "octal mode of journal, session and message files (0644: readable by all)")
      ->capture_default_str();
  app.add_option("--threads", threads, "I/O threads (default: half the CPUs, at most 4)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--tls-cert", tls_cert, "PEM certificate for STARTTLS");
  app.add_option("--tls-key", tls_key, "PEM private key for STARTTLS");
  app.add_flag("--tls-self-signed", tls_self_signed, "offer STARTTLS with a generated certificate");
  app.add_flag("--fsync", fsync, "journal (and message files) on disk before each reply");
  app.add_flag("--allow-non-loopback", allow_non_loopback,
               "permit a --listen address outside 127.0.0.0/8 and ::1");
  app.add_option("--fault-connect", policy.faults.connect_code, "greeting code (421, 554)");
  app.add_option("--fault-rcpt", rcpt_fault, "K:CODE - the K-th RCPT of a transaction fails");
  app.add_option("--fault-data", policy.faults.data_fail_code, "reply code to DATA/BDAT");
  app.add_option("--fault-data-end", policy.faults.data_end_fail_code,
                 "reply code after the message");
  app.add_option("--fault-disconnect-data", disconnect_after,
                 "close after N octets of a message, without reply")
      ->each([&](const std::string&) { disconnect_set = true; });
  app.add_option("--fault-reply-rate", policy.faults.reply_rate, "reply bytes per second");
  std::vector<std::string> delays;
  app.add_option("--fault-delay", delays,
                 "STAGE:MS - wait before each reply of STAGE (greeting, mail, rcpt, data, "
                 "data-end, other, all); repeatable");
  app.add_option("--fault-only-transaction", policy.faults.only_transaction,
                 "apply RCPT, DATA and delay faults only to the N-th transaction");
  unsigned idle_seconds = 300;
  app.add_option("--idle-timeout", idle_seconds,
                 "seconds to wait for a command or message data (RFC 5321 4.5.3.2: >= 5 min)")
      ->check(CLI::Range(1u, 86'400u))
      ->capture_default_str();
  unsigned transaction_seconds = 600;
  app.add_option("--transaction-timeout", transaction_seconds,
                 "seconds from MAIL to the end of its message (a trickling client is cut)")
      ->check(CLI::Range(1u, 86'400u))
      ->capture_default_str();
  std::string http_listen;
  app.add_option("--http", http_listen,
                 "address:port of the page and REST API over the journal (README.md: REST API)");
  std::size_t http_max_sessions = 16;
  app.add_option("--http-max-sessions", http_max_sessions,
                 "concurrent HTTP connections (event streams included); more get 503")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000}))
      ->capture_default_str();
  web::StoreLimits view_limits;
  app.add_option("--http-max-messages", view_limits.max_items,
                 "records the page and API hold (older ones leave the view, not the journal)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitConfig;
  }
  unsigned file_mode = 0;
  {
    const char* first = journal_mode.data();
    const char* last = first + journal_mode.size();
    const auto [end, ec] = std::from_chars(first, last, file_mode, 8);
    if (ec != std::errc() || end != last || first == last || file_mode > 0777) {
      std::cerr << "fake-smtp: --journal-mode wants an octal mode such as 0600 or 0644\n";
      return kExitConfig;
    }
  }
  policy.transaction_timeout = std::chrono::seconds(transaction_seconds);

  policy.relay = relay == "open" ? fake_smtp::RelayMode::open : fake_smtp::RelayMode::deny;
  policy.idle_timeout = std::chrono::seconds(idle_seconds);
  if (disconnect_set) policy.faults.disconnect_after_data_octets = disconnect_after;
  if (!rcpt_fault.empty()) {
    const auto colon = rcpt_fault.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("missing ':'");
      policy.faults.rcpt_fail_at = std::stoul(rcpt_fault.substr(0, colon));
      policy.faults.rcpt_fail_code = std::stoi(rcpt_fault.substr(colon + 1));
    } catch (const std::exception&) {
      std::cerr << "fake-smtp: --fault-rcpt wants K:CODE, e.g. 2:451\n";
      return kExitConfig;
    }
  }
  for (const auto& d : delays) {
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
    if ((!which && stage != "all") || ms < 0 || ms > 3'600'000) {
      std::cerr << "fake-smtp: --fault-delay wants STAGE:MS with STAGE one of greeting, mail, "
                   "rcpt, data, data-end, other, all and 0 <= MS <= 3600000, e.g. data-end:30000\n";
      return kExitConfig;
    }
    for (std::size_t i = 0; i < policy.faults.reply_delay.size(); ++i)
      if (!which || static_cast<std::size_t>(*which) == i)
        policy.faults.reply_delay[i] = std::chrono::milliseconds(ms);
  }
  if (tls_cert.empty() != tls_key.empty()) {
    std::cerr << "fake-smtp: --tls-cert and --tls-key go together\n";
    return kExitConfig;
  }

  net::tcp::endpoint ep;
  try {
    ep = net::parse_endpoint(listen);
  } catch (const std::invalid_argument& e) {
    std::cerr << "fake-smtp: --listen: " << e.what() << "\n";
    return kExitConfig;
  }
  if (!net::is_loopback(ep) && !allow_non_loopback) {
    std::cerr << "fake-smtp: refusing to listen on non-loopback " << listen
              << " (use --allow-non-loopback)\n";
    return kExitConfig;
  }

  std::optional<net::tcp::endpoint> http_ep;
  if (!http_listen.empty()) {
    try {
      http_ep = net::parse_endpoint(http_listen);
    } catch (const std::invalid_argument& e) {
      std::cerr << "fake-smtp: --http: " << e.what() << "\n";
      return kExitConfig;
    }
    if (!net::is_loopback(*http_ep) && !allow_non_loopback) {
      std::cerr << "fake-smtp: refusing to serve HTTP on non-loopback " << http_listen
                << " (use --allow-non-loopback)\n";
      return kExitConfig;
    }
  }

  net::ServerOptions options;
  options.max_sessions = max_sessions;
  options.busy_reply =
      "421 4.3.2 " + smtp.hostname + " Error: too many connections, try again later\r\n";
  options.fd_limit_reply =
      "421 4.3.2 " + smtp.hostname + " Error: out of file descriptors, try again later\r\n";
  try {
    if (!tls_cert.empty())
      options.tls = net::make_server_tls_files(tls_cert, tls_key);
    else if (tls_self_signed)
      options.tls = net::make_server_tls(net::make_self_signed());
  } catch (const std::exception& e) {
    std::cerr << "fake-smtp: TLS setup: " << e.what() << "\n";
    return kExitConfig;
  }

  std::unique_ptr<fake_smtp::Journal> journal;
  try {
    journal = std::make_unique<fake_smtp::Journal>(journal_dir, fsync,
                                                   store == "files"
                                                       ? fake_smtp::MessageStore::files
                                                       : fake_smtp::MessageStore::inline_bytes,
                                                   file_mode);
  } catch (const std::exception& e) {
    std::cerr << "fake-smtp: " << e.what() << "\n";
    return kExitJournal;
  }
  journal->set_group_commit(true);  // --fsync: concurrent sessions share each fdatasync
  if (journal->recovered_torn_bytes() != 0)
    std::cerr << "event=journal-torn-tail-removed octets=" << journal->recovered_torn_bytes()
              << " path=" << journal->journal_path().string() << "\n";

  base::SystemClock clock;
  fake_smtp::Receiver receiver(policy, *journal, clock, smtp);
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

  // One io_context, thread and net::Server per I/O thread, all on one port (SO_REUSEPORT):
  // the kernel spreads connections; sessions never move between threads.
  options.reuse_port = threads > 1;
  options.shared_sessions = std::make_shared<std::atomic<std::size_t>>(0);
  std::vector<std::unique_ptr<net::asio::io_context>> ios;
  std::vector<std::unique_ptr<net::Server>> servers;
  try {
    for (std::size_t i = 0; i < threads; ++i) {
      ios.push_back(std::make_unique<net::asio::io_context>(1));
      // Port 0: the first server picks the port, the others join it.
      const auto at = i == 0 ? ep : servers.front()->local_endpoint();
      servers.push_back(std::make_unique<net::Server>(*ios.back(), at, receiver.factory(), options));
    }
  } catch (const std::exception& e) {
    std::cerr << "fake-smtp: cannot listen on " << listen << ": " << e.what() << "\n";
    return kExitListen;
  }
  std::unique_ptr<HttpView> view;
  if (http_ep) {
    view = std::make_unique<HttpView>(view_limits);
    web::HttpOptions http_options;
    http_options.max_sessions = http_max_sessions;
    http_options.loopback_host_only = net::is_loopback(*http_ep);
    http_options.log = log;
    try {
      view->server = std::make_unique<web::HttpServer>(*ios.front(), *http_ep, view->store,
                                                       http_options);
    } catch (const std::exception& e) {
      std::cerr << "fake-smtp: cannot listen on " << http_listen << ": " << e.what() << "\n";
      return kExitListen;
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
  const auto local = servers.front()->local_endpoint();
  const std::string addr = local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                                   : local.address().to_string();
  std::cout << "listening " << addr << ":" << local.port() << std::endl;
  if (view) {
    view->server->start();
    const auto h = view->server->local_endpoint();
    const std::string haddr =
        h.address().is_v6() ? "[" + h.address().to_string() + "]" : h.address().to_string();
    std::cout << "http " << haddr << ":" << h.port() << std::endl;
  }
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < threads; ++i) workers.emplace_back([&io = *ios[i]] { io.run(); });
  ios.front()->run();
  for (auto& t : workers) t.join();
  signals.cancel();
  if (receiver.failed()) {
    std::cerr << "fake-smtp: journal failure: " << receiver.fatal_error() << "\n";
    return kExitJournal;
  }
  return 0;
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

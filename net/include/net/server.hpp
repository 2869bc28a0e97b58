#pragma once
// A listener that accepts and spawns one coroutine per connection; each connection drives a
// sans-I/O ProtocolSession: bytes in, replies out. stop() closes acceptor and sessions.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "net/asio.hpp"

namespace dropcheck::net {

class Connection;

struct Peer {
  std::string address;
  std::uint16_t port = 0;
  bool tls = false;  // implicit TLS (POP3S) listener
};

// The protocol logic of one connection, free of I/O. The server writes start(), then feeds
// received bytes to receive() and writes what it appended to `out`, until closing().
class ProtocolSession {
 public:
  virtual ~ProtocolSession() = default;
  virtual std::string start() = 0;
  virtual void receive(std::string_view in, std::string& out) = 0;
  // After the pending output is written: close the connection.
  virtual bool closing() const = 0;
  // After the pending output is written: perform a server TLS handshake (STARTTLS/STLS).
  // Returns true once per request.
  virtual bool take_tls_request() { return false; }
  virtual void on_tls_started() {}
  // Once, at the end: "closed", "peer-closed", "timeout", "tls-failed", "shutdown", "io-error".
  // Returns bytes to try to send before closing (e.g. "421 timeout"), may be empty.
  virtual std::string finish(std::string_view reason) = 0;
  virtual std::chrono::milliseconds idle_timeout() const { return std::chrono::minutes(5); }
  // An absolute deadline for the input awaited that arriving octets do not move (InputDeadlines:
  // a command, a transaction): a client trickling one octet at a time is cut at it. The wait
  // ends as "timeout" at the earlier of it and the idle timeout. Asked before every read.
  virtual std::chrono::steady_clock::time_point input_deadline() const {
    return std::chrono::steady_clock::time_point::max();
  }
  // Throttle for the output, bytes per second (0 = unlimited). Read before each write.
  virtual std::size_t write_rate() const { return 0; }
  // Asked after start() and after every receive() that produced output: wait this long before
  // writing it (a slow server on purpose). The wait ends early when the server stops.
  virtual std::chrono::milliseconds take_reply_delay() { return std::chrono::milliseconds(0); }
  // Asked before writing the output of receive(): true when the output must wait for flush()
  // (a journal's group commit: a reply promises the record is on disk). flush() may replace
  // `out` (e.g. by a 421 when the sync failed).
  virtual bool needs_flush() const { return false; }
  virtual awaitable<void> flush(std::string& /*out*/) { co_return; }
};

using SessionFactory = std::function<std::unique_ptr<ProtocolSession>(const Peer&)>;

// Why a connection was refused before it had a session (ServerOptions::on_refused).
inline constexpr std::string_view kRefusedTooMany = "too-many-sessions";
inline constexpr std::string_view kRefusedFdLimit = "fd-limit";
// Out of file descriptors (EMFILE/ENFILE) at accept: how long the listener pauses before it
// accepts again (the listening socket stays readable, so retrying at once spins a CPU).
inline constexpr std::chrono::milliseconds kAcceptBackoff{50};

struct ServerOptions {
  std::size_t max_sessions = 64;  // concurrent connections; more get `busy_reply`
  std::string busy_reply;         // sent before closing an over-limit connection
  // Out of descriptors: a reserve descriptor is freed to accept the waiting connection, which
  // gets this reply (empty: busy_reply) and is closed; then the listener backs off.
  std::string fd_limit_reply;
  // Every connection refused (reason kRefusedTooMany or kRefusedFdLimit), after its reply: a
  // session record, never a silent close. Called on the listener's thread.
  std::function<void(const Peer&, std::string_view reason)> on_refused;
  // One key=value line per event: accept failures, once per burst and a summary at its end.
  std::function<void(std::string_view)> log;
  std::shared_ptr<ssl::context> tls;   // for STARTTLS/STLS and implicit TLS
  bool implicit_tls = false;           // handshake first (POP3S, SMTPS)
  std::size_t read_chunk = 64 * 1024;  // one read
  std::chrono::milliseconds write_timeout = std::chrono::seconds(60);
  // SO_REUSEPORT: several Servers, each on its own io_context and thread, listen on one port
  // and the kernel spreads the connections over them.
  bool reuse_port = false;
  // When set, max_sessions limits the sessions of every Server sharing this counter.
  std::shared_ptr<std::atomic<std::size_t>> shared_sessions;
};

class Server {
 public:
  Server(asio::io_context& io, const tcp::endpoint& ep, SessionFactory factory,
         ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  tcp::endpoint local_endpoint() const;
  void start();
  void stop();
  std::size_t active_sessions() const { return active_; }
  std::size_t sessions_served() const { return served_; }

 private:
  awaitable<void> accept_loop();
  awaitable<void> run_session(tcp::socket socket);
  Peer peer_of(const tcp::socket& socket) const;
  void refuse(tcp::socket socket, const std::string& reply, std::string_view reason);
  awaitable<void> on_accept_error(const error_code& ec);
  void end_accept_burst();

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  SessionFactory factory_;
  ServerOptions options_;
  std::size_t active_ = 0;
  std::size_t served_ = 0;
  bool stopped_ = false;
  std::list<class Connection*> conns_;  // live sessions, closed by stop()
  int reserve_fd_ = -1;                 // freed to accept (and refuse) at the descriptor limit
  std::size_t burst_errors_ = 0;        // accept failures since the last successful accept
  std::size_t burst_refused_ = 0;       // connections refused for want of descriptors
  std::shared_ptr<bool> alive_;
};

// Parses "127.0.0.1:2525" / "[::1]:2525". Throws std::invalid_argument with a clear message.
tcp::endpoint parse_endpoint(std::string_view text);
// True for 127.0.0.0/8 and ::1 (the only network targets allowed in this project).
bool is_loopback(const tcp::endpoint& ep);

// A self-signed certificate + key (RSA 2048, CN=localhost, SAN 127.0.0.1/localhost) in PEM.
struct PemPair {
  std::string cert;
  std::string key;
};
PemPair make_self_signed(std::string_view common_name = "localhost");
std::shared_ptr<ssl::context> make_server_tls(const PemPair& pem);
std::shared_ptr<ssl::context> make_server_tls_files(const std::string& cert_file,
                                                    const std::string& key_file);

// Spawn a coroutine; an escaping exception is logged to stderr with `what` (not swallowed).
void spawn_logged(asio::any_io_executor ex, awaitable<void> task, std::string what);

}  // namespace dropcheck::net

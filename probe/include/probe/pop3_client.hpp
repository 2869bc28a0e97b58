#pragma once
// A small coroutine POP3 client over net::Connection for the probe: one
// command, one status line; multi-line bodies through protocol::DotDecoder.
// Every command counts against a shared Budget (command count and wall clock),
// every read has a deadline and a size bound. Secret commands (PASS, APOP) are
// never echoed into an error text.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "net/connection.hpp"
#include "probe/probe.hpp"
#include "protocol/pop3_client.hpp"

namespace dropcheck::probe {

// Shared by every session of a run.
class Budget {
public:
  Budget(std::size_t max_commands, std::chrono::milliseconds run_limit)
      : max_commands_(max_commands),
        deadline_(std::chrono::steady_clock::now() + run_limit) {}
  // False (with a reason) when the next command would exceed a bound.
  bool take(std::string &why);
  bool expired() const { return std::chrono::steady_clock::now() >= deadline_; }
  std::size_t used() const { return used_; }

private:
  std::size_t max_commands_;
  std::chrono::steady_clock::time_point deadline_;
  std::size_t used_ = 0;
};

// Resolves `ep.host` (an address literal or a name) and connects to the first
// endpoint that answers. Errors go to `error`.
net::awaitable<bool> connect_to(net::Connection &c, const Endpoint &ep,
                                std::chrono::milliseconds timeout,
                                std::string &error);

// A client TLS context: verify against `ca_file` (or the system CAs), or not at
// all.
net::ssl::context make_client_tls(const std::string &ca_file, bool verify);

class Pop3Client {
public:
  Pop3Client(net::asio::any_io_executor ex, Budget &budget,
             std::chrono::milliseconds timeout);

  net::awaitable<bool> connect(const Endpoint &ep);
  // TLS handshake now (implicit TLS, or after +OK to STLS). With `verify`, the
  // certificate must chain to the CA and name `host`; SNI is sent in either
  // case.
  net::awaitable<bool> handshake(net::ssl::context &ctx,
                                 const std::string &host);
  net::awaitable<std::optional<protocol::Pop3Status>> greeting();
  // Sends `line` (CRLF added) and reads the status line. `secret`: never echoed
  // in errors.
  net::awaitable<std::optional<protocol::Pop3Status>>
  command(std::string_view line, bool secret = false);
  // The body of a multi-line response, at most `max` decoded octets.
  net::awaitable<std::optional<std::string>> multiline(std::size_t max);
  // QUIT, read the reply (ignored), close.
  net::awaitable<void> quit();
  void close() { conn_.close(); }

  bool tls() const { return conn_.tls(); }
  const std::string &error() const { return error_; }

private:
  net::awaitable<std::optional<std::string>> line();

  net::Connection conn_;
  Budget &budget_;
  std::chrono::milliseconds timeout_;
  std::string error_;
  bool open_ = false;
};

} // namespace dropcheck::probe

#pragma once
// A TCP connection that can turn into TLS midway (STARTTLS/STLS) or start as TLS, with a
// deadline on every operation. Failures are values (error_code), never exceptions.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "net/asio.hpp"

namespace dropcheck::net {

class Connection {
 public:
  explicit Connection(tcp::socket socket);
  explicit Connection(asio::any_io_executor ex);

  awaitable<void> connect(const tcp::endpoint& ep, std::chrono::milliseconds timeout,
                          error_code& ec);
  // TLS handshake on the current connection. `server_name` is the name (or address literal)
  // the certificate must match when the context verifies peers (OpenSSL's own host check, so a
  // mismatch is reported as X509_V_ERR_HOSTNAME_MISMATCH); a name is also sent as SNI (RFC
  // 6066 3: never an address literal).
  awaitable<void> handshake_server(ssl::context& ctx, std::chrono::milliseconds timeout,
                                   error_code& ec);
  awaitable<void> handshake_client(ssl::context& ctx, const std::string& server_name,
                                   std::chrono::milliseconds timeout, error_code& ec);

  // Octets received by the kernel and not read yet (TLS: still encrypted); 0 on error.
  std::size_t available() const;
  // Reads whatever is available (at least one byte) into `out` (appended), at most `max`.
  awaitable<std::size_t> read_some(std::string& out, std::size_t max,
                                   std::chrono::milliseconds timeout, error_code& ec);
  // The same into caller-owned storage (no zero-filling of a fresh buffer per read: servers
  // reuse one buffer per connection), without a deadline of its own: the caller watches the
  // time and cancel()s the read (the connection stays usable, e.g. for a "421 timeout").
  // Plain TCP reads go to the socket directly (Asio reads at once and waits only when nothing
  // is there), not through the deadline stream.
  awaitable<std::size_t> read_some(asio::mutable_buffer into, error_code& ec);
  // Cancels pending reads and writes; they complete with operation_aborted.
  void cancel();
  // Plain TCP: one non-blocking send first (a reply almost always fits the socket buffer, and
  // then the coroutine never suspends); what is left goes out asynchronously with the deadline.
  awaitable<void> write_all(std::string_view data, std::chrono::milliseconds timeout,
                            error_code& ec);

  // Buffered reading for clients: a line ending in LF (returned with its line ending), at
  // most `max` octets incl. the ending; error asio::error::message_size when longer.
  awaitable<std::string> read_line(std::size_t max, std::chrono::milliseconds timeout,
                                   error_code& ec);

  bool tls() const { return tls_ != nullptr; }
  // After a client handshake: OpenSSL's certificate verification result (X509_V_OK, or why
  // the chain or the name did not verify).
  long verify_result() const;
  tcp::endpoint remote_endpoint() const;
  void close();
  asio::any_io_executor executor() { return tcp_.get_executor(); }

 private:
  boost::beast::tcp_stream tcp_;
  std::unique_ptr<ssl::stream<boost::beast::tcp_stream&>> tls_;
  std::string rbuf_;  // bytes read ahead by read_line
};

}  // namespace dropcheck::net

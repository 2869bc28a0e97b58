#include "net/connection.hpp"

#include <cstring>

namespace dropcheck::net {

namespace {
auto with_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }
}  // namespace

Connection::Connection(tcp::socket socket) : tcp_(std::move(socket)) {}
Connection::Connection(asio::any_io_executor ex) : tcp_(ex) {}

awaitable<void> Connection::connect(const tcp::endpoint& ep, std::chrono::milliseconds timeout,
                                    error_code& ec) {
  tcp_.expires_after(timeout);
  co_await tcp_.async_connect(ep, with_ec(ec));
  if (!ec) tcp_.socket().set_option(tcp::no_delay(true), ec);
}

std::size_t Connection::available() const {
  error_code ec;
  const std::size_t n = tcp_.socket().available(ec);
  return ec ? 0 : n;
}

awaitable<void> Connection::handshake_server(ssl::context& ctx, std::chrono::milliseconds timeout,
                                             error_code& ec) {
  tls_ = std::make_unique<ssl::stream<boost::beast::tcp_stream&>>(tcp_, ctx);
  tcp_.expires_after(timeout);
  co_await tls_->async_handshake(ssl::stream_base::server, with_ec(ec));
}

awaitable<void> Connection::handshake_client(ssl::context& ctx, const std::string& server_name,
                                             std::chrono::milliseconds timeout, error_code& ec) {
  tls_ = std::make_unique<ssl::stream<boost::beast::tcp_stream&>>(tcp_, ctx);
  if (!server_name.empty()) {
    SSL* ssl = tls_->native_handle();
    error_code literal_ec;
    const auto literal = asio::ip::make_address(server_name, literal_ec);
    if (literal_ec) {
      SSL_set_tlsext_host_name(ssl, server_name.c_str());
      SSL_set1_host(ssl, server_name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), literal.to_string().c_str());
    }
  }
  tcp_.expires_after(timeout);
  co_await tls_->async_handshake(ssl::stream_base::client, with_ec(ec));
}

awaitable<std::size_t> Connection::read_some(std::string& out, std::size_t max,
                                             std::chrono::milliseconds timeout, error_code& ec) {
  if (!rbuf_.empty()) {
    const std::size_t n = std::min(max, rbuf_.size());
    out.append(rbuf_, 0, n);
    rbuf_.erase(0, n);
    co_return n;
  }
  const std::size_t old = out.size();
  out.resize(old + max);
  tcp_.expires_after(timeout);
  std::size_t n = 0;
  if (tls_) {
    n = co_await tls_->async_read_some(asio::buffer(out.data() + old, max), with_ec(ec));
  } else {
    n = co_await tcp_.async_read_some(asio::buffer(out.data() + old, max), with_ec(ec));
  }
  out.resize(old + n);
  co_return n;
}

awaitable<std::size_t> Connection::read_some(asio::mutable_buffer into, error_code& ec) {
  if (!rbuf_.empty()) {
    const std::size_t n = std::min(into.size(), rbuf_.size());
    std::memcpy(into.data(), rbuf_.data(), n);
    rbuf_.erase(0, n);
    co_return n;
  }
  if (tls_) {
    tcp_.expires_never();
    co_return co_await tls_->async_read_some(into, with_ec(ec));
  }
  // Plain TCP: the socket's own read, not the deadline stream's (no timer bookkeeping per
  // read; the caller's watch is the timeout). Asio tries the read at once and waits for
  // readiness only when nothing is there. (Reading ourselves before that was measured and
  // dropped: a client that waits for each reply never has data there, so it only added a
  // system call per read; bench/README.md.)
  co_return co_await tcp_.socket().async_read_some(into, with_ec(ec));
}

awaitable<void> Connection::write_all(std::string_view data, std::chrono::milliseconds timeout,
                                      error_code& ec) {
  if (!tls_ && !data.empty()) {
    // Plain TCP: a reply almost always fits the socket buffer, so try one non-blocking write
    // and fall back to the asynchronous write with its deadline only for what is left.
    auto& s = tcp_.socket();
    if (!s.non_blocking()) {  // Asio's own flag: reading it is no system call
      s.non_blocking(true, ec);
      if (ec) co_return;
    }
    const std::size_t n = s.write_some(asio::buffer(data), ec);
    if (ec && ec != asio::error::would_block) co_return;
    ec = {};
    data.remove_prefix(n);
    if (data.empty()) co_return;
  }
  tcp_.expires_after(timeout);
  if (tls_) {
    co_await asio::async_write(*tls_, asio::buffer(data), with_ec(ec));
  } else {
    co_await asio::async_write(tcp_, asio::buffer(data), with_ec(ec));
  }
}

awaitable<std::string> Connection::read_line(std::size_t max, std::chrono::milliseconds timeout,
                                             error_code& ec) {
  std::size_t scanned = 0;
  for (;;) {
    const auto nl = rbuf_.find('\n', scanned);
    if (nl != std::string::npos) {
      if (nl + 1 > max) {
        ec = asio::error::message_size;
        co_return std::string{};
      }
      std::string line = rbuf_.substr(0, nl + 1);
      rbuf_.erase(0, nl + 1);
      co_return line;
    }
    scanned = rbuf_.size();
    if (rbuf_.size() >= max) {
      ec = asio::error::message_size;
      co_return std::string{};
    }
    std::string chunk;
    const std::size_t want = 64 * 1024;
    chunk.resize(want);
    tcp_.expires_after(timeout);
    std::size_t n = 0;
    if (tls_) {
      n = co_await tls_->async_read_some(asio::buffer(chunk), with_ec(ec));
    } else {
      n = co_await tcp_.async_read_some(asio::buffer(chunk), with_ec(ec));
    }
    if (ec) co_return std::string{};
    rbuf_.append(chunk, 0, n);
  }
}

long Connection::verify_result() const {
  return tls_ ? SSL_get_verify_result(tls_->native_handle()) : X509_V_OK;
}

tcp::endpoint Connection::remote_endpoint() const {
  error_code ec;
  auto ep = tcp_.socket().remote_endpoint(ec);
  return ep;
}

void Connection::cancel() {
  error_code ec;
  tcp_.socket().cancel(ec);
}

void Connection::close() {
  error_code ec;
  tcp_.socket().shutdown(tcp::socket::shutdown_both, ec);
  tcp_.socket().close(ec);
}

}  // namespace dropcheck::net

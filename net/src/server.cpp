#include "net/server.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <vector>

#include "net/connection.hpp"

namespace dropcheck::net {

namespace {
auto with_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// The idle timeout of a server connection. Starting a read only moves the deadline (a clock
// read, no timer operation); the one timer per connection re-arms itself when it wakes early.
// At the deadline it cancels the pending read, so the connection stays usable for the
// session's "421 timeout" reply (a deadline on the stream itself would close the socket).
struct IdleWatch {
  explicit IdleWatch(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::milliseconds idle{0};
  Connection* conn = nullptr;  // null once the session is over
  bool reading = false;
  bool timed_out = false;
};

awaitable<void> watch_idle(std::shared_ptr<IdleWatch> w) {
  while (w->conn) {
    w->timer.expires_at(w->reading ? w->deadline : std::chrono::steady_clock::now() + w->idle);
    error_code ec;
    co_await w->timer.async_wait(with_ec(ec));
    if (!w->conn) co_return;
    if (w->reading && std::chrono::steady_clock::now() >= w->deadline) {
      w->timed_out = true;
      w->conn->cancel();
    }
  }
}
}  // namespace
// One session's output: replies (throttled to the session's write rate) and deliberate reply
// delays, both cut short by stop(). Lives in Server::run_session's frame; `ec` is the
// session's I/O error.
struct SessionIo {
  Connection& conn;
  ProtocolSession& session;
  const std::shared_ptr<bool>& alive;
  const bool& stopped;
  std::chrono::milliseconds write_timeout;
  error_code ec{};

  awaitable<void> send(std::string_view data) {
    const auto wt = write_timeout;
    const std::size_t rate = session.write_rate();
    if (rate == 0) {
      co_await conn.write_all(data, wt, ec);
      co_return;
    }
    // Throttle: write in slices of rate/10 bytes, one slice per 100 ms.
    const std::size_t slice = std::max<std::size_t>(1, rate / 10);
    asio::steady_timer timer(conn.executor());
    for (std::size_t off = 0; off < data.size() && !ec; off += slice) {
      co_await conn.write_all(data.substr(off, slice), wt, ec);
      if (off + slice < data.size()) {
        timer.expires_after(std::chrono::milliseconds(100));
        error_code tec;
        co_await timer.async_wait(with_ec(tec));
        if (!*alive || stopped) {
          ec = asio::error::operation_aborted;
        }
      }
    }
  }

  // A deliberate reply delay, waited in slices so that stop() is never held up by it.
  awaitable<void> pause(std::chrono::milliseconds d) {
    asio::steady_timer timer(conn.executor());
    const auto until = std::chrono::steady_clock::now() + d;
    while (*alive && !stopped && std::chrono::steady_clock::now() < until) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      timer.expires_after(std::min(left, std::chrono::milliseconds(100)));
      error_code tec;
      co_await timer.async_wait(with_ec(tec));
    }
    if (!*alive || stopped) ec = asio::error::operation_aborted;
  }
};

// Why a read failed, as the session's end reason.
std::string read_failure(const error_code& ec, bool timed_out, bool stopped) {
  if (ec == asio::error::operation_aborted && timed_out && !stopped) return "timeout";
  if (ec == asio::error::eof || ec == asio::error::connection_reset) return "peer-closed";
  if (ec == asio::error::operation_aborted || stopped) return "shutdown";
  return "io-error";
}

// After the greeting: read, let the session answer, reply, upgrade to TLS when it asks, until
// the session closes or I/O ends. Returns the end reason; nullopt when the server is gone
// (nothing of it may be touched then).
awaitable<std::optional<std::string>> converse(SessionIo& io, const ServerOptions& options) {
  Connection& conn = io.conn;
  ProtocolSession* session = &io.session;
  const std::shared_ptr<bool>& alive = io.alive;
  error_code& ec = io.ec;
  std::string out;
  // Not value-initialized: a 64 KiB memset per connection is measurable with one message
  // per connection (bench/fake-smtp); only the bytes a read returns are ever looked at.
  const std::unique_ptr<char[]> buf(new char[options.read_chunk]);
  auto watch = std::make_shared<IdleWatch>(conn.executor());
  watch->conn = &conn;
  watch->idle = session->idle_timeout();
  struct Detach {  // every way out of this frame ends the watch
    std::shared_ptr<IdleWatch> w;
    ~Detach() {
      w->conn = nullptr;
      w->timer.cancel();
    }
  } detach{watch};
  spawn_logged(conn.executor(), watch_idle(watch), "idle-watch");
  while (!ec && !session->closing() && *alive && !io.stopped) {
    watch->idle = session->idle_timeout();
    watch->deadline =
        std::min(std::chrono::steady_clock::now() + watch->idle, session->input_deadline());
    watch->timed_out = false;
    watch->reading = true;
    // A deadline earlier than the watch's timer (an input deadline pinned by a trickling
    // client): wake the watch so that it re-arms for it.
    if (watch->timer.expiry() > watch->deadline) watch->timer.cancel();
    const std::size_t n = co_await conn.read_some(asio::buffer(buf.get(), options.read_chunk), ec);
    watch->reading = false;
    const std::string_view in(buf.get(), n);
    if (!*alive) co_return std::nullopt;
    if (ec) co_return read_failure(ec, watch->timed_out, io.stopped);
    out.clear();
    session->receive(in, out);
    if (!out.empty()) {
      if (const auto d = session->take_reply_delay(); d.count() > 0) {
        co_await io.pause(d);
        if (!*alive) co_return std::nullopt;
        if (ec) co_return "shutdown";
      }
      if (session->needs_flush()) {
        co_await session->flush(out);
        if (!*alive) co_return std::nullopt;
      }
      co_await io.send(out);
    }
    if (ec) co_return "io-error";
    if (session->take_tls_request()) {
      if (!options.tls || conn.tls()) co_return "tls-failed";
      co_await conn.handshake_server(*options.tls, std::chrono::seconds(30), ec);
      if (ec) co_return "tls-failed";
      session->on_tls_started();
    }
  }
  co_return "closed";
}

void spawn_logged(asio::any_io_executor ex, awaitable<void> task, std::string what) {
  asio::co_spawn(ex, std::move(task), [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex2) {
      std::fprintf(stderr, "event=coroutine-exception what=%s error=\"%s\"\n", what.c_str(),
                   ex2.what());
    }
  });
}

Server::Server(asio::io_context& io, const tcp::endpoint& ep, SessionFactory factory,
               ServerOptions options)
    : io_(io),
      acceptor_(io),
      factory_(std::move(factory)),
      options_(std::move(options)),
      alive_(std::make_shared<bool>(true)) {
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  if (options_.reuse_port)
    acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  acceptor_.bind(ep);
  acceptor_.listen();
  acceptor_.non_blocking(true);  // the one synchronous accept (at the descriptor limit) never waits
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

Server::~Server() {
  stop();
  *alive_ = false;
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

tcp::endpoint Server::local_endpoint() const { return acceptor_.local_endpoint(); }

void Server::start() { spawn_logged(io_.get_executor(), accept_loop(), "accept-loop"); }

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  error_code ec;
  acceptor_.close(ec);
  for (Connection* c : conns_) c->close();
}

awaitable<void> Server::accept_loop() {
  auto alive = alive_;
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(with_ec(ec));
    if (!*alive || stopped_) co_return;
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      co_await on_accept_error(ec);
      if (!*alive || stopped_) co_return;
      continue;
    }
    end_accept_burst();
    const std::size_t active =
        options_.shared_sessions ? options_.shared_sessions->load() : active_;
    if (active >= options_.max_sessions) {
      refuse(std::move(socket), options_.busy_reply, kRefusedTooMany);
      continue;
    }
    spawn_logged(io_.get_executor(), run_session(std::move(socket)), "session");
  }
}

Peer Server::peer_of(const tcp::socket& socket) const {
  Peer peer;
  error_code ec;
  const auto ep = socket.remote_endpoint(ec);
  if (!ec) {
    peer.address = ep.address().to_string();
    peer.port = ep.port();
  }
  peer.tls = options_.implicit_tls;
  return peer;
}

void Server::refuse(tcp::socket socket, const std::string& reply, std::string_view reason) {
  error_code ec;
  const Peer peer = peer_of(socket);
  // A fresh socket's send buffer takes a one-line reply at once (a TLS listener's peer gets
  // no reply: it expects a handshake, and the record below still says why it was closed).
  if (!reply.empty() && !options_.implicit_tls) asio::write(socket, asio::buffer(reply), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  if (options_.on_refused) options_.on_refused(peer, reason);
}

// EMFILE/ENFILE (and ENOBUFS/ENOMEM): the waiting connection stays in the backlog and the
// listening socket stays readable, so accepting again at once spins a CPU. Free the reserve
// descriptor to take that connection and refuse it with a reply; pause when that fails. Logged once
// per burst; end_accept_burst() logs the summary. Other errors (ECONNABORTED: the peer gave up
// while queued) are only counted.
awaitable<void> Server::on_accept_error(const error_code& ec) {
  const bool no_fds = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                      ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
  error_code lec;
  if (burst_errors_++ == 0 && options_.log)
    options_.log(fmt::format("event=accept-failed listen={} error=\"{}\" action={}",
                             fmt::streamed(acceptor_.local_endpoint(lec)), ec.message(),
                             no_fds ? "refuse-with-reserve-descriptor" : "retry"));
  if (!no_fds) co_return;
  if (reserve_fd_ >= 0) {
    ::close(reserve_fd_);
    reserve_fd_ = -1;
  }
  error_code aec;
  tcp::socket socket(io_);
  acceptor_.accept(socket, aec);
  if (!aec) {
    ++burst_refused_;
    refuse(std::move(socket),
           options_.fd_limit_reply.empty() ? options_.busy_reply : options_.fd_limit_reply,
           kRefusedFdLimit);
  }
  if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  // Progress (one waiting connection answered, the reserve back): the next accept either
  // takes a connection or waits for one, so no pause. Without the reserve nothing can be
  // answered, and retrying at once would spin.
  if (!aec && reserve_fd_ >= 0) co_return;
  asio::steady_timer pause(io_);
  pause.expires_after(kAcceptBackoff);
  error_code tec;
  co_await pause.async_wait(with_ec(tec));
}

void Server::end_accept_burst() {
  if (burst_errors_ == 0) return;
  error_code lec;
  if (options_.log)
    options_.log(fmt::format("event=accept-recovered listen={} failures={} refused={}",
                             fmt::streamed(acceptor_.local_endpoint(lec)), burst_errors_,
                             burst_refused_));
  burst_errors_ = 0;
  burst_refused_ = 0;
  if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}
awaitable<void> Server::run_session(tcp::socket socket) {
  auto alive = alive_;
  ++active_;
  ++served_;
  if (options_.shared_sessions) ++*options_.shared_sessions;
  const Peer peer = peer_of(socket);
  Connection conn(std::move(socket));
  conns_.push_front(&conn);
  const auto tracked = conns_.begin();
  std::unique_ptr<ProtocolSession> session = factory_(peer);
  SessionIo io{conn, *session, alive, stopped_, options_.write_timeout};
  std::string reason = "closed";
  error_code& ec = io.ec;
  if (options_.implicit_tls) {
    if (!options_.tls) {
      reason = "tls-failed";
    } else {
      co_await conn.handshake_server(*options_.tls, std::chrono::seconds(30), ec);
      if (ec) reason = "tls-failed";
    }
  }
  if (reason == "closed") {
    std::string out = session->start();
    if (const auto d = session->take_reply_delay(); d.count() > 0) co_await io.pause(d);
    if (ec) reason = "shutdown";
    if (!out.empty() && !ec) co_await io.send(out);
    if (!ec) {
      const std::optional<std::string> end = co_await converse(io, options_);
      if (!end) co_return;
      reason = *end;
    }
  }
  if (!*alive) co_return;
  conns_.erase(tracked);
  std::string last = session->finish(reason);
  if (!last.empty() && reason != "peer-closed" && reason != "io-error") {
    error_code wec;
    co_await conn.write_all(last, std::chrono::seconds(2), wec);
  }
  conn.close();
  --active_;
  if (options_.shared_sessions) --*options_.shared_sessions;
}

tcp::endpoint parse_endpoint(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw std::invalid_argument(fmt::format("bad endpoint '{}': want [ADDR]:PORT", text));
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument(fmt::format("bad endpoint '{}': want ADDR:PORT", text));
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument(fmt::format("bad address '{}' in '{}'", host, text));
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(std::string(port_text), &used);
    if (used != port_text.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw std::invalid_argument(fmt::format("bad port '{}' in '{}'", port_text, text));
  }
  if (port > 65535) throw std::invalid_argument(fmt::format("port out of range in '{}'", text));
  return {addr, static_cast<unsigned short>(port)};
}

bool is_loopback(const tcp::endpoint& ep) { return ep.address().is_loopback(); }

PemPair make_self_signed(std::string_view common_name) {
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  if (!pkey) throw std::runtime_error("EVP_RSA_gen failed");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_set_version(x, 2);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 60L * 60 * 24 * 365);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  const std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  const std::string san = "DNS:" + cn + ",DNS:localhost,IP:127.0.0.1,IP:::1";
  if (X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str())) {
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_EXTENSION* ext =
          X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE")) {
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, pkey, EVP_sha256());
  PemPair out;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  out.cert.assign(p, static_cast<std::size_t>(n));
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  n = BIO_get_mem_data(b, &p);
  out.key.assign(p, static_cast<std::size_t>(n));
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return out;
}

std::shared_ptr<ssl::context> make_server_tls(const PemPair& pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx->use_certificate_chain(asio::buffer(pem.cert));
  ctx->use_private_key(asio::buffer(pem.key), ssl::context::pem);
  return ctx;
}

std::shared_ptr<ssl::context> make_server_tls_files(const std::string& cert_file,
                                                    const std::string& key_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  try {
    ctx->use_certificate_chain_file(cert_file);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("cannot load certificate {}: {}", cert_file, e.what()));
  }
  try {
    ctx->use_private_key_file(key_file, ssl::context::pem);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("cannot load key {}: {}", key_file, e.what()));
  }
  return ctx;
}

}  // namespace dropcheck::net

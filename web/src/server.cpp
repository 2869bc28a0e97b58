#include "web/server.hpp"

#include <fmt/format.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/server.hpp"

namespace dropcheck::web {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using net::asio::redirect_error;
using net::asio::use_awaitable;

class HttpServer::Session {
 public:
  explicit Session(net::tcp::socket socket)
      : stream(std::move(socket)), wake(stream.get_executor()) {}
  beast::tcp_stream stream;
  net::asio::steady_timer wake;  // an event stream's wait: notify() and stop() cancel it
};

namespace {

// Request faults answered before closing (the parser's limits).
int status_for(const net::error_code& ec) {
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) return 431;
  if (ec == http::error::body_limit) return 413;
  return 400;
}

std::string plain_reply(int status, std::string_view reason) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: "
      "close\r\n\r\n{}\n",
      status, reason, reason.size() + 1, reason);
}

http::response<http::string_body> to_beast(const Response& r,
                                           const http::request<http::string_body>& req) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.keep_alive(req.keep_alive());
  res.content_length(r.body.size());
  if (req.method() != http::verb::head) res.body() = r.body;
  return res;
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    const std::size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    name = name.substr(1, close - 1);
  } else {
    name = name.substr(0, name.find(':'));
  }
  if (name == "localhost") return true;
  net::error_code ec;
  const auto addr = net::asio::ip::make_address(std::string(name), ec);
  return !ec && addr.is_loopback();
}

HttpServer::HttpServer(net::asio::io_context& io, const net::tcp::endpoint& ep, Store& store,
                       HttpOptions options)
    : io_(io), acceptor_(io, ep), store_(store), options_(std::move(options)) {}

HttpServer::~HttpServer() { *alive_ = false; }

void HttpServer::start() { net::spawn_logged(io_.get_executor(), accept_loop(), "http-accept"); }

void HttpServer::stop() {
  stopped_ = true;
  net::error_code ec;
  acceptor_.close(ec);
  for (Session* s : sessions_) {
    s->wake.cancel();
    s->stream.socket().close(ec);
  }
}

void HttpServer::notify() {
  for (Session* s : sessions_) s->wake.cancel();
}

void HttpServer::refuse(net::tcp::socket socket) {
  const std::string reply = plain_reply(503, "too many connections");
  net::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(net::asio::buffer(reply), ec);  // best effort, never blocks
  socket.close(ec);
  if (options_.log) options_.log("event=http-refused reason=too-many-sessions");
}

net::awaitable<void> HttpServer::accept_loop() {
  while (!stopped_) {
    net::error_code ec;
    auto socket = co_await acceptor_.async_accept(redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopped_ || ec == net::asio::error::operation_aborted) co_return;
      continue;  // a connection that failed before it was accepted (ECONNABORTED, EMFILE)
    }
    if (active_ >= options_.max_sessions) {
      refuse(std::move(socket));
      continue;
    }
    ++active_;
    net::spawn_logged(io_.get_executor(), run_session(std::move(socket)), "http-session");
  }
}

namespace {

using Parser = http::request_parser<http::string_body>;

// One request under the idle deadline. The header first: its octet count is exact here
// (Beast's own header_limit is not; the buffer's maximum bounds the memory either way).
net::awaitable<void> read_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                  Parser& parser, std::chrono::milliseconds timeout,
                                  net::error_code& ec) {
  parser.header_limit(kMaxRequestHeaderOctets + 1);
  parser.body_limit(kMaxRequestBodyOctets);
  stream.expires_after(timeout);
  const std::size_t header_octets =
      co_await http::async_read_header(stream, buffer, parser, redirect_error(use_awaitable, ec));
  if (!ec && header_octets > kMaxRequestHeaderOctets) ec = http::error::header_limit;
  if (!ec && !parser.is_done())
    co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
}

bool is_event_stream(const http::request<http::string_body>& req) {
  const auto target = req.target();
  return req.method() == http::verb::get &&
         target_path(std::string_view(target.data(), target.size())) == "/api/events";
}

}  // namespace

// Registers a session for stop() and notify() and the count, for as long as it lives (also
// when its coroutine ends by an exception, or its frame is destroyed with the io_context after
// the server: then there is nothing left to deregister from).
class HttpServer::Registration {
 public:
  Registration(HttpServer& server, Session& s) : server_(server), alive_(server.alive_) {
    server_.sessions_.push_back(&s);
    it_ = std::prev(server_.sessions_.end());
  }
  ~Registration() {
    if (!*alive_) return;
    server_.sessions_.erase(it_);
    --server_.active_;
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  HttpServer& server_;
  std::shared_ptr<bool> alive_;
  std::list<Session*>::iterator it_;
};

Response HttpServer::answer(const http::request<http::string_body>& req) {
  if (options_.loopback_host_only && !is_loopback_host(std::string(req[http::field::host])))
    return Response{403, "text/plain", "Host must name a loopback address\n", {}};
  Response r = handle(store_, Request{std::string(req.method_string()), std::string(req.target())},
                      options_.page);
  if (req.method() == http::verb::delete_ && r.status == 200) {
    if (options_.log)
      options_.log(
          fmt::format("event=http-delete-all deleted_through={}", store_.deleted_through()));
    notify();
  }
  return r;
}

net::awaitable<void> HttpServer::run_session(net::tcp::socket socket) {
  Session s(std::move(socket));
  const Registration registration(*this, s);
  beast::flat_buffer buffer(kMaxRequestHeaderOctets + kMaxRequestBodyOctets);
  while (!stopped_) {
    Parser parser;
    net::error_code ec;
    co_await read_request(s.stream, buffer, parser, options_.idle_timeout, ec);
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || stopped_) break;
    if (ec) {  // malformed or oversized: a precise status, then close (best effort)
      const int status = status_for(ec);
      const std::string reply =
          plain_reply(status, status == 400 ? "bad request" : "request too large");
      s.stream.expires_after(options_.write_timeout);
      co_await net::asio::async_write(s.stream, net::asio::buffer(reply),
                                      redirect_error(use_awaitable, ec));
      break;
    }
    const auto& req = parser.get();
    if (is_event_stream(req) &&
        (!options_.loopback_host_only || is_loopback_host(std::string(req[http::field::host])))) {
      co_await serve_events(s);
      break;
    }
    auto res = to_beast(answer(req), req);
    s.stream.expires_after(options_.write_timeout);
    co_await http::async_write(s.stream, res, redirect_error(use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  net::error_code ignored;
  s.stream.socket().shutdown(net::tcp::socket::shutdown_send, ignored);
  s.stream.close();
}

net::awaitable<void> HttpServer::serve_events(Session& s) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\nretry: 2000\n\n";
  std::uint64_t sent = store_.last_id();
  std::uint64_t generation = store_.generation();
  while (!stopped_) {
    if (generation != store_.generation()) {
      generation = store_.generation();
      sent = store_.last_id();
      out +=
          sse_event("reset", fmt::format("{{\"deleted_through\":{}}}", store_.deleted_through()));
    }
    for (const Item& item : store_.items())
      if (item.id > sent) out += sse_event("added", fmt::format("{{\"id\":{}}}", item.id));
    sent = store_.last_id();
    if (out.empty()) out = ": heartbeat\n\n";
    net::error_code ec;
    s.stream.expires_after(options_.write_timeout);
    co_await net::asio::async_write(s.stream, net::asio::buffer(out),
                                    redirect_error(use_awaitable, ec));
    out.clear();
    if (ec) co_return;
    s.wake.expires_after(options_.heartbeat);
    co_await s.wake.async_wait(redirect_error(use_awaitable, ec));
  }
}

}  // namespace dropcheck::web

// web/server.hpp on 127.0.0.1:0: limits, Host check, event stream. Bounded run_for, no sleeps.
#include "web/server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include "net/connection.hpp"

namespace dropcheck::web {
namespace {

fake_smtp::RcptRecord rcpt(std::string address, int code, std::string reply = {}) {
  fake_smtp::RcptRecord r;
  r.address = std::move(address);
  r.code = code;
  r.reply = std::move(reply);
  return r;
}

HttpOptions with(std::chrono::milliseconds idle, std::size_t max_sessions,
                 std::chrono::milliseconds heartbeat) {
  HttpOptions o;
  o.idle_timeout = idle;
  o.max_sessions = max_sessions;
  o.heartbeat = heartbeat;
  return o;
}

using namespace std::chrono_literals;

Item leaky(std::uint64_t id) {
  Item it;
  it.id = id;
  it.rec.seq = id;
  it.rec.mail_from = "alice@sender.example";
  it.rec.rcpts.push_back(rcpt("a@firma.example", 250));
  it.rec.accepted = true;
  it.rec.message = "X-Envelope-To: bob@firma.example\r\n\r\nbody\r\n";
  return it;
}

struct Fixture {
  net::asio::io_context io;
  Store store;
  std::optional<HttpServer> server;
  explicit Fixture(HttpOptions o = {}) {
    store.add(leaky(1));
    server.emplace(io, net::tcp::endpoint(net::asio::ip::make_address("127.0.0.1"), 0), store,
                   std::move(o));
    server->start();
  }
  net::tcp::endpoint ep() const { return server->local_endpoint(); }
};

// Sends `request` and reads until `until` appears, the peer closes, or 5 s pass.
net::awaitable<void> exchange(net::tcp::endpoint ep, std::string request, std::string until,
                              std::string& got) {
  net::Connection c(co_await net::asio::this_coro::executor);
  net::error_code ec;
  co_await c.connect(ep, 5s, ec);
  if (ec) co_return;
  if (!request.empty()) co_await c.write_all(request, 5s, ec);
  while (!ec && (until.empty() || got.find(until) == std::string::npos))
    co_await c.read_some(got, 64 * 1024, 5s, ec);
}

std::string fetch(Fixture& f, std::string request, std::string until = {}) {
  std::string got;
  net::asio::co_spawn(f.io, exchange(f.ep(), std::move(request), std::move(until), got),
                      [&f](std::exception_ptr) { f.io.stop(); });
  f.io.run_for(6s);
  f.io.restart();
  return got;
}

TEST(WebServer, ServesTheApi) {
  Fixture f;
  const std::string r =
      fetch(f, "GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.substr(0, 15), "HTTP/1.1 200 OK") << r;
  EXPECT_NE(r.find("\"total\":1"), std::string::npos);
  EXPECT_NE(r.find("X-Content-Type-Options: nosniff"), std::string::npos);
}

TEST(WebServer, ServesThePageWithItsCsp) {
  Fixture f;
  const std::string r =
      fetch(f, "GET / HTTP/1.1\r\nHost: localhost:8025\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.substr(0, 15), "HTTP/1.1 200 OK") << r;
  EXPECT_NE(r.find("Content-Security-Policy: default-src 'none'"), std::string::npos);
  EXPECT_NE(r.find("data-live=\"1\""), std::string::npos);
}

TEST(WebServer, RefusesAForeignHost) {
  Fixture f;
  const std::string r =
      fetch(f, "GET /api/messages HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 403") << r;
}

TEST(WebServer, HeaderLimitPlusOneIs431) {
  Fixture f;
  const std::string head = "GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX: ";
  const std::string fill(kMaxRequestHeaderOctets + 1 - head.size() - 4, 'a');
  const std::string r = fetch(f, head + fill + "\r\n\r\n");
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 431") << r.substr(0, 80);
  Fixture g;  // exactly at the limit: served
  const std::string ok = fetch(g, head + fill.substr(20) + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(ok.substr(0, 12), "HTTP/1.1 200") << ok.substr(0, 80);
}

TEST(WebServer, BodyLimitPlusOneIs413) {
  Fixture f;
  const std::string body(kMaxRequestBodyOctets + 1, 'a');
  const std::string r =
      fetch(f, "DELETE /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 413") << r;
  EXPECT_EQ(f.store.size(), 1u);
}

TEST(WebServer, IdleConnectionIsClosed) {
  Fixture f(with(200ms, 16, 15s));
  const auto start = std::chrono::steady_clock::now();
  const std::string r = fetch(f, "GET /api/mess");  // never finished
  EXPECT_EQ(r, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(WebServer, ConnectionsBeyondTheLimitGet503) {
  Fixture f(with(30s, 1, 15s));
  std::string first, second;
  net::asio::co_spawn(
      f.io,
      exchange(f.ep(), "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "retry:", first),
      net::asio::detached);
  f.io.run_for(1s);  // the event stream holds the one session
  f.io.restart();
  net::asio::co_spawn(f.io, exchange(f.ep(), "", "", second), net::asio::detached);
  f.io.run_for(2s);
  f.server->stop();
  f.io.run_for(1s);
  EXPECT_NE(first.find("text/event-stream"), std::string::npos);
  EXPECT_EQ(second.substr(0, 12), "HTTP/1.1 503") << second;
}

TEST(WebServer, EventStreamAnnouncesNewRecordsAndDeleteAll) {
  Fixture f(with(30s, 16, 10s));
  std::string got;
  net::asio::co_spawn(
      f.io,
      exchange(f.ep(), "GET /api/events HTTP/1.1\r\nHost: [::1]\r\n\r\n", "event: reset", got),
      net::asio::detached);
  f.io.run_for(500ms);
  f.io.restart();
  f.store.add(leaky(2));
  f.server->notify();
  f.io.run_for(500ms);
  f.io.restart();
  f.store.clear();
  f.server->notify();
  f.io.run_for(2s);
  EXPECT_NE(got.find("event: added\ndata: {\"id\":2}\n\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("\"id\":1}"), std::string::npos);  // only what arrived after connecting
  EXPECT_NE(got.find("event: reset"), std::string::npos) << got;
}

TEST(WebServer, StopEndsEveryStreamSoRunReturns) {
  Fixture f;
  std::string got;
  net::asio::co_spawn(
      f.io, exchange(f.ep(), "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "never", got),
      net::asio::detached);
  f.io.run_for(300ms);
  f.io.restart();
  f.server->stop();
  const auto start = std::chrono::steady_clock::now();
  f.io.run_for(5s);  // returns early once every coroutine ended
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(f.server->active_sessions(), 0u);
}

TEST(WebServer, LoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("127.0.0.1:8025"));
  EXPECT_TRUE(is_loopback_host("[::1]:80"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("localhost.evil.example"));
  EXPECT_FALSE(is_loopback_host(""));
}

}  // namespace
}  // namespace dropcheck::web

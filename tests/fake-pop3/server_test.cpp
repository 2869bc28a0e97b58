// The fake provider behind net::Server on 127.0.0.1:0: SMTP intake, then POP3 (plain, STLS,
// POP3S), each run with a bounded io_context::run_for.
#include <gtest/gtest.h>

// GCC 12 false positive on Asio's awaitable frame allocator (GCC PR 109224, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "base/clock.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "net/connection.hpp"
#include "net/server.hpp"
#include "protocol/dot.hpp"

namespace dropcheck::fake_pop3 {
namespace {

using namespace std::chrono_literals;
using net::awaitable;
using net::error_code;

constexpr auto kTimeout = 5s;

Profile profile(std::string_view name) {
  auto p = load_profile(name);
  EXPECT_TRUE(p.ok());
  return *p;
}

struct Fixture {
  net::asio::io_context io;
  base::SystemClock clock;
  Provider provider;
  std::shared_ptr<net::ssl::context> tls = net::make_server_tls(net::make_self_signed());
  net::Server pop3;
  net::Server pop3s;
  net::Server mx;

  explicit Fixture(std::string_view profile_name) : Fixture(profile(profile_name)) {}
  explicit Fixture(Profile pr)
      : provider(std::move(pr), "u", "p", clock),
        pop3(
            io, {net::asio::ip::make_address("127.0.0.1"), 0},
            [this](const net::Peer& p) { return provider.make_pop3_session(p); },
            provider.pop3_server_options(tls, false)),
        pop3s(
            io, {net::asio::ip::make_address("127.0.0.1"), 0},
            [this](const net::Peer& p) { return provider.make_pop3_session(p); },
            provider.pop3_server_options(tls, true)),
        mx(io, {net::asio::ip::make_address("127.0.0.1"), 0},
           [this](const net::Peer& p) { return provider.make_mx_session(p); }) {
    pop3.start();
    pop3s.start();
    mx.start();
  }

  // Runs `task` to completion (bounded), then stops the servers so run_for returns early.
  void run(awaitable<void> task) {
    bool done = false;
    net::spawn_logged(
        io.get_executor(),
        [](Fixture& f, awaitable<void> t, bool& d) -> awaitable<void> {
          co_await std::move(t);
          d = true;
          f.pop3.stop();
          f.pop3s.stop();
          f.mx.stop();
        }(*this, std::move(task), done),
        "test-client");
    io.run_for(10s);
    EXPECT_TRUE(done) << "client did not finish in time";
  }
};

// Sends a command and reads one status line.
awaitable<std::string> cmd(net::Connection& c, std::string line) {
  error_code ec;
  if (!line.empty()) co_await c.write_all(line + "\r\n", kTimeout, ec);
  EXPECT_FALSE(ec) << ec.message();
  auto reply = co_await c.read_line(1024, kTimeout, ec);
  EXPECT_FALSE(ec) << line << ": " << ec.message();
  co_return reply;
}

std::string unstuff(const std::string& wire) {
  protocol::DotDecoder d;
  d.feed(wire);
  EXPECT_TRUE(d.done());
  return d.body();
}

awaitable<std::string> c_line(net::Connection& c) {
  error_code ec;
  auto l = co_await c.read_line(1024, kTimeout, ec);
  EXPECT_FALSE(ec) << ec.message();
  co_return l;
}

// Reads a dot-terminated body (what arrived on error, which is reported).
awaitable<std::string> body(net::Connection& c) {
  std::string wire;
  error_code ec;
  for (;;) {
    const std::string line = co_await c.read_line(64 * 1024, kTimeout, ec);
    wire += line;
    if (ec || line == ".\r\n") break;
  }
  EXPECT_FALSE(ec) << ec.message();
  co_return unstuff(wire);
}

awaitable<void> send_mail(Fixture& f) {
  net::Connection c(f.io.get_executor());
  error_code ec;
  co_await c.connect(f.mx.local_endpoint(), kTimeout, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ((co_await cmd(c, "")).substr(0, 4), "220 ");
  // Pipelined: EHLO's reply is multi-line; read until the last line.
  co_await c.write_all("EHLO test.example\r\n", kTimeout, ec);
  for (;;) {
    auto l = co_await c.read_line(1024, kTimeout, ec);
    if (ec || l.size() < 4 || l[3] == ' ') break;
  }
  EXPECT_EQ((co_await cmd(c, "MAIL FROM:<a@world.example>")).substr(0, 3), "250");
  EXPECT_EQ((co_await cmd(c, "RCPT TO:<b@firma.example>")).substr(0, 3), "250");
  EXPECT_EQ((co_await cmd(c, "RCPT TO:<bcc@firma.example>")).substr(0, 3), "250");
  EXPECT_EQ((co_await cmd(c, "DATA")).substr(0, 3), "354");
  co_await c.write_all("From: a@world.example\r\nTo: b@firma.example\r\n\r\n..hidden\r\n", kTimeout,
                       ec);
  EXPECT_EQ((co_await cmd(c, ".")).substr(0, 3), "250");
  EXPECT_EQ((co_await cmd(c, "QUIT")).substr(0, 3), "221");
}

awaitable<void> fetch_all(Fixture& f, net::Connection& c, std::vector<std::string>& got) {
  EXPECT_EQ((co_await cmd(c, "USER u")).substr(0, 3), "+OK");
  EXPECT_EQ((co_await cmd(c, "PASS p")).substr(0, 3), "+OK");
  const auto stat = co_await cmd(c, "STAT");
  const std::size_t n = std::stoul(stat.substr(4));
  for (std::size_t i = 1; i <= n; ++i) {
    EXPECT_EQ((co_await cmd(c, "RETR " + std::to_string(i))).substr(0, 3), "+OK");
    got.push_back(co_await body(c));
    EXPECT_EQ((co_await cmd(c, "DELE " + std::to_string(i))).substr(0, 3), "+OK");
  }
  EXPECT_EQ((co_await cmd(c, "QUIT")).substr(0, 3), "+OK");
  (void)f;
}

TEST(FakePop3Server, MxThenPop3RoundTrip) {
  Fixture f("x-envelope-to");
  std::vector<std::string> got;
  f.run([](Fixture& fx, std::vector<std::string>& g) -> awaitable<void> {
    co_await send_mail(fx);
    net::Connection c(fx.io.get_executor());
    error_code ec;
    co_await c.connect(fx.pop3.local_endpoint(), kTimeout, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ((co_await cmd(c, "")).substr(0, 4), "+OK ");
    co_await fetch_all(fx, c, g);
  }(f, got));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0],
            "Return-Path: <a@world.example>\r\nX-Envelope-To: b@firma.example\r\n"
            "From: a@world.example\r\nTo: b@firma.example\r\n\r\n.hidden\r\n");
  EXPECT_NE(got[1].find("X-Envelope-To: bcc@firma.example\r\n"), std::string::npos);
  EXPECT_EQ(f.provider.stored_count(), 0u);
  ASSERT_EQ(f.provider.session_log().size(), 1u);
  EXPECT_EQ(f.provider.session_log()[0].retrieved_uidls.size(), 2u);
  EXPECT_TRUE(f.provider.session_log()[0].cleartext_password_while_stls_offered);
}

TEST(FakePop3Server, StlsThenLogin) {
  Fixture f("x-envelope-to");
  f.provider.deliver("a@w.example", {"b@f.example"}, "Subject: s\r\n\r\nx\r\n");
  std::vector<std::string> got;
  f.run([](Fixture& fx, std::vector<std::string>& g) -> awaitable<void> {
    net::Connection c(fx.io.get_executor());
    error_code ec;
    co_await c.connect(fx.pop3.local_endpoint(), kTimeout, ec);
    EXPECT_EQ((co_await cmd(c, "")).substr(0, 4), "+OK ");
    EXPECT_EQ(co_await cmd(c, "STLS"), "+OK begin TLS negotiation\r\n");
    net::ssl::context client(net::ssl::context::tls_client);
    client.set_verify_mode(net::ssl::verify_none);
    co_await c.handshake_client(client, "localhost", kTimeout, ec);
    EXPECT_FALSE(ec) << ec.message();
    co_await fetch_all(fx, c, g);
  }(f, got));
  EXPECT_EQ(got.size(), 1u);
  ASSERT_EQ(f.provider.session_log().size(), 1u);
  EXPECT_TRUE(f.provider.session_log()[0].tls);
  EXPECT_TRUE(f.provider.session_log()[0].stls_used);
  EXPECT_FALSE(f.provider.session_log()[0].cleartext_password_while_stls_offered);
}

TEST(FakePop3Server, ImplicitTlsPop3s) {
  Fixture f("x-envelope-to");
  f.provider.deliver("a@w.example", {"b@f.example"}, "Subject: s\r\n\r\nx\r\n");
  std::vector<std::string> got;
  f.run([](Fixture& fx, std::vector<std::string>& g) -> awaitable<void> {
    net::Connection c(fx.io.get_executor());
    error_code ec;
    co_await c.connect(fx.pop3s.local_endpoint(), kTimeout, ec);
    net::ssl::context client(net::ssl::context::tls_client);
    client.set_verify_mode(net::ssl::verify_none);
    co_await c.handshake_client(client, "localhost", kTimeout, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ((co_await cmd(c, "")).substr(0, 4), "+OK ");
    const auto capa = co_await cmd(c, "CAPA");
    EXPECT_EQ(capa.substr(0, 3), "+OK");
    const auto caps = co_await body(c);
    EXPECT_EQ(caps.find("STLS"), std::string::npos);
    co_await fetch_all(fx, c, g);
  }(f, got));
  EXPECT_EQ(got.size(), 1u);
  ASSERT_EQ(f.provider.session_log().size(), 1u);
  EXPECT_TRUE(f.provider.session_log()[0].implicit_tls);
}

TEST(FakePop3Server, SecondConcurrentSessionGetsInUse) {
  Fixture f("x-envelope-to");
  f.run([](Fixture& fx) -> awaitable<void> {
    net::Connection a(fx.io.get_executor()), b(fx.io.get_executor());
    error_code ec;
    co_await a.connect(fx.pop3.local_endpoint(), kTimeout, ec);
    co_await b.connect(fx.pop3.local_endpoint(), kTimeout, ec);
    (void)co_await cmd(a, "");
    (void)co_await cmd(b, "");
    (void)co_await cmd(a, "USER u");
    EXPECT_EQ((co_await cmd(a, "PASS p")).substr(0, 3), "+OK");
    (void)co_await cmd(b, "USER u");
    EXPECT_EQ((co_await cmd(b, "PASS p")).substr(0, 13), "-ERR [IN-USE]");
    EXPECT_EQ((co_await cmd(a, "QUIT")).substr(0, 3), "+OK");
  }(f));
  EXPECT_EQ(f.provider.session_log().size(), 2u);
}

TEST(FakePop3Server, MaxSessionsPlusOneGetsBusyReply) {
  Profile pr = profile("x-envelope-to");
  pr.max_sessions = 1;
  Fixture f(pr);
  f.run([](Fixture& fx) -> awaitable<void> {
    net::Connection a(fx.io.get_executor()), b(fx.io.get_executor());
    error_code ec;
    co_await a.connect(fx.pop3.local_endpoint(), kTimeout, ec);
    EXPECT_EQ((co_await cmd(a, "")).substr(0, 4), "+OK ");
    co_await b.connect(fx.pop3.local_endpoint(), kTimeout, ec);
    EXPECT_EQ(co_await c_line(b), "-ERR [SYS/TEMP] too many sessions, try later\r\n");
    (void)co_await b.read_line(1024, kTimeout, ec);
    EXPECT_TRUE(ec) << "the busy connection is closed";
    EXPECT_EQ((co_await cmd(a, "QUIT")).substr(0, 3), "+OK");
  }(f));
  // The refused connection has its session record too (issue 16: never a silent close).
  ASSERT_EQ(f.provider.session_log().size(), 2u);
  EXPECT_EQ(f.provider.session_log()[1].end_reason, "too-many-sessions");
}

TEST(FakePop3Server, IdleTimeoutClosesWithoutResponseAndWithoutUpdate) {
  Profile pr = profile("x-envelope-to");
  pr.idle_timeout_s = 1;
  Fixture f(pr);
  f.provider.deliver("a@w.example", {"b@f.example"}, "Subject: s\r\n\r\nx\r\n");
  f.run([](Fixture& fx) -> awaitable<void> {
    net::Connection c(fx.io.get_executor());
    error_code ec;
    co_await c.connect(fx.pop3.local_endpoint(), kTimeout, ec);
    (void)co_await cmd(c, "");
    (void)co_await cmd(c, "USER u");
    (void)co_await cmd(c, "PASS p");
    EXPECT_EQ((co_await cmd(c, "DELE 1")).substr(0, 3), "+OK");
    const auto rest = co_await c.read_line(1024, kTimeout, ec);
    EXPECT_TRUE(ec);
    EXPECT_EQ(rest, "");
  }(f));
  ASSERT_EQ(f.provider.session_log().size(), 1u);
  EXPECT_EQ(f.provider.session_log()[0].end_reason, "timeout");
  EXPECT_EQ(f.provider.stored_count(), 1u);
}

}  // namespace
}  // namespace dropcheck::fake_pop3

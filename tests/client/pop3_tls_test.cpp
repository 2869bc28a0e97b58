// Pop3Client's connection facts that a caller acts on: whether the TCP connection was made
// (reached) and whether a handshake failed on the certificate (certificate_rejected, the
// probe's cue to retry without verification under --insecure), against fake-pop3 on
// 127.0.0.1:0.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

// GCC 12 false positive on Asio's awaitable frame allocator (GCC PR 109224, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <filesystem>
#include <fstream>
#include <functional>

#include "base/clock.hpp"
#include "client/pop3.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "net/server.hpp"

namespace dropcheck::client {
namespace {

using namespace std::chrono_literals;

struct Env {
  net::asio::io_context io;
  base::VirtualClock clock{base::Millis{1'700'000'000'000}};
  fake_pop3::Provider provider{*fake_pop3::load_profile("x-envelope-to"), "u", "p", clock};
  net::PemPair pem = net::make_self_signed();
  std::shared_ptr<net::ssl::context> tls = net::make_server_tls(pem);
  net::Server pop3{io, {net::asio::ip::make_address("127.0.0.1"), 0},
                   [this](const net::Peer& peer) { return provider.make_pop3_session(peer); },
                   provider.pop3_server_options(tls, false)};
  net::Server pop3s{io, {net::asio::ip::make_address("127.0.0.1"), 0},
                    [this](const net::Peer& peer) { return provider.make_pop3_session(peer); },
                    provider.pop3_server_options(tls, true)};
  std::filesystem::path ca_file =
      std::filesystem::temp_directory_path() / ("dropcheck-client-ca-" + std::to_string(::getpid()));

  Env() {
    std::ofstream(ca_file) << pem.cert;
    pop3.start();
    pop3s.start();
  }
  ~Env() { std::filesystem::remove(ca_file); }

  Pop3Options options(std::uint16_t port, TlsMode mode, bool verify, bool with_ca) const {
    Pop3Options o;
    o.server = {"localhost", port};
    o.tls = mode;
    o.tls_settings = {verify, with_ca ? ca_file.string() : ""};
    o.timeout = 5s;
    return o;
  }

  // Runs `body` with a client, then stops the servers.
  void with_client(Pop3Options o, std::function<net::awaitable<void>(Pop3Client&)> body) {
    Pop3Client c(io.get_executor(), std::move(o));
    bool done = false;
    net::spawn_logged(
        io.get_executor(),
        [](Env& e, Pop3Client& cl, std::function<net::awaitable<void>(Pop3Client&)> b,
           bool& d) -> net::awaitable<void> {
          co_await b(cl);
          cl.abandon();
          d = true;
          e.pop3.stop();
          e.pop3s.stop();
        }(*this, c, std::move(body), done),
        "client");
    io.run_for(20s);
    EXPECT_TRUE(done);
  }
};

// STLS against a self-signed certificate: `verify`, `with_ca` decide; returns whether STLS
// came up, and the client's certificate_rejected().
std::pair<bool, bool> stls(bool verify, bool with_ca) {
  Env env;
  bool up = false;
  bool rejected = false;
  env.with_client(env.options(env.pop3.local_endpoint().port(), TlsMode::stls, verify, with_ca),
                  [&](Pop3Client& c) -> net::awaitable<void> {
                    EXPECT_TRUE(co_await c.connect()) << c.error();
                    EXPECT_TRUE(c.reached());
                    up = co_await c.stls();
                    rejected = c.certificate_rejected();
                  });
  return {up, rejected};
}

TEST(Pop3ClientTls, UnknownCaIsACertificateRejection) {
  EXPECT_EQ(stls(true, false), std::make_pair(false, true));
}

TEST(Pop3ClientTls, TheCaFileVerifiesIt) { EXPECT_EQ(stls(true, true), std::make_pair(true, false)); }

TEST(Pop3ClientTls, WithoutVerificationNothingIsRejected) {
  EXPECT_EQ(stls(false, false), std::make_pair(true, false));
}

TEST(Pop3ClientTls, ImplicitTlsRejectionIsReachedAndRejected) {
  Env env;
  env.with_client(env.options(env.pop3s.local_endpoint().port(), TlsMode::implicit, true, false),
                  [](Pop3Client& c) -> net::awaitable<void> {
                    EXPECT_FALSE(co_await c.connect());
                    EXPECT_TRUE(c.reached());
                    EXPECT_TRUE(c.certificate_rejected()) << c.error();
                  });
}

TEST(Pop3ClientTls, AHandshakeWithAPlainServerIsNoCertificateRejection) {
  Env env;
  env.with_client(env.options(env.pop3.local_endpoint().port(), TlsMode::implicit, true, false),
                  [](Pop3Client& c) -> net::awaitable<void> {
                    EXPECT_FALSE(co_await c.connect());
                    EXPECT_TRUE(c.reached());
                    EXPECT_FALSE(c.certificate_rejected()) << c.error();
                  });
}

TEST(Pop3ClientConnect, ARefusedConnectionIsNotReached) {
  Env env;
  std::uint16_t closed = 0;
  {
    net::tcp::acceptor a(env.io, {net::asio::ip::make_address("127.0.0.1"), 0});
    closed = a.local_endpoint().port();
  }
  env.with_client(env.options(closed, TlsMode::none, true, false),
                  [](Pop3Client& c) -> net::awaitable<void> {
                    EXPECT_FALSE(co_await c.connect());
                    EXPECT_FALSE(c.reached());
                  });
}

}  // namespace
}  // namespace dropcheck::client

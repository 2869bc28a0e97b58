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

#include <openssl/x509_vfy.h>

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
  explicit Env(const std::string& profile = "x-envelope-to") : provider_profile(profile) {
    std::ofstream(ca_file) << pem.cert;
    pop3.start();
    pop3s.start();
  }
  std::string provider_profile;
  net::asio::io_context io;
  base::VirtualClock clock{base::Millis{1'700'000'000'000}};
  fake_pop3::Provider provider{*fake_pop3::load_profile(provider_profile), "u", "p", clock};
  net::PemPair pem = net::make_self_signed();
  std::shared_ptr<net::ssl::context> tls = net::make_server_tls(pem);
  net::Server pop3{io,
                   {net::asio::ip::make_address("127.0.0.1"), 0},
                   [this](const net::Peer& peer) { return provider.make_pop3_session(peer); },
                   provider.pop3_server_options(tls, false)};
  net::Server pop3s{io,
                    {net::asio::ip::make_address("127.0.0.1"), 0},
                    [this](const net::Peer& peer) { return provider.make_pop3_session(peer); },
                    provider.pop3_server_options(tls, true)};
  std::filesystem::path ca_file = std::filesystem::temp_directory_path() /
                                  ("dropcheck-client-ca-" + std::to_string(::getpid()));

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

TEST(Pop3ClientTls, TheCaFileVerifiesIt) {
  EXPECT_EQ(stls(true, true), std::make_pair(true, false));
}

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

// Certificate failures say which check failed and what to set (issue 14 item 2).
TEST(Pop3ClientTls, ASelfSignedCertificateIsNamedWithTheSettingThatFixesIt) {
  Env env;
  env.with_client(env.options(env.pop3.local_endpoint().port(), TlsMode::stls, true, false),
                  [](Pop3Client& c) -> net::awaitable<void> {
                    EXPECT_TRUE(co_await c.connect());
                    EXPECT_FALSE(co_await c.stls());
                    EXPECT_NE(c.error().find("self-signed"), std::string::npos) << c.error();
                    EXPECT_NE(c.error().find("ca_file"), std::string::npos) << c.error();
                    EXPECT_NE(c.error().find("verify_certificate: false"), std::string::npos);
                  });
}

TEST(Pop3ClientTls, ACertificateForAnotherNameIsANameMismatch) {
  Env env;
  auto o = env.options(env.pop3.local_endpoint().port(), TlsMode::stls, true, true);
  // The certificate names localhost, 127.0.0.1 and ::1; "127.1" reaches 127.0.0.1 through the
  // resolver (inet_aton's short form) but is none of those names.
  o.server.host = "127.1";
  env.with_client(o, [](Pop3Client& c) -> net::awaitable<void> {
    EXPECT_TRUE(co_await c.connect());
    EXPECT_FALSE(co_await c.stls());
    EXPECT_NE(c.error().find("does not name the host"), std::string::npos) << c.error();
  });
}

TEST(TlsFailure, ExpiredAndUnknownCaAreToldApart) {
  const TlsSettings s{true, ""};
  const net::error_code ec = net::asio::error::connection_reset;
  EXPECT_NE(
      describe_handshake_failure(X509_V_ERR_CERT_HAS_EXPIRED, ec, "pop.example", s).find("expired"),
      std::string::npos);
  const std::string unknown = describe_handshake_failure(
      X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, ec, "pop.example", s);
  EXPECT_NE(unknown.find("CA is unknown"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("set ca_file"), std::string::npos) << unknown;
  // Not a certificate problem: the transport error, no certificate advice.
  const std::string other = describe_handshake_failure(X509_V_OK, ec, "pop.example", s);
  EXPECT_EQ(other.find("ca_file"), std::string::npos) << other;
}

// RFC 2595 4: the capability list is asked again after STLS; the login mechanism is chosen
// from the new one (a server that offers USER only under TLS).
TEST(Pop3ClientTls, CapaIsAskedAgainAfterStls) {
  Env env("tls-required");
  env.with_client(env.options(env.pop3.local_endpoint().port(), TlsMode::stls, true, true),
                  [](Pop3Client& c) -> net::awaitable<void> {
                    EXPECT_TRUE(co_await c.connect());
                    EXPECT_TRUE(co_await c.capa());
                    EXPECT_FALSE(c.capabilities().has("USER"));
                    EXPECT_TRUE(co_await c.stls()) << c.error();
                    EXPECT_TRUE(c.capabilities().has("USER"));
                    auto r = co_await c.login("u", "p", Auth::automatic);
                    EXPECT_TRUE(r.status.has_value() && r.status->ok)
                        << c.error() << r.refused_locally;
                  });
}

}  // namespace
}  // namespace dropcheck::client

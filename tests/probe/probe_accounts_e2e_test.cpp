// probe --accounts against fake-pop3 providers in process (net::Server on 127.0.0.1:0): good
// accounts, a wrong password, an unreachable port and a silent server, checked concurrently.
#include <gtest/gtest.h>
#include <stdlib.h>

// GCC 12 false positive on Asio's awaitable frame allocator (GCC PR 109224, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/clock.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "net/server.hpp"
#include "probe/accounts.hpp"

namespace dropcheck::probe {
namespace {

using namespace std::chrono_literals;
namespace asio = net::asio;

// Distinctive credentials, so that a leak into any output is found by a plain search.
constexpr char kUserOne[] = "acct-one-user-5d1c";
constexpr char kPassOne[] = "pw-One-S3cret-Q9zz";
constexpr char kUserTwo[] = "acct-two-user-8e2f";
constexpr char kPassTwo[] = "pw-Two-S3cret-K7yy";
constexpr char kPassWrong[] = "pw-Wrong-S3cret-X1ww";
constexpr char kPassUnreachable[] = "pw-Gone-S3cret-V3uu";
constexpr char kUserUnreachable[] = "acct-gone-user-2b7a";

// 1700000000 s is Tue, 14 Nov 2023 22:13:20 +0000.
constexpr std::int64_t kNow = 1'700'000'000;

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "dropcheck-acc-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

// A port nothing listens on: bound, read, closed.
std::uint16_t closed_port(asio::io_context& io) {
  net::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

// Accepts and never finishes a line: silent, or (`trickle`) one octet of a greeting every
// 50 ms, so that no idle timeout ever fires. Counts the connections open at once.
struct SilentServer {
  net::tcp::acceptor acceptor;
  bool trickle = false;
  std::size_t open = 0, max_open = 0, accepted = 0;

  explicit SilentServer(asio::io_context& io, bool trickle_octets = false)
      : acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}), trickle(trickle_octets) {
    net::spawn_logged(io.get_executor(), accept_loop(), "silent-accept");
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  net::awaitable<void> accept_loop() {
    for (;;) {
      net::error_code ec;
      net::tcp::socket s(acceptor.get_executor());
      co_await acceptor.async_accept(s, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++accepted;
      max_open = std::max(max_open, ++open);
      net::spawn_logged(acceptor.get_executor(), hold(std::move(s)), "silent-hold");
    }
  }
  // Until the client closes.
  net::awaitable<void> hold(net::tcp::socket s) {
    net::error_code ec;
    if (trickle) {
      asio::steady_timer t(s.get_executor());
      co_await asio::async_write(s, asio::buffer("+OK", 3),
                                 asio::redirect_error(asio::use_awaitable, ec));
      while (!ec) {
        t.expires_after(50ms);
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_await asio::async_write(s, asio::buffer(".", 1),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    char buf[256];
    while (!ec)
      co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    --open;
  }
};

fake_pop3::Profile profile(std::string_view name) {
  auto p = fake_pop3::load_profile(name);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return *p;
}

// One provider on a plain (STLS) and an implicit-TLS listener, both 127.0.0.1:0.
struct Site {
  fake_pop3::Provider provider;
  net::Server pop3;
  net::Server pop3s;

  Site(asio::io_context& io, fake_pop3::Profile p, const char* user, const char* pass,
       const base::Clock& clock, std::shared_ptr<net::ssl::context> tls)
      : provider(std::move(p), user, pass, clock),
        pop3(io, {asio::ip::make_address("127.0.0.1"), 0}, factory(),
             provider.pop3_server_options(tls, false)),
        pop3s(io, {asio::ip::make_address("127.0.0.1"), 0}, factory(),
              provider.pop3_server_options(tls, true)) {
    pop3.start();
    pop3s.start();
  }
  net::SessionFactory factory() {
    return [this](const net::Peer& peer) { return provider.make_pop3_session(peer); };
  }
  void stop() {
    pop3.stop();
    pop3s.stop();
  }
};

std::string date_line(std::int64_t ago_s, std::string_view header) {
  const std::time_t t = static_cast<std::time_t>(kNow - ago_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return fmt::format("{}{}\r\n", header, buf);
}

struct Env {
  asio::io_context io;
  base::VirtualClock clock{base::Millis{kNow * 1000}};
  net::PemPair pem = net::make_self_signed();
  std::shared_ptr<net::ssl::context> tls = net::make_server_tls(pem);
  Site one{io, with_expire(profile("x-envelope-to")), kUserOne, kPassOne, clock, tls};
  Site two{io, with_login_delay(profile("envelope-to")), kUserTwo, kPassTwo, clock, tls};
  SilentServer silent{io};
  SilentServer trickling{io, true};
  TempDir dir;
  std::string ca_file = dir.file("ca.pem", pem.cert);
  std::vector<std::string> log;

  static fake_pop3::Profile with_expire(fake_pop3::Profile p) {
    p.expire = "NEVER";
    return p;
  }
  static fake_pop3::Profile with_login_delay(fake_pop3::Profile p) {
    p.login_delay_s = 900;
    return p;
  }

  Env() {
    // Account one: the oldest message is an hour old by its Date: (no Received: line).
    one.provider.deliver("alice@outside.example", {"hans@firma.example"},
                         "From: alice@outside.example\r\nTo: hans@firma.example\r\n" +
                             date_line(3600, "Date: ") + "Subject: one\r\n\r\nbody\r\n");
    one.provider.deliver("bob@outside.example", {"eva@firma.example"},
                         "From: bob@outside.example\r\nTo: eva@firma.example\r\n" +
                             date_line(60, "Date: ") + "Subject: two\r\n\r\nbody\r\n");
    // Account two: arrived a day ago (the provider's Received:), written two days ago.
    two.provider.deliver("carl@outside.example", {"hans@firma.example"},
                         date_line(86400, "Received: from mx.outside.example by pop.provider; ") +
                             "From: carl@outside.example\r\nTo: hans@firma.example\r\n" +
                             date_line(2 * 86400, "Date: ") + "Subject: three\r\n\r\nbody\r\n");
  }

  CheckOptions options() {
    CheckOptions o;
    o.parallel = 3;
    o.timeout = 5s;
    o.deadline = 20s;
    o.clock = &clock;
    o.log = [this](std::string_view l) { log.emplace_back(l); };
    return o;
  }

  std::vector<AccountResult> run(const std::vector<Account>& accounts, const CheckOptions& o) {
    std::vector<AccountResult> out;
    bool done = false;
    net::spawn_logged(
        io.get_executor(),
        [](Env& e, const std::vector<Account>& a, const CheckOptions& op,
           std::vector<AccountResult>& res, bool& d) -> net::awaitable<void> {
          co_await check_accounts(a, op, res);
          d = true;
          e.one.stop();
          e.two.stop();
          e.silent.acceptor.close();
          e.trickling.acceptor.close();
        }(*this, accounts, o, out, done),
        "accounts");
    io.run_for(60s);
    EXPECT_TRUE(done) << "did not finish in time";
    return out;
  }
};

// The file of the test: two good accounts (STLS; implicit TLS), one wrong password, one port
// nothing listens on.
std::string accounts_file(Env& env) {
  const std::string one_pw = env.dir.file("one.pass", std::string(kPassOne) + "\n");
  env.dir.file("wrong.pass", std::string(kPassWrong) + "\n");
  return env.dir.file("accounts.yaml",
                      fmt::format("version: 1\n"
                                  "accounts:\n"
                                  "  - name: catchall\n"
                                  "    host: 127.0.0.1\n"
                                  "    port: {}\n"
                                  "    user: {}\n"
                                  "    password_file: {}\n"
                                  "    ca_file: ca.pem\n"
                                  "  - name: pop3s\n"
                                  "    host: 127.0.0.1\n"
                                  "    port: {}\n"
                                  "    tls: implicit\n"
                                  "    user: {}\n"
                                  "    password: {}\n"
                                  "    ca_file: {}\n"
                                  "  - name: wrong-password\n"
                                  "    host: 127.0.0.1\n"
                                  "    port: {}\n"
                                  "    tls: stls\n"
                                  "    user: {}\n"
                                  "    password_file: wrong.pass\n"
                                  "    ca_file: ca.pem\n"
                                  "  - name: unreachable\n"
                                  "    host: 127.0.0.1\n"
                                  "    port: {}\n"
                                  "    user: {}\n"
                                  "    password: {}\n",
                                  env.one.pop3.local_endpoint().port(), kUserOne, one_pw,
                                  env.two.pop3s.local_endpoint().port(), kUserTwo, kPassTwo,
                                  env.ca_file, env.one.pop3.local_endpoint().port(), kUserOne,
                                  closed_port(env.io), kUserUnreachable, kPassUnreachable));
}

bool has_capa(const AccountResult& r, std::string_view line) {
  return std::find(r.capabilities.begin(), r.capabilities.end(), line) != r.capabilities.end();
}

void expect_no_credentials(const std::string& what, const std::string& text) {
  for (const char* secret :
       {kPassOne, kPassTwo, kPassWrong, kPassUnreachable, kUserOne, kUserTwo, kUserUnreachable})
    EXPECT_EQ(text.find(secret), std::string::npos) << what << " shows " << secret << ":\n" << text;
}

TEST(ProbeAccounts, EachAccountGetsItsOwnResultAndNothingIsTouched) {
  Env env;
  auto accounts = load_accounts(accounts_file(env));
  ASSERT_TRUE(accounts.ok()) << accounts.error().message;
  const auto one_before = env.one.provider.stored();
  const auto two_before = env.two.provider.stored();
  const auto r = env.run(*accounts, env.options());
  ASSERT_EQ(r.size(), 4u);
  const std::string text = accounts_text(r), json = accounts_json(r);

  EXPECT_EQ(r[0].name, "catchall");
  EXPECT_EQ(r[0].health, Health::ok) << text;
  EXPECT_EQ(r[0].messages, std::optional<std::size_t>(2));
  EXPECT_EQ(r[0].oldest_age_s, std::optional<std::int64_t>(3600));
  EXPECT_EQ(r[0].oldest_source, "date");
  EXPECT_EQ(r[0].tls, "stls");
  EXPECT_EQ(r[0].certificate, "verified");
  for (const char* capa : {"STLS", "UIDL", "TOP", "PIPELINING", "RESP-CODES", "EXPIRE NEVER"})
    EXPECT_TRUE(has_capa(r[0], capa)) << capa << "\n" << text;

  EXPECT_EQ(r[1].health, Health::ok) << text;
  EXPECT_EQ(r[1].messages, std::optional<std::size_t>(1));
  EXPECT_EQ(r[1].oldest_age_s, std::optional<std::int64_t>(86400));
  EXPECT_EQ(r[1].oldest_source, "received");
  EXPECT_EQ(r[1].tls, "implicit");
  EXPECT_EQ(r[1].certificate, "verified");
  EXPECT_TRUE(has_capa(r[1], "LOGIN-DELAY 900")) << text;

  EXPECT_EQ(r[2].health, Health::login_refused) << text;
  EXPECT_EQ(r[2].refusal, "auth-failed");
  EXPECT_EQ(r[2].resp_code, "AUTH");
  EXPECT_NE(r[2].why.find("login refused [AUTH]"), std::string::npos) << r[2].why;
  EXPECT_EQ(r[2].tls, "stls");
  EXPECT_FALSE(r[2].messages.has_value());

  EXPECT_EQ(r[3].health, Health::unreachable) << text;
  EXPECT_NE(r[3].why.find("cannot connect"), std::string::npos) << r[3].why;

  EXPECT_EQ(accounts_exit_status(r), 1);
  EXPECT_NE(text.find("wrong-password FAILED login-refused"), std::string::npos) << text;
  EXPECT_NE(text.find("unreachable    FAILED unreachable"), std::string::npos) << text;
  EXPECT_NE(text.find("4 account(s), 2 ok, 2 FAILED"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["failed"], 2);
  EXPECT_EQ(j["accounts"][2]["result"], "login-refused");
  EXPECT_EQ(j["accounts"][2]["login"]["resp_code"], "AUTH");
  EXPECT_EQ(j["accounts"][0]["oldest_source"], "date");
  expect_no_credentials("text", text);
  expect_no_credentials("json", json);
  for (const auto& l : env.log) expect_no_credentials("log", l);

  // Read-only: no RETR, no DELE, TOP of message 1 only, every session ended with QUIT.
  for (const Site* site : {&env.one, &env.two}) {
    for (const auto& s : site->provider.session_log()) {
      EXPECT_TRUE(s.retrieved_uidls.empty()) << fake_pop3::to_log_line(s);
      EXPECT_TRUE(s.deleted_uidls.empty()) << fake_pop3::to_log_line(s);
      EXPECT_LE(s.topped_uidls.size(), 1u) << fake_pop3::to_log_line(s);
      EXPECT_TRUE(s.quit) << fake_pop3::to_log_line(s);
      EXPECT_FALSE(s.cleartext_password_while_stls_offered);
    }
  }
  EXPECT_EQ(env.one.provider.session_log().size(), 2u);  // catchall and wrong-password
  EXPECT_EQ(env.two.provider.session_log().size(), 1u);
  const auto one_after = env.one.provider.stored();
  const auto two_after = env.two.provider.stored();
  ASSERT_EQ(one_after.size(), one_before.size());
  ASSERT_EQ(two_after.size(), two_before.size());
  for (std::size_t i = 0; i < one_before.size(); ++i)
    EXPECT_EQ(one_after[i].data, one_before[i].data);
  for (std::size_t i = 0; i < two_before.size(); ++i)
    EXPECT_EQ(two_after[i].data, two_before[i].data);
}

// A server that never greets costs its accounts their deadline, never the others their result;
// at most `parallel` sessions are open at once.
TEST(ProbeAccounts, ConcurrencyIsBoundedAndASilentServerCostsOnlyItsOwnAccounts) {
  Env env;
  std::vector<Account> accounts;
  for (int i = 0; i < 3; ++i) {
    Account a;
    a.name = fmt::format("silent-{}", i);
    a.server = {"127.0.0.1", env.silent.port()};
    a.user = kUserUnreachable;
    a.password = kPassUnreachable;
    accounts.push_back(a);
  }
  Account good;
  good.name = "good";
  good.server = {"127.0.0.1", env.one.pop3.local_endpoint().port()};
  good.ca_file = env.ca_file;
  good.user = kUserOne;
  good.password = kPassOne;
  accounts.push_back(good);
  auto o = env.options();
  o.parallel = 2;
  o.timeout = 300ms;
  o.deadline = 2s;
  const auto started = std::chrono::steady_clock::now();
  const auto r = env.run(accounts, o);
  ASSERT_EQ(r.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r[static_cast<std::size_t>(i)].health, Health::session_failed) << accounts_text(r);
    EXPECT_NE(r[static_cast<std::size_t>(i)].why.find("greeting"), std::string::npos)
        << r[static_cast<std::size_t>(i)].why;
  }
  EXPECT_EQ(r[3].health, Health::ok) << accounts_text(r);
  EXPECT_EQ(env.silent.accepted, 3u);
  EXPECT_EQ(env.silent.max_open, 2u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_EQ(accounts_exit_status(r), 1);
}

// The per-account deadline cuts a session that the per-operation timeout never would: a
// greeting that trickles in one octet at a time.
TEST(ProbeAccounts, DeadlineEndsATricklingServer) {
  Env env;
  Account a;
  a.name = "slow";
  a.server = {"127.0.0.1", env.trickling.port()};
  a.user = kUserUnreachable;
  a.password = kPassUnreachable;
  auto o = env.options();
  o.timeout = 1s;
  o.deadline = 1500ms;
  const auto started = std::chrono::steady_clock::now();
  const auto r = env.run({a}, o);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].health, Health::session_failed);
  EXPECT_NE(r[0].why.find("deadline reached"), std::string::npos) << r[0].why;
  EXPECT_GE(took, 1400ms);
  EXPECT_LT(took, 4s);
  EXPECT_EQ(env.trickling.open, 0u);  // the session was closed
  expect_no_credentials("text", accounts_text(r));
}

}  // namespace
}  // namespace dropcheck::probe

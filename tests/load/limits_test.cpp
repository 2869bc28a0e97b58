// The load and abuse suite, part two (label `load`): kill -9 of fake-smtp under load, the
// descriptor limit (RLIMIT_NOFILE set on the child) and clients that trickle a command.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "fake_smtp/journal.hpp"
#include "load_util.hpp"
#include "net/server.hpp"
#include "protocol/dot.hpp"

namespace dropcheck::load {
namespace {

namespace asio = net::asio;
using net::awaitable;

std::string small_message(std::size_t client, std::size_t k) {
  return fmt::format("Message-ID: <{}.{}@kill.example>\r\nSubject: k\r\n\r\nbody {} {}\r\n", client,
                     k, client, k);
}

// Transactions in one session until the server goes away; each acknowledged (250 after the
// message) is added to `acked`.
awaitable<void> sender(unsigned short port, std::size_t client,
                       std::map<std::string, std::string>& acked, std::size_t& total,
                       std::size_t limit) {
  Client c(co_await asio::this_coro::executor);
  const bool connected = co_await c.connect(port);
  if (!connected) co_return;
  co_await c.smtp_reply();
  co_await c.send("EHLO kill.example\r\n");
  co_await c.smtp_reply();
  for (std::size_t k = 0; k < limit && !c.ec; ++k) {
    const std::string msg = small_message(client, k);
    std::string wire = "MAIL FROM:<k@src.example>\r\nRCPT TO:<u@firma.example>\r\nDATA\r\n";
    protocol::dot_stuff(msg, wire);
    co_await c.send(wire);
    int code = 0;
    for (int i = 0; i < 4 && !c.ec; ++i) code = co_await c.smtp_reply();
    if (code != 250) co_return;
    acked[fmt::format("{}.{}", client, k)] = msg;
    ++total;
  }
}

awaitable<void> killer(Child& server, const std::size_t& total, std::size_t at) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 6000 && total < at; ++i) {  // at most 60 s
    t.expires_after(10ms);
    net::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  server.kill9();
}

TEST(Limits, KillMinus9UnderLoadKeepsEveryAcknowledgedMessage) {
  for (const char* store : {"inline", "files"}) {
    TempDir dir;
    const std::string journal = (dir.path() / "j").string();
    std::vector<std::string> args = {fake_smtp_exe(), "--listen", "127.0.0.1:0",
                                     "--journal",     journal,    "--local-domain",
                                     "firma.example", "--store",  store};
    auto server = std::make_unique<Child>(args, dir.path() / "stderr");
    const unsigned short port = port_of(server->read_line(10s));
    ASSERT_NE(port, 0);
    std::map<std::string, std::string> acked;
    std::size_t total = 0;
    const std::size_t kill_at = long_run() ? 5000 : 300;
    asio::io_context io;
    for (std::size_t i = 0; i < 32; ++i)
      net::spawn_logged(io.get_executor(), sender(port, i, acked, total, 100'000), "sender");
    net::spawn_logged(io.get_executor(), killer(*server, total, kill_at), "killer");
    io.run_for(120s);
    ASSERT_TRUE(io.stopped());
    EXPECT_GE(total, kill_at);
    auto j = fake_smtp::read_journal_contents(journal);
    ASSERT_TRUE(j.ok()) << j.error().message;
    std::size_t intact = 0;
    for (const auto& r : j->records) {
      const auto at = r.message.find("Message-ID: <");
      if (!r.accepted || at == std::string::npos) continue;
      const std::string id = r.message.substr(at + 13, r.message.find('@', at) - at - 13);
      const auto it = acked.find(id);
      if (it != acked.end() && it->second == r.message) ++intact;
    }
    EXPECT_EQ(intact, acked.size()) << store;
    // The journal opens again after the crash (a torn tail cut, spools removed).
    server = std::make_unique<Child>(args, dir.path() / "stderr2");
    EXPECT_NE(port_of(server->read_line(10s)), 0);
    EXPECT_TRUE(fs::is_empty(fs::path(journal) / "spool"));
    EXPECT_EQ(server->stop(), 0);
    std::printf("kill9 store=%s acknowledged=%zu intact=%zu torn_tail=%d\n", store, acked.size(),
                intact, j->torn_tail ? 1 : 0);
  }
}

// Connects `n` clients and reads each one's first line; holds them for `hold`.
struct Held {
  std::size_t greeted = 0;
  std::size_t refused = 0;  // the fd-limit or busy reply
  std::size_t silent = 0;   // no line within the deadline: the failure this guards against
  std::vector<std::unique_ptr<Client>> clients;
};

awaitable<void> hold(unsigned short port, const std::string& ok, Held& h) {
  auto c = std::make_unique<Client>(co_await asio::this_coro::executor);
  c->timeout = 10s;
  const bool connected = co_await c->connect(port);
  if (!connected) {
    ++h.silent;
    co_return;
  }
  const std::string line = co_await c->conn.read_line(512, c->timeout, c->ec);
  if (line.rfind(ok, 0) == 0)
    ++h.greeted;
  else if (line.find("out of file descriptors") != std::string::npos ||
           line.find("too many") != std::string::npos)
    ++h.refused;
  else
    ++h.silent;
  h.clients.push_back(std::move(c));
}

std::size_t count_lines(const fs::path& file, std::string_view what) {
  std::ifstream in(file);
  std::size_t n = 0;
  for (std::string l; std::getline(in, l);) n += l.find(what) != std::string::npos;
  return n;
}

// RLIMIT_NOFILE 40 and 150 clients: each gets a greeting or a refusal at once, the server does
// not spin (CPU time while held at the limit), logs one line per burst, records each refusal,
// and serves a new client normally once the others are gone.
void fd_limit_case(std::vector<std::string> args, const std::string& ok, bool smtp) {
  raise_fd_limit();
  TempDir dir;
  for (auto& a : args)
    if (a == "DIR") a = (dir.path() / "j").string();
  Child server(args, dir.path() / "stderr", 40);
  const unsigned short port = port_of(server.read_line(10s));
  ASSERT_NE(port, 0);
  asio::io_context io;  // outlives the held clients' sockets
  Held h;
  for (int i = 0; i < 150; ++i) net::spawn_logged(io.get_executor(), hold(port, ok, h), "hold");
  io.run_for(60s);
  ASSERT_TRUE(io.stopped());
  const double cpu0 = server.cpu_seconds();
  std::this_thread::sleep_for(1s);  // held at the limit: a spinning accept loop burns ~1 s here
  const double cpu = server.cpu_seconds() - cpu0;
  EXPECT_EQ(h.silent, 0u);
  EXPECT_GT(h.greeted, 0u);
  EXPECT_GT(h.refused, 0u);
  EXPECT_LT(cpu, 0.5) << "CPU seconds in one second at the descriptor limit";
  EXPECT_TRUE(server.alive());
  h.clients.clear();  // all closed: descriptors come back
  Held after;
  io.restart();
  net::spawn_logged(io.get_executor(), hold(port, ok, after), "after");
  io.run_for(30s);
  EXPECT_EQ(after.greeted, 1u) << "served again once the others are gone";
  EXPECT_TRUE(server.alive());
  EXPECT_EQ(server.stop(), 0);
  EXPECT_GE(count_lines(dir.path() / "stderr", "event=accept-failed"), 1u);
  EXPECT_LE(count_lines(dir.path() / "stderr", "event=accept-failed"), 3u) << "once per burst";
  if (smtp) {
    auto s = fake_smtp::read_sessions(dir.path() / "j");
    ASSERT_TRUE(s.ok());
    std::size_t recorded = 0;
    for (const auto& r : s->records) recorded += r.end_reason == "fd-limit";
    EXPECT_EQ(recorded, h.refused);
  } else {
    EXPECT_EQ(count_lines(dir.path() / "stderr", "end=fd-limit"), h.refused);
  }
  std::printf("fd-limit %s nofile=40 clients=150 greeted=%zu refused=%zu silent=%zu cpu=%.2fs\n",
              args[0].c_str(), h.greeted, h.refused, h.silent, cpu);
}

TEST(Limits, FakeSmtpAtTheDescriptorLimitRefusesAndKeepsServing) {
  for (const char* store : {"inline", "files"})
    fd_limit_case({fake_smtp_exe(), "--listen", "127.0.0.1:0", "--journal", "DIR", "--local-domain",
                   "firma.example", "--threads", "1", "--max-sessions", "1000", "--store", store},
                  "220 ", true);
}

TEST(Limits, FakePop3AtTheDescriptorLimitRefusesAndKeepsServing) {
  fd_limit_case({fake_pop3_exe(), "--listen", "127.0.0.1:0", "--user", "catchall", "--password",
                 "pw", "--max-sessions", "1000"},
                "+OK", false);
}

// One octet every 1.5 s with a 2 s idle timeout: the command deadline (2 s from its first
// octet) cuts the client while it is still trickling; before, every octet moved the idle timer.
struct Trickle {
  explicit Trickle(asio::any_io_executor ex) : c(std::move(ex)) {}
  Client c;
  bool done = false;
  int cut_at = 0;  // octets sent when the server had cut the session; 0: never
};

awaitable<void> trickle_reader(std::shared_ptr<Trickle> s) {
  net::error_code ec;
  co_await s->c.conn.read_line(512, 30s, ec);  // SMTP: the 421; POP3: autologout (EOF)
  s->done = true;
}

awaitable<void> trickle(unsigned short port, std::string cmd, std::shared_ptr<Trickle> s) {
  const bool connected = co_await s->c.connect(port);
  if (!connected) co_return;
  co_await s->c.conn.read_line(512, s->c.timeout, s->c.ec);  // greeting
  net::spawn_logged(co_await asio::this_coro::executor, trickle_reader(s), "trickle-reader");
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (std::size_t i = 0; i < 8 && !s->done; ++i) {
    net::error_code ec;
    co_await s->c.conn.write_all(std::string_view(cmd).substr(i, 1), 5s, ec);
    t.expires_after(1500ms);
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (s->done) s->cut_at = static_cast<int>(i) + 1;
  }
  s->c.conn.close();
}

int trickle_cut_at(unsigned short port, std::string cmd) {
  asio::io_context io;
  auto s = std::make_shared<Trickle>(io.get_executor());
  net::spawn_logged(io.get_executor(), trickle(port, std::move(cmd), s), "trickle");
  io.run_for(30s);
  return s->cut_at;
}

TEST(Limits, TricklingClientIsCutAtTheCommandDeadline) {
  TempDir dir;
  Child smtp({fake_smtp_exe(), "--listen", "127.0.0.1:0", "--journal", (dir.path() / "j").string(),
              "--local-domain", "firma.example", "--idle-timeout", "2"},
             dir.path() / "smtp.stderr");
  const unsigned short smtp_port = port_of(smtp.read_line(10s));
  std::ofstream(dir.path() / "p.yaml") << "version: 1\nname: quick\npop3:\n  idle_timeout_s: 2\n";
  Child pop3({fake_pop3_exe(), "--listen", "127.0.0.1:0", "--user", "catchall", "--password", "pw",
              "--profile", (dir.path() / "p.yaml").string()},
             dir.path() / "pop3.stderr");
  const unsigned short pop3_port = port_of(pop3.read_line(10s));
  ASSERT_NE(smtp_port, 0);
  ASSERT_NE(pop3_port, 0);
  const int smtp_cut = trickle_cut_at(smtp_port, "EHLO trickle.example\r\n");
  EXPECT_GE(smtp_cut, 1);
  EXPECT_LE(smtp_cut, 3);
  const int pop3_cut = trickle_cut_at(pop3_port, "USER trickle-user\r\n");
  EXPECT_GE(pop3_cut, 1);
  EXPECT_LE(pop3_cut, 3);
  EXPECT_NE(count_lines(dir.path() / "smtp.stderr", "reason=timeout"), 0u);
  std::printf(
      "trickle idle_timeout=2s octet_every=1.5s smtp_cut_after_octets=%d "
      "pop3_cut_after_octets=%d\n",
      smtp_cut, pop3_cut);
}

}  // namespace
}  // namespace dropcheck::load

// The load and abuse suite (issue 16 item 10; label `load`): fake-smtp and fake-pop3 as child
// processes on 127.0.0.1:0 against in-process loopback clients. The short run is part of
// ctest; DROPCHECK_LOAD=long runs the figures of README.md "Load and abuse suite".
//   - N concurrent sessions on each listener, all held open at once, then every message
//     delivered and journaled (or stored) byte-identical;
//   - generated bad inputs per server, an error reply each, the server up after;
//   - kill -9 of fake-smtp under load: every acknowledged message intact in the journal.
// The descriptor limit and trickling clients: fd_limit_test.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "bad_inputs.hpp"
#include "fake_smtp/journal.hpp"
#include "load_util.hpp"
#include "net/server.hpp"
#include "protocol/dot.hpp"

namespace dropcheck::load {
namespace {

namespace asio = net::asio;
using net::awaitable;

std::size_t sessions() { return 1000; }
std::size_t bad_inputs() { return long_run() ? 10000 : 2000; }

std::string message(std::size_t i, std::size_t filler_lines) {
  std::string m = fmt::format(
      "From: load@src.example\r\nTo: u{}@firma.example\r\nMessage-ID: <{}@load.example>\r\n"
      "Subject: load {}\r\n\r\n",
      i, i, i);
  for (std::size_t k = 0; k < filler_lines; ++k)
    m += k % 7 == 0 ? ".a line starting with a dot\r\n" : fmt::format("line {} of {}\r\n", k, i);
  return m;
}

std::string id_of(std::string_view msg) {
  const auto at = msg.find("Message-ID: <");
  if (at == std::string_view::npos) return {};
  const auto end = msg.find('>', at);
  return std::string(msg.substr(at + 13, end - at - 13));
}

struct Tally {
  std::size_t ok = 0;
  std::vector<std::string> failures;  // the first few
  void fail(std::string what) {
    if (failures.size() < 10) failures.push_back(std::move(what));
  }
};

// Connects and reads the greeting (SMTP 220, POP3 +OK); on failure opens the gate for the others.
awaitable<bool> greeted(Client& c, unsigned short port, bool smtp, Gate& gate, Tally& t) {
  const bool connected = co_await c.connect(port);
  int code = -1;
  if (connected && smtp) code = co_await c.smtp_reply();
  if (connected && !smtp) code = co_await c.pop3_status();
  if (code == (smtp ? 220 : 1)) co_return true;
  gate.give_up();
  t.fail(fmt::format("greeting {}", code));
  co_return false;
}

// One SMTP session: greeting, wait at the gate (every session open at once), one message.
awaitable<void> smtp_session(unsigned short port, Gate& gate, std::string msg, Tally& t) {
  Client c(co_await asio::this_coro::executor);
  const bool ok = co_await greeted(c, port, true, gate, t);
  if (!ok) co_return;
  co_await gate.arrive_and_wait();
  int code = -1;
  std::string wire;
  protocol::dot_stuff(msg, wire);
  const std::string head =
      "EHLO load.example\r\nMAIL FROM:<load@src.example>\r\n"
      "RCPT TO:<u@firma.example>\r\nDATA\r\n";
  co_await c.send(head);
  for (int expect : {250, 250, 250, 354}) {
    code = co_await c.smtp_reply();
    if (code != expect) {
      t.fail(fmt::format("{} instead of {}", code, expect));
      co_return;
    }
  }
  co_await c.send(wire + "QUIT\r\n");
  code = co_await c.smtp_reply();
  if (code != 250) {
    t.fail(fmt::format("{} after the message", code));
    co_return;
  }
  ++t.ok;
}

void run_io(asio::io_context& io, std::chrono::seconds bound) {
  io.run_for(bound);
  ASSERT_TRUE(io.stopped()) << "clients still running after " << bound.count() << " s";
}

TEST(Load, FakeSmtpHoldsEverySessionAndJournalsEveryMessageByteIdentical) {
  raise_fd_limit();
  for (const char* store : {"inline", "files"}) {
    TempDir dir;
    Child server({fake_smtp_exe(), "--listen", "127.0.0.1:0", "--journal",
                  (dir.path() / "j").string(), "--local-domain", "firma.example", "--store", store,
                  "--max-sessions", "2000", "--threads", "1"},
                 dir.path() / "stderr");
    const unsigned short port = port_of(server.read_line(10s));
    ASSERT_NE(port, 0);
    const long base_kib = server.rss_kib();
    const std::size_t n = sessions();
    std::map<std::string, std::string> sent;
    asio::io_context io;
    Gate gate(io.get_executor(), n);
    Tally t;
    for (std::size_t i = 0; i < n; ++i) {
      sent[fmt::format("{}@load.example", i)] = message(i, 40 + i % 50);
      net::spawn_logged(io.get_executor(),
                        smtp_session(port, gate, sent[fmt::format("{}@load.example", i)], t),
                        "load-client");
    }
    run_io(io, 120s);
    EXPECT_EQ(t.ok, n) << store << ": " << (t.failures.empty() ? "" : t.failures[0]);
    const long peak_kib = server.peak_rss_kib();
    EXPECT_TRUE(server.alive());
    EXPECT_EQ(server.stop(), 0);
    auto j = fake_smtp::read_journal_contents(dir.path() / "j");
    ASSERT_TRUE(j.ok()) << j.error().message;
    std::size_t same = 0;
    for (const auto& r : j->records)
      if (r.accepted && sent.count(id_of(r.message)) && sent[id_of(r.message)] == r.message) ++same;
    EXPECT_EQ(same, n) << store;
    std::printf(
        "load fake-smtp store=%s sessions=%zu journaled_identical=%zu base_rss_kib=%ld "
        "peak_rss_kib=%ld per_session_kib=%.1f\n",
        store, n, same, base_kib, peak_kib,
        static_cast<double>(peak_kib - base_kib) / static_cast<double>(n));
  }
}

// MX intake: one message per session; POP3: every session greeted and held, one logs in and
// retrieves every stored copy, which must end with the message as sent.
awaitable<void> mx_session(unsigned short port, Gate& gate, std::string msg, Tally& t) {
  co_await smtp_session(port, gate, std::move(msg), t);
}

awaitable<void> pop3_held(unsigned short port, Gate& gate, Tally& t) {
  Client c(co_await asio::this_coro::executor);
  const bool ok = co_await greeted(c, port, false, gate, t);
  if (!ok) co_return;
  co_await gate.arrive_and_wait();
  co_await c.send("QUIT\r\n");
  const int bye = co_await c.pop3_status();
  if (bye == 1) ++t.ok;
}

awaitable<void> pop3_drain(unsigned short port, std::size_t n,
                           const std::map<std::string, std::string>& sent, Tally& t) {
  Client c(co_await asio::this_coro::executor);
  const bool connected = co_await c.connect(port);
  if (!connected) {
    t.fail("drain connect");
    co_return;
  }
  co_await c.pop3_status();
  co_await c.send("USER catchall\r\nPASS load-pw\r\n");
  co_await c.pop3_status();
  const int login = co_await c.pop3_status();
  if (login != 1) {
    t.fail("login");
    co_return;
  }
  for (std::size_t i = 1; i <= n; ++i) {
    const std::string retr = fmt::format("RETR {}\r\n", i);
    co_await c.send(retr);
    const int status = co_await c.pop3_status();
    if (status != 1) {
      t.fail(fmt::format("RETR {}", i));
      co_return;
    }
    protocol::DotDecoder d(protocol::DotDecoder::Terminator::crlf_only);
    while (!d.done() && !c.ec) {
      const std::string line = co_await c.conn.read_line(64 * 1024, c.timeout, c.ec);
      d.feed(line);
    }
    const auto it = sent.find(id_of(d.body()));
    if (it != sent.end() && d.body().ends_with(it->second))
      ++t.ok;
    else
      t.fail(fmt::format("message {} differs", i));
  }
  co_await c.send("QUIT\r\n");
  co_await c.pop3_status();
}

TEST(Load, FakePop3HoldsEverySessionOnBothListenersAndStoresEveryMessage) {
  raise_fd_limit();
  TempDir dir;
  std::ofstream(dir.path() / "pw") << "load-pw\n";
  Child server({fake_pop3_exe(), "--listen", "127.0.0.1:0", "--mx-listen", "127.0.0.1:0", "--user",
                "catchall", "--password-file", (dir.path() / "pw").string(), "--max-sessions",
                "2000", "--mx-max-sessions", "2000"},
               dir.path() / "stderr");
  unsigned short pop3 = 0, mx = 0;
  for (int i = 0; i < 2; ++i) {
    const std::string line = server.read_line(10s);
    (line.rfind("mx ", 0) == 0 ? mx : pop3) = port_of(line);
  }
  ASSERT_NE(pop3, 0);
  ASSERT_NE(mx, 0);
  const std::size_t n = sessions();
  std::map<std::string, std::string> sent;
  {
    asio::io_context io;
    Gate gate(io.get_executor(), n);
    Tally t;
    for (std::size_t i = 0; i < n; ++i) {
      sent[fmt::format("{}@load.example", i)] = message(i, 20 + i % 30);
      net::spawn_logged(io.get_executor(),
                        mx_session(mx, gate, sent[fmt::format("{}@load.example", i)], t), "mx");
    }
    run_io(io, 120s);
    EXPECT_EQ(t.ok, n) << (t.failures.empty() ? "" : t.failures[0]);
  }
  asio::io_context io;
  Gate gate(io.get_executor(), n);
  Tally held, drained;
  for (std::size_t i = 0; i < n; ++i)
    net::spawn_logged(io.get_executor(), pop3_held(pop3, gate, held), "pop3");
  net::spawn_logged(io.get_executor(), pop3_drain(pop3, n, sent, drained), "drain");
  run_io(io, 120s);
  EXPECT_EQ(held.ok, n) << (held.failures.empty() ? "" : held.failures[0]);
  EXPECT_EQ(drained.ok, n) << (drained.failures.empty() ? "" : drained.failures[0]);
  std::printf(
      "load fake-pop3 mx_sessions=%zu pop3_sessions=%zu retrieved_identical=%zu "
      "peak_rss_kib=%ld\n",
      n, n + 1, drained.ok, server.peak_rss_kib());
  EXPECT_TRUE(server.alive());
  EXPECT_EQ(server.stop(), 0);
}

// Bad lines over connections of at most `per` lines each (under the servers' error budgets),
// `parallel` connections at a time; every line must get an error reply.
struct AbuseRun {
  bool smtp = true;
  unsigned short port = 0;
  std::size_t total = 0;
  std::size_t per = 15;
  std::size_t replies = 0;  // error replies counted
  std::size_t wrong = 0;    // positive or missing replies
  std::string first_wrong;
};

// An SMTP reply code, or a POP3 status (1 +OK, 0 -ERR); -1 on failure.
awaitable<int> reply_of(Client& c, bool smtp, std::string* last = nullptr) {
  int code = -1;
  if (smtp) {
    code = co_await c.smtp_reply(last);
  } else {
    code = co_await c.pop3_status(last);
  }
  co_return code;
}

awaitable<void> abuse_connection(AbuseRun& a, std::vector<std::string> lines) {
  Client c(co_await asio::this_coro::executor);
  const bool connected = co_await c.connect(a.port);
  if (!connected) {
    ++a.wrong;
    co_return;
  }
  int greeting = co_await reply_of(c, a.smtp);
  if (a.smtp) {
    co_await c.send("EHLO abuse.example\r\n");
    greeting = co_await c.smtp_reply();
  }
  if (greeting != (a.smtp ? 250 : 1)) {
    a.wrong += lines.size();
    co_return;
  }
  std::string batch;
  for (const auto& l : lines) batch += l + "\r\n";
  co_await c.send(batch);
  for (const auto& l : lines) {
    std::string last;
    const int code = co_await reply_of(c, a.smtp, &last);
    const bool error = a.smtp ? code >= 400 : code == 0;
    if (error) {
      ++a.replies;
    } else {
      if (a.wrong++ == 0) a.first_wrong = fmt::format("{:?} -> {:?}", l, last);
    }
  }
  co_await c.send("QUIT\r\n");
}

awaitable<void> abuse(AbuseRun& a, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::size_t sent = 0;
  while (sent < a.total) {
    std::vector<std::string> lines;
    for (; lines.size() < a.per && sent < a.total; ++sent)
      lines.push_back(a.smtp ? bad_smtp_line(rng) : bad_pop3_line(rng));
    co_await abuse_connection(a, std::move(lines));
  }
}

void abuse_server(bool smtp, unsigned short port, std::size_t per, const char* what) {
  asio::io_context io;
  std::vector<AbuseRun> runs(8);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    runs[i].smtp = smtp;
    runs[i].port = port;
    runs[i].total = bad_inputs() / runs.size();
    runs[i].per = per;
    net::spawn_logged(io.get_executor(), abuse(runs[i], static_cast<std::uint32_t>(16 + i)),
                      "abuse");
  }
  run_io(io, 300s);
  std::size_t replies = 0, wrong = 0;
  for (const auto& r : runs) {
    replies += r.replies;
    wrong += r.wrong;
    EXPECT_EQ(r.wrong, 0u) << what << ": " << r.first_wrong;
  }
  EXPECT_EQ(replies, bad_inputs()) << what;
  std::printf("abuse %s bad_inputs=%zu error_replies=%zu wrong=%zu\n", what, bad_inputs(), replies,
              wrong);
}

TEST(Load, EveryBadInputGetsAnErrorReplyAndTheServersStayUp) {
  raise_fd_limit();
  TempDir dir;
  Child smtp({fake_smtp_exe(), "--listen", "127.0.0.1:0", "--journal", (dir.path() / "j").string(),
              "--local-domain", "firma.example"},
             dir.path() / "smtp.stderr");
  const unsigned short smtp_port = port_of(smtp.read_line(10s));
  Child pop3({fake_pop3_exe(), "--listen", "127.0.0.1:0", "--mx-listen", "127.0.0.1:0", "--user",
              "catchall", "--password", "pw"},
             dir.path() / "pop3.stderr");
  unsigned short pop3_port = 0, mx_port = 0;
  for (int i = 0; i < 2; ++i) {
    const std::string line = pop3.read_line(10s);
    (line.rfind("mx ", 0) == 0 ? mx_port : pop3_port) = port_of(line);
  }
  ASSERT_NE(smtp_port, 0);
  ASSERT_NE(pop3_port, 0);
  abuse_server(true, smtp_port, 15, "fake-smtp");
  abuse_server(true, mx_port, 15, "fake-pop3-mx");
  abuse_server(false, pop3_port, 8, "fake-pop3");
  // Up after: one good message each way.
  asio::io_context io;
  Gate gate(io.get_executor(), 2);
  Tally t;
  net::spawn_logged(io.get_executor(), smtp_session(smtp_port, gate, message(1, 3), t), "after");
  net::spawn_logged(io.get_executor(), smtp_session(mx_port, gate, message(2, 3), t), "after");
  run_io(io, 60s);
  EXPECT_EQ(t.ok, 2u);
  EXPECT_TRUE(smtp.alive());
  EXPECT_TRUE(pop3.alive());
}

}  // namespace
}  // namespace dropcheck::load

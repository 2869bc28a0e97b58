// fake-smtp over TCP: net::Server on 127.0.0.1:0 in one io_context, a client coroutine, a
// bounded run_for. No sleeps, no fixed ports.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <memory>
#include <vector>

#include "base/clock.hpp"
#include "net/asio.hpp"
#include "net/connection.hpp"
#include "net/server.hpp"
#include "test_util.hpp"

namespace dropcheck::fake_smtp {
namespace {

using namespace std::chrono_literals;

struct Harness {
  test::TempDir dir;
  Journal journal{dir.path()};
  base::SystemClock clock;
  net::asio::io_context io;
  std::unique_ptr<Receiver> receiver;
  std::unique_ptr<net::Server> server;
  explicit Harness(Policy p, net::ServerOptions opts = {}) {
    p.local_domains = {"firma.example"};
    receiver = std::make_unique<Receiver>(p, journal, clock);
    receiver->set_starttls(opts.tls != nullptr);
    server = std::make_unique<net::Server>(io, net::parse_endpoint("127.0.0.1:0"),
                                           receiver->factory(), opts);
    server->start();
  }
};

// Sends `script` after the greeting in one write (pipelined), reads until the server closes.
net::awaitable<void> client(net::tcp::endpoint ep, std::string script, std::string& transcript,
                            bool& done, net::Server* stop_when_done = nullptr) {
  net::Connection c(co_await net::asio::this_coro::executor);
  net::error_code ec;
  co_await c.connect(ep, 5s, ec);
  if (ec) co_return;
  transcript += co_await c.read_line(1000, 5s, ec);
  co_await c.write_all(script, 5s, ec);
  while (!ec) {
    std::string line = co_await c.read_line(1000, 5s, ec);
    transcript += line;
  }
  done = true;
  if (stop_when_done) stop_when_done->stop();  // run_for returns as soon as all work is done
}

// `n` clients at once, each sending one message, run until all are done (bounded: 4 s). The
// clients write into this object's heap storage (its addresses survive a move), so a caller
// keeps it until the io_context stops running them.
struct ConcurrentMessages {
  std::vector<std::string> transcripts;
  std::unique_ptr<bool[]> done;
};
ConcurrentMessages concurrent_messages(net::asio::io_context& io, net::tcp::endpoint ep, int n) {
  const auto count = static_cast<std::size_t>(n);
  ConcurrentMessages m{std::vector<std::string>(count), std::make_unique<bool[]>(count)};
  for (std::size_t i = 0; i < count; ++i)
    net::spawn_logged(
        io.get_executor(),
        client(ep,
               "EHLO it\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<hans@firma.example>\r\n"
               "DATA\r\nSubject: g\r\n\r\nx\r\n.\r\nQUIT\r\n",
               m.transcripts[i], m.done[i]),
        "client");
  const auto all_done = [&] {
    return std::all_of(m.done.get(), m.done.get() + count, [](bool d) { return d; });
  };
  for (int k = 0; k < 200 && !all_done(); ++k) io.run_for(20ms);
  for (std::size_t i = 0; i < count; ++i) EXPECT_TRUE(m.done[i]) << "client " << i;
  return m;
}

TEST(FakeSmtpIntegration, PipelinedSessionOverTcp) {
  Harness h({});
  std::string transcript;
  bool done = false;
  net::spawn_logged(
      h.io.get_executor(),
      client(h.server->local_endpoint(),
             "EHLO it\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<hans@firma.example>\r\n"
             "RCPT TO:<x@foreign.example>\r\nDATA\r\nSubject: it\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
             transcript, done, h.server.get()),
      "client");
  h.io.run_for(10s);
  ASSERT_TRUE(done) << transcript;
  EXPECT_NE(transcript.find("550 5.7.1"), std::string::npos) << transcript;
  EXPECT_NE(transcript.find("250 2.0.0 Ok: queued"), std::string::npos) << transcript;
  EXPECT_NE(transcript.find("221 2.0.0"), std::string::npos) << transcript;
  h.server->stop();
  h.io.run_for(2s);
  auto recs = read_journal(h.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ((*recs)[0].message, "Subject: it\r\n\r\n.dot\r\n");
  EXPECT_EQ((*recs)[0].client.rfind("127.0.0.1:", 0), 0u);
}

TEST(FakeSmtpIntegration, StopEndsOpenTransactionAsShutdown) {
  Harness h({});
  std::string transcript;
  bool done = false;
  net::spawn_logged(h.io.get_executor(),
                    client(h.server->local_endpoint(),
                           "EHLO it\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<hans@firma.example>\r\n",
                           transcript, done),
                    "client");
  // Run until both RCPT replies arrived, then stop the server.
  for (int i = 0; i < 100 && transcript.find("2.1.5") == std::string::npos; ++i) h.io.run_for(20ms);
  h.server->stop();
  h.io.run_for(5s);
  EXPECT_TRUE(done);
  auto recs = read_journal(h.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ((*recs)[0].end_reason, "shutdown");
}

// A slow server on purpose: the RCPT reply waits 300 ms, other replies do not.
TEST(FakeSmtpIntegration, ReplyDelayHoldsOnlyItsStage) {
  Policy p;
  p.faults.reply_delay[static_cast<std::size_t>(ReplyStage::rcpt)] = 300ms;
  Harness h(p);
  std::string transcript;
  bool done = false;
  const auto t0 = std::chrono::steady_clock::now();
  net::spawn_logged(h.io.get_executor(),
                    client(h.server->local_endpoint(),
                           "EHLO it\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<hans@firma.example>\r\n"
                           "RSET\r\nQUIT\r\n",
                           transcript, done, h.server.get()),
                    "client");
  h.io.run_for(10s);
  ASSERT_TRUE(done) << transcript;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  EXPECT_NE(transcript.find("250 2.1.5"), std::string::npos) << transcript;
  auto recs = read_journal(h.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ((*recs)[0].faults, std::vector<std::string>{"delay-rcpt-300ms"});
}

// --fsync with group commit: concurrent sessions each get their 250 only once a sync covers
// their record; the syncs are shared.
TEST(FakeSmtpIntegration, GroupCommitAnswersEveryoneAfterTheSync) {
  test::TempDir dir;
  Journal journal(dir.path(), true);
  journal.set_group_commit(true);
  base::SystemClock clock;
  net::asio::io_context io;
  Policy p;
  p.local_domains = {"firma.example"};
  Receiver receiver(p, journal, clock);
  int deferred = 0;  // records appended without a sync of their own
  receiver.set_on_record([&](const TransactionRecord& r) {
    if (journal.synced() < r.seq) ++deferred;
  });
  net::Server server(io, net::parse_endpoint("127.0.0.1:0"), receiver.factory());
  server.start();
  constexpr int kClients = 6;
  const auto run = concurrent_messages(io, server.local_endpoint(), kClients);
  for (const auto& t : run.transcripts)
    EXPECT_NE(t.find("250 2.0.0 Ok: queued"), std::string::npos) << t;
  EXPECT_EQ(journal.records(), static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(deferred, kClients);
  EXPECT_EQ(journal.synced(), journal.records());  // the 250s went out after the syncs
  server.stop();
  io.run_for(1s);
}

// --fsync with group commit when fdatasync fails (a disk error): nobody gets a 250 for a record
// that is not on disk; every waiting session is answered 421 and the receiver reports failure.
TEST(FakeSmtpIntegration, GroupCommitSyncFailureAnswers421ToEveryWaiter) {
  test::TempDir dir;
  Journal journal(dir.path(), true);
  journal.set_group_commit(true);
  static int calls = 0;
  calls = 0;
  journal.set_datasync([](int) {
    ++calls;
    errno = EIO;
    return -1;
  });
  base::SystemClock clock;
  net::asio::io_context io;
  Policy p;
  p.local_domains = {"firma.example"};
  Receiver receiver(p, journal, clock);
  std::string fatal;
  receiver.set_on_fatal([&](const std::string& e) { fatal = e; });
  net::Server server(io, net::parse_endpoint("127.0.0.1:0"), receiver.factory());
  server.start();
  const auto run = concurrent_messages(io, server.local_endpoint(), 3);
  for (const auto& t : run.transcripts) {
    EXPECT_EQ(t.find("250 2.0.0 Ok: queued"), std::string::npos) << t;
    EXPECT_NE(t.find("421 4.3.0"), std::string::npos) << t;
  }
  EXPECT_GE(calls, 1);
  EXPECT_EQ(journal.synced(), 0u);
  EXPECT_TRUE(receiver.failed());
  EXPECT_NE(fatal.find("cannot fsync"), std::string::npos) << fatal;
  server.stop();
  io.run_for(1s);
}

// stop() is not held up by a long deliberate delay (the greeting waits 10 minutes here).
TEST(FakeSmtpIntegration, StopEndsALongReplyDelay) {
  Policy p;
  p.faults.reply_delay[static_cast<std::size_t>(ReplyStage::greeting)] = std::chrono::minutes(10);
  Harness h(p);
  std::string transcript;
  bool done = false;
  net::spawn_logged(h.io.get_executor(),
                    client(h.server->local_endpoint(), "QUIT\r\n", transcript, done), "client");
  h.io.run_for(300ms);
  EXPECT_TRUE(transcript.empty()) << transcript;  // still waiting for the greeting
  const auto t0 = std::chrono::steady_clock::now();
  h.server->stop();
  for (int i = 0; i < 100 && (!done || h.server->active_sessions() != 0); ++i) h.io.run_for(50ms);
  EXPECT_TRUE(done);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  EXPECT_EQ(h.server->active_sessions(), 0u);
}

TEST(FakeSmtpIntegration, StartTls) {
  net::ServerOptions opts;
  opts.tls = net::make_server_tls(net::make_self_signed());
  Harness h({}, opts);
  std::string transcript;
  bool done = false;
  auto ep = h.server->local_endpoint();
  auto task = [&]() -> net::awaitable<void> {
    net::Connection c(co_await net::asio::this_coro::executor);
    net::error_code ec;
    co_await c.connect(ep, 5s, ec);
    transcript += co_await c.read_line(1000, 5s, ec);
    co_await c.write_all("EHLO t\r\nSTARTTLS\r\n", 5s, ec);
    for (;;) {
      std::string l = co_await c.read_line(1000, 5s, ec);
      transcript += l;
      if (ec || l.starts_with("220 ")) break;
    }
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.set_verify_mode(net::ssl::verify_none);
    co_await c.handshake_client(ctx, "localhost", 5s, ec);
    if (ec) co_return;
    co_await c.write_all(
        "EHLO t\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<h@firma.example>\r\n"
        "DATA\r\nsecret\r\n.\r\nQUIT\r\n",
        5s, ec);
    while (!ec) transcript += co_await c.read_line(1000, 5s, ec);
    done = true;
    h.server->stop();
  };
  net::spawn_logged(h.io.get_executor(), task(), "tls-client");
  h.io.run_for(10s);
  ASSERT_TRUE(done) << transcript;
  EXPECT_NE(transcript.find("STARTTLS\r\n"), std::string::npos) << transcript;
  auto recs = read_journal(h.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_TRUE((*recs)[0].tls);
  EXPECT_EQ((*recs)[0].message, "secret\r\n");
}

}  // namespace
}  // namespace dropcheck::fake_smtp

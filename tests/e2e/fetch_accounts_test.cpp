// `dropcheck fetch` with several accounts, as a child process against a fake provider with two
// mailboxes (in process, on 127.0.0.1): a refused login exits 5 with an alert naming the
// account, the other account is fetched all the same, and `--daemon` backs off the refused
// account while it keeps polling the other (issue T2 4/7, item 2).
#include <gtest/gtest.h>
#include <stdlib.h>

// GCC 12 false positive on Asio's awaitable frame allocator (GCC PR 109224, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/clock.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "fake_smtp/receiver.hpp"
#include "net/server.hpp"
#include "runner/external.hpp"

namespace dropcheck::runner {
namespace {

namespace fs = std::filesystem;
namespace asio = net::asio;

constexpr char kCatchallPassword[] = "pw-catchall-7Hq2";
constexpr char kAnnaPassword[] = "pw-anna-new-3Kd9";     // changed at the provider
constexpr char kAnnaOldPassword[] = "pw-anna-old-5Zr1";  // still in the fetcher's config
constexpr char kMessage[] =
    "From: s@sender.example\r\nTo: x@firma.example\r\nSubject: t\r\n\r\nbody\r\n";

struct Stack {
  fs::path dir;
  base::SystemClock clock;
  asio::io_context io;
  fake_pop3::Provider provider{
      fake_pop3::load_profile("x-envelope-to").value(),
      std::vector<fake_pop3::Mailbox>{{"catchall", kCatchallPassword, {}, true},
                                      {"anna", kAnnaPassword, {"anna@firma.example"}, false}},
      clock};
  fake_smtp::Journal journal;
  fake_smtp::Receiver receiver;
  net::Server smtp;
  net::Server pop;

  explicit Stack(fs::path d)
      : dir(std::move(d)),
        journal(dir / "journal"),
        receiver(policy(), journal, clock),
        smtp(io, {asio::ip::make_address("127.0.0.1"), 0}, receiver.factory()),
        pop(
            io, {asio::ip::make_address("127.0.0.1"), 0},
            [this](const net::Peer& p) { return provider.make_pop3_session(p); },
            provider.pop3_server_options()) {
    provider.deliver("s@sender.example", {"info@firma.example"}, kMessage);
    provider.deliver("s@sender.example", {"anna@firma.example"}, kMessage);
    smtp.start();
    pop.start();
  }

  static fake_smtp::Policy policy() {
    fake_smtp::Policy p;
    p.local_domains = {"firma.example"};
    return p;
  }

  std::string config() const {
    const auto write = [&](const std::string& name, const std::string& text) {
      std::ofstream(dir / name) << text << "\n";
      return (dir / name).string();
    };
    const std::string yaml = fmt::format(
        "version: 1\nname: firma\nstate_dir: {}\n"
        "smtp: {{host: 127.0.0.1, port: {}}}\n"
        "routing: {{local_domains: [firma.example], fallback: postmaster@firma.example}}\n"
        "accounts:\n"
        "  - {{name: catchall, pop3: {{host: 127.0.0.1, port: {}, user: catchall, "
        "password_file: {}}}}}\n"
        "  - {{name: anna, mode: single, deliver_to: anna@firma.example, pop3: {{host: "
        "127.0.0.1, port: {}, user: anna, password_file: {}}}}}\n",
        (dir / "state").string(), smtp.local_endpoint().port(), pop.local_endpoint().port(),
        write("catchall.pw", kCatchallPassword), pop.local_endpoint().port(),
        write("anna.pw", kAnnaOldPassword));
    return write("fetch.yaml", yaml);
  }

  // Runs `dropcheck ARGS` until it exits or `timeout` (then SIGKILL), serving meanwhile.
  ChildResult run(std::vector<std::string> args, std::chrono::milliseconds timeout) {
    ChildSpec spec;
    spec.argv = {DROPCHECK_BINARY};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.output_path = (dir / "fetch.log").string();
    spec.timeout = timeout;
    ChildResult result;
    net::spawn_logged(
        io.get_executor(),
        [](Stack& s, ChildSpec c, ChildResult& out) -> net::awaitable<void> {
          out = co_await run_child(c);
          s.smtp.stop();
          s.pop.stop();
        }(*this, spec, result),
        "dropcheck fetch");
    io.run_for(timeout + std::chrono::seconds(10));
    return result;
  }

  std::string output() const {
    std::ifstream in(dir / "fetch.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // POP3 sessions that tried `user`, and those of them refused.
  std::pair<std::size_t, std::size_t> sessions(const std::string& user) const {
    std::size_t tried = 0, refused = 0;
    for (const auto& e : provider.session_log()) {
      if (e.user != user) continue;
      ++tried;
      if (e.auth_result == "bad-credentials") ++refused;
    }
    return {tried, refused};
  }
};

fs::path temp_dir() {
  std::string t = (fs::temp_directory_path() / "dropcheck-fetch-XXXXXX").string();
  if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp");
  return t;
}

TEST(FetchAccounts, ARefusedLoginExitsFiveNamesTheAccountAndStopsNoOther) {
  const fs::path dir = temp_dir();
  Stack s(dir);
  const ChildResult r =
      s.run({"fetch", "--config", s.config(), "--once"}, std::chrono::seconds(30));
  const std::string out = s.output();
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 5) << out;
  EXPECT_NE(out.find("event=auth-failed alert=yes account=anna"), std::string::npos) << out;
  for (const char* secret : {kCatchallPassword, kAnnaPassword, kAnnaOldPassword})
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << " in the output";
  // The catch-all was fetched and emptied; anna's mail waits at the provider, not lost.
  EXPECT_TRUE(s.provider.stored("catchall").empty());
  EXPECT_EQ(s.provider.stored("anna").size(), 1u);
  EXPECT_EQ(s.sessions("anna").second, 1u);
  fs::remove_all(dir);
}

// Rounds every second for about 6.5 s: the catch-all is polled every round, anna's refused
// login only after 1, 2, 4 ... intervals, and every round repeats the alert.
TEST(FetchAccounts, TheDaemonBacksOffARefusedAccountAndRepeatsTheAlert) {
  const fs::path dir = temp_dir();
  Stack s(dir);
  const ChildResult r = s.run({"fetch", "--config", s.config(), "--daemon", "--interval", "1s"},
                              std::chrono::milliseconds(6500));
  const std::string out = s.output();
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_TRUE(r.timed_out) << "the daemon stopped by itself: " << out;
  const auto [catchall, catchall_refused] = s.sessions("catchall");
  const auto [anna, anna_refused] = s.sessions("anna");
  EXPECT_GE(catchall, 5u) << out;
  EXPECT_EQ(catchall_refused, 0u);
  EXPECT_GE(anna_refused, 2u) << out;
  EXPECT_LE(anna_refused, 3u) << "no back-off: " << out;
  std::size_t waiting = 0;
  for (auto at = out.find("waiting=yes"); at != std::string::npos;
       at = out.find("waiting=yes", at + 1))
    ++waiting;
  EXPECT_GE(waiting, 2u) << out;
  EXPECT_EQ(s.provider.stored("anna").size(), 1u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dropcheck::runner

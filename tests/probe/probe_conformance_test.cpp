// The probe and the fetcher core against a real provider stack started by the
// test on loopback high ports: Postfix as the MX (virtual(8) delivery of a
// catch-all domain into a Maildir, which prepends Return-Path, X-Original-To
// and Delivered-To) and Dovecot's POP3 server on that Maildir, offering STLS
// with a certificate for localhost signed by a test CA the script makes
// (DIR/tls/ca.pem; provider_stack.sh; everything in a temp dir, stopped in
// TearDown). Skipped, with the reason, where the machine
// cannot run the stack (provider_stack.sh exits 77: no root, postfix or
// dovecot-pop3d missing, the temp dir unreachable for their users); any other
// start failure fails with postfix check's output and both peers' logs.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

// GCC 12 false positive on Asio's awaitable frame allocator (GCC PR 109224,
// fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "base/clock.hpp"
#include "client/smtp.hpp"
#include "fake_pop3/profile.hpp"
#include "fake_smtp/journal.hpp"
#include "fake_smtp/receiver.hpp"
#include "fetcher/config.hpp"
#include "fetcher/fetcher.hpp"
#include "net/asio.hpp"
#include "net/server.hpp"
#include "probe/probe.hpp"

namespace dropcheck::probe {
namespace {

using namespace std::chrono_literals;

constexpr char kUser[] = "catchall";
constexpr char kPassword[] = "Stack-pw-71x";
constexpr char kDomain[] = "firma.example";

std::uint16_t free_port() {
  net::asio::io_context io;
  net::tcp::acceptor a(io, {net::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

bool accepts(std::uint16_t port) {
  net::asio::io_context io;
  net::tcp::socket s(io);
  net::error_code ec;
  s.connect({net::asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

std::string quote(const std::string &s) { return "'" + s + "'"; }

// A whole small file (a log the stack wrote); empty when absent.
std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class ProviderStack : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (Postfix and Dovecot drop privileges)";
    for (const char *bin : {"/usr/sbin/postfix", "/usr/sbin/dovecot"})
      if (!std::filesystem::exists(bin))
        GTEST_SKIP() << bin << " missing: apt-get install postfix dovecot-pop3d";
    std::string t = "/tmp/dropcheck-probe-stack-XXXXXX";
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    smtp_port_ = free_port();
    pop3_port_ = free_port();
    while (pop3_port_ == smtp_port_) pop3_port_ = free_port();
    const std::string cmd = fmt_cmd("start") + " " + std::to_string(smtp_port_) + " " +
                            std::to_string(pop3_port_) + " " + kDomain + " " + kUser + " " +
                            quote(kPassword) + " >" + dir_ + "/stack.log 2>&1";
    started_ = true;
    const int rc = std::system(cmd.c_str());
    // The script's stderr: the skip reason, or the failure with postfix check,
    // Postfix's log (master and daemons) and Dovecot's log.
    const std::string log = slurp(dir_ + "/stack.log");
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
      GTEST_SKIP() << "provider stack cannot run here: " << log;
    diag_reported_ = rc != 0;
    ASSERT_EQ(rc, 0) << "provider_stack.sh start failed (" << dir_ << " kept):\n" << log;
    // Bounded wait for both listeners (Postfix's master and Dovecot start
    // asynchronously).
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
      up = accepts(smtp_port_) && accepts(pop3_port_);
      if (!up) std::this_thread::sleep_for(100ms);
    }
    diag_reported_ = !up;
    ASSERT_TRUE(up) << "the stack did not listen within 10 s (" << dir_ << " kept):\n" << diag();
    pw_file_ = dir_ + "/probe.pw";
    std::ofstream(pw_file_) << kPassword << "\n";
  }

  void TearDown() override {
    // A failure in the test body: the peers' side of the story.
    if (started_ && !diag_reported_ && ::testing::Test::HasFailure() && !IsSkipped())
      std::cout << "provider stack diagnostics (" << dir_ << " kept):\n" << diag();
    if (started_) {
      const std::string cmd = fmt_cmd("stop") + " >/dev/null 2>&1";
      EXPECT_EQ(std::system(cmd.c_str()), 0);
    }
    if (!dir_.empty() && !::testing::Test::HasFailure()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  // provider_stack.sh diag: postfix check, Postfix's and Dovecot's logs.
  std::string diag() const {
    const std::string out = dir_ + "/diag.log";
    const std::string cmd = fmt_cmd("diag") + " >" + out + " 2>&1";
    if (std::system(cmd.c_str()) != 0) return "(provider_stack.sh diag failed)\n" + slurp(out);
    return slurp(out);
  }

  std::string fmt_cmd(const char *verb) const {
    return std::string("sh ") + DROPCHECK_PROBE_STACK + " " + verb + " " + quote(dir_);
  }

  // The test CA that signed Dovecot's certificate (provider_stack.sh).
  std::string ca_file() const { return dir_ + "/tls/ca.pem"; }

  Options options(bool active, bool cleanup) const {
    Options o;
    o.pop3 = {"127.0.0.1", pop3_port_};
    o.ca_file = ca_file();  // STLS, the certificate verified (IP:127.0.0.1)
    o.user = kUser;
    o.password = kPassword;
    o.password_file = pw_file_;
    o.timeout = 10s;
    o.run_limit = 120s;
    if (active) {
      o.send_tests = true;
      o.smtp = {"127.0.0.1", smtp_port_};
      o.domain = kDomain;
      o.poll_attempts = 40;  // Postfix delivers within a second or two
      o.poll_interval = 500ms;
      o.cleanup = cleanup;
    }
    return o;
  }

  std::string dir_;
  std::string pw_file_;
  std::uint16_t smtp_port_ = 0;
  std::uint16_t pop3_port_ = 0;
  bool started_ = false;
  bool diag_reported_ = false;  // SetUp's failure message holds the logs
};

const Answer *answer(const Report &r, std::string_view id) {
  for (const auto &a : r.answers)
    if (a.id == id) return &a;
  return nullptr;
}

TEST_F(ProviderStack, PostfixVirtualAndDovecotPop3) {
  // Active mode, keeping the test mails for the read-only run below.
  const Report active = run_probe_blocking(options(true, false));
  ASSERT_EQ(active.error, "") << to_text(active);
  EXPECT_TRUE(active.pop3.stls_used) << to_text(active);
  EXPECT_EQ(active.pop3.cert_valid, std::optional<bool>(true)) << to_text(active);
  ASSERT_TRUE(active.active.has_value());
  EXPECT_TRUE(active.active->complete) << to_text(active);
  EXPECT_EQ(active.profile.envelope_header, "X-Original-To") << to_text(active);
  EXPECT_TRUE(active.profile.copy_per_recipient);
  EXPECT_EQ(active.profile.delivered_to, "recipient");
  EXPECT_FALSE(active.profile.qmail_prefix);
  EXPECT_EQ(active.profile.locking, "none");  // Dovecot: pop3_lock_session = no
  EXPECT_EQ(active.profile.login_delay_s, 0);
  for (const char *id : {"bcc-recoverable", "null-sender", "foreign-cc", "envelope-header"}) {
    const Answer *a = answer(active, id);
    ASSERT_NE(a, nullptr) << id;
    EXPECT_EQ(a->verdict, Verdict::pass) << id << ": " << a->answer;
  }
  std::size_t copies = 0;
  for (const auto &c : active.active->cases) copies += c.copies.size();
  EXPECT_EQ(copies, 9u);  // one per envelope recipient: 1+1+2+1+3+1

  // Read-only: the same conclusions from the stored mail alone.
  const Report ro = run_probe_blocking(options(false, false));
  ASSERT_EQ(ro.error, "") << to_text(ro);
  EXPECT_EQ(ro.pop3.examined, 9u);
  EXPECT_EQ(ro.profile.envelope_header, "X-Original-To");
  EXPECT_TRUE(ro.profile.copy_per_recipient);
  EXPECT_EQ(ro.profile.locking, "none");
  auto parsed = fake_pop3::parse_profile(profile_yaml(ro), "inferred");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->envelope_header, "X-Original-To");
  EXPECT_TRUE(parsed->copy_per_recipient);
  EXPECT_EQ(parsed->delivered_to, fake_pop3::DeliveredTo::recipient);
  for (const auto &text : {to_text(ro), to_json(ro), to_html(ro)})
    EXPECT_EQ(text.find(kPassword), std::string::npos);

  // Active with cleanup: removes its own nine copies, leaves the earlier run's
  // nine.
  const Report clean = run_probe_blocking(options(true, true));
  ASSERT_EQ(clean.error, "") << to_text(clean);
  ASSERT_TRUE(clean.active.has_value());
  EXPECT_EQ(clean.active->deleted, 9u) << to_text(clean);
  const Report after = run_probe_blocking(options(false, false));
  EXPECT_EQ(after.pop3.message_count, 9u);
}

// ---- the fetcher core against the stack (issue 14, "Done when")

// The world's mail, sent into the stack's Postfix: envelope recipients at the
// catch-all domain, one copy each in the Maildir (virtual(8), one recipient
// per delivery) with X-Original-To naming it.
struct WorldMail {
  std::string from;
  std::vector<std::string> rcpts;  // the envelope
  std::string text;
};

const std::vector<WorldMail> &world_mail() {
  static const std::vector<WorldMail> mails = {
      {"alice@outside.example",
       {"hans@firma.example"},
       "From: alice@outside.example\r\nTo: hans@firma.example\r\n"
       "Subject: one local To\r\nMessage-ID: <w1@outside.example>\r\n\r\n"
       "body one\r\n"},
      // A Bcc-only recipient: chef is in no header but this Bcc line, which
      // Postfix's cleanup(8) removes itself (the stored copies carry none;
      // the core's own Bcc stripping is tested against fake-pop3).
      {"bob@outside.example",
       {"hans@firma.example", "chef@firma.example"},
       "From: bob@outside.example\r\nTo: hans@firma.example\r\n"
       "Bcc: chef@firma.example\r\nSubject: bcc to chef\r\n"
       "Message-ID: <w2@outside.example>\r\n\r\nbody two\r\n"},
      {"carl@outside.example",
       {"hans@firma.example", "eva@firma.example", "lea@firma.example"},
       "From: carl@outside.example\r\nTo: hans@firma.example, "
       "eva@firma.example\r\nCc: lea@firma.example\r\n"
       "Subject: three locals\r\nMessage-ID: <w3@outside.example>\r\n\r\n"
       "body three\r\n"},
      // A foreign Cc: in the header, not in the envelope the provider got.
      {"dora@outside.example",
       {"eva@firma.example"},
       "From: dora@outside.example\r\nTo: eva@firma.example\r\n"
       "Cc: fritz@elsewhere.example\r\nSubject: foreign cc\r\n"
       "Message-ID: <w4@outside.example>\r\n\r\nbody four\r\n"}};
  return mails;
}

using Copies = std::multiset<std::pair<std::string, std::string>>;

// (Message-ID, envelope recipient): what the in-house server must get, once.
Copies world_copies() {
  Copies out;
  for (const auto &m : world_mail()) {
    const auto at = m.text.find("Message-ID: ") + 12;
    for (const auto &r : m.rcpts) out.emplace(m.text.substr(at, m.text.find('\r', at) - at), r);
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The header fields of `message` named `name` (lower case, no colon), as lines.
std::vector<std::string> header_lines(const std::string &message, const std::string &name) {
  std::vector<std::string> out;
  const auto blank = message.find("\r\n\r\n");
  const std::string head = blank == std::string::npos ? message : message.substr(0, blank + 2);
  std::size_t at = 0;
  while (at < head.size()) {
    const auto end = head.find("\r\n", at);
    const std::string line = head.substr(at, end == std::string::npos ? end : end - at);
    if (lower(line).rfind(name + ":", 0) == 0) out.push_back(line);
    if (end == std::string::npos) break;
    at = end + 2;
  }
  return out;
}

class ProviderStackFetch : public ProviderStack {
 protected:
  // One copy per envelope recipient: 1+2+3+1.
  static constexpr std::size_t kCopies = 7;
  static constexpr auto kDeliveryWait = 30s;  // Postfix delivers within a second

  // The core's configuration as a user writes it (README's config block): by
  // host name, STLS, the stack's CA; routed by the header this stack stamps
  // per copy (the probe's verdict above: X-Original-To).
  fetcher::Config config(bool with_ca) const {
    std::string y =
        "version: 1\nname: stack\npop3:\n"
        "  host: localhost\n  port: " +
        std::to_string(pop3_port_) + "\n  tls: stls\n  verify_certificate: true\n";
    if (with_ca) y += "  ca_file: " + ca_file() + "\n";
    y += "  user: " + std::string(kUser) + "\n  password_file: " + pw_file_ +
         "\n  timeout: 10s\n  cycle_deadline: 60s\n"
         "smtp:\n  host: 127.0.0.1\n  port: 25\n  timeout: 10s\n"
         "routing:\n  envelope: X-Original-To\n"
         "  local_domains: [firma.example]\n"
         "  fallback: postmaster@firma.example\n"
         "state_dir: " +
         dir_ + "/core-state\n";
    auto cfg = fetcher::parse_config(y, "stack.yaml");
    if (!cfg.ok()) throw std::runtime_error(cfg.error().message + "\n" + y);
    return *cfg;
  }

  // Sends world_mail() into Postfix; every recipient must be accepted.
  void send_world_mail() {
    net::asio::io_context io;
    std::vector<std::string> problems;
    bool done = false;
    net::spawn_logged(
        io.get_executor(),
        [](net::asio::any_io_executor ex, std::uint16_t port, std::vector<std::string> &bad,
           bool &d) -> net::awaitable<void> {
          client::SmtpOptions o;
          o.server = {"127.0.0.1", port};
          o.helo = "mx.outside.example";
          o.timeout = 10s;
          client::SmtpClient c(ex, o);
          const bool open = co_await c.open();
          if (!open) {
            bad.push_back("connect: " + c.error());
            d = true;
            co_return;
          }
          for (const auto &m : world_mail()) {
            const client::Transaction t = co_await c.transaction(m.from, m.rcpts, m.text);
            if (!t.error.empty() || t.decisive.code / 100 != 2)
              bad.push_back(m.from + ": " + std::to_string(t.decisive.code) + " " + t.error);
            for (const auto &r : t.rcpts)
              if (r.code / 100 != 2)
                bad.push_back(r.rcpt + ": " + std::to_string(r.code) + " " + r.text);
          }
          co_await c.quit();
          d = true;
        }(io.get_executor(), smtp_port_, problems, done),
        "world-mail");
    io.run_for(30s);
    ASSERT_TRUE(done) << "sending the world's mail did not finish in 30 s";
    for (const auto &p : problems) ADD_FAILURE() << "Postfix refused: " << p;
  }

  // The copies in the catch-all Maildir: what Dovecot serves.
  std::vector<std::filesystem::path> maildir() const {
    std::vector<std::filesystem::path> out;
    for (const char *sub : {"new", "cur"}) {
      std::error_code ec;
      const std::filesystem::path d = dir_ + "/vmail/" + kUser + "/Maildir/" + sub;
      for (const auto &e : std::filesystem::directory_iterator(d, ec))
        if (e.is_regular_file()) out.push_back(e.path());
    }
    return out;
  }
  std::size_t maildir_count() const { return maildir().size(); }

  // Bounded wait until Postfix has put `want` copies into the Maildir.
  bool wait_for_maildir(std::size_t want) const {
    const auto until = std::chrono::steady_clock::now() + kDeliveryWait;
    while (maildir_count() != want) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(100ms);
    }
    return true;
  }

  // One cycle of the core, delivering to fake-smtp in process on
  // 127.0.0.1:0 (journal in DIR/inhouse, continued across cycles).
  fetcher::CycleResult fetch(fetcher::Config cfg) {
    net::asio::io_context io;
    fake_smtp::Journal journal{dir_ + "/inhouse"};
    fake_smtp::Policy policy;
    policy.local_domains = {"firma.example"};
    fake_smtp::Receiver receiver{policy, journal, clock_};
    net::Server smtp{io, {net::asio::ip::make_address("127.0.0.1"), 0}, receiver.factory()};
    smtp.start();
    cfg.smtp.port = smtp.local_endpoint().port();
    fetcher::CycleResult result;
    bool done = false;
    net::spawn_logged(
        io.get_executor(),
        [](fetcher::Config c, const base::Clock &clock, std::vector<std::string> &log,
           fetcher::CycleResult &out, net::Server &server, bool &d) -> net::awaitable<void> {
          fetcher::Fetcher f(std::move(c), clock,
                             [&log](const std::string &l) { log.push_back(l); });
          out = co_await f.run_cycle();
          d = true;
          server.stop();
        }(std::move(cfg), clock_, log_, result, smtp, done),
        "fetcher");
    io.run_for(60s);
    EXPECT_TRUE(done) << "the cycle did not finish in 60 s";
    return result;
  }

  // Every transaction the in-house server journaled.
  std::vector<fake_smtp::TransactionRecord> inhouse() const {
    if (!std::filesystem::exists(dir_ + "/inhouse")) return {};
    auto records = fake_smtp::read_journal(dir_ + "/inhouse");
    EXPECT_TRUE(records.ok()) << records.error().message;
    return records.ok() ? *records : std::vector<fake_smtp::TransactionRecord>{};
  }

  std::string core_log() const {
    std::string s;
    for (const auto &l : log_) s += l + "\n";
    return s;
  }

  base::SystemClock clock_;
  std::vector<std::string> log_;
};

TEST_F(ProviderStackFetch, CoreFetchesByHostNameOverStlsWithTheStacksCa) {
  send_world_mail();
  ASSERT_TRUE(wait_for_maildir(kCopies))
      << maildir_count() << " of " << kCopies << " copies after " << kDeliveryWait.count() << " s";

  // What the core must remove: each stored copy names its one recipient in
  // X-Original-To (and Delivered-To), LF-terminated as Maildir stores it.
  for (const auto &f : maildir()) {
    std::string copy = slurp(f.string());
    for (std::size_t at = 0; (at = copy.find('\n', at)) != std::string::npos; at += 2)
      copy.replace(at, 1, "\r\n");
    EXPECT_EQ(header_lines(copy, "x-original-to").size(), 1u) << copy;
  }

  const fetcher::CycleResult r = fetch(config(true));
  ASSERT_EQ(fetcher::outcome_name(r.outcome), "ok") << r.detail << "\n" << core_log();
  EXPECT_TRUE(r.tls);
  EXPECT_EQ(r.retrieved, kCopies) << core_log();
  EXPECT_EQ(r.deleted, kCopies) << core_log();
  EXPECT_EQ(r.held, 0u) << core_log();

  Copies got;
  for (const auto &t : inhouse()) {
    for (const auto &rc : t.rcpts) {
      EXPECT_TRUE(rc.local) << "RCPT to a foreign address: " << rc.address;
      if (t.accepted && rc.code / 100 == 2) {
        const auto ids = header_lines(t.message, "message-id");
        got.emplace(ids.empty() ? "" : ids.front().substr(12), rc.address);
      }
    }
    if (!t.accepted) continue;
    // Stripped: no envelope header of the provider's, no Bcc.
    for (const char *h : {"x-original-to", "delivered-to", "bcc", "return-path"})
      EXPECT_TRUE(header_lines(t.message, h).empty())
          << h << " left in the copy for " << t.rcpts.front().address << ":\n"
          << t.message;
  }
  EXPECT_EQ(got, world_copies()) << core_log();

  // The maildrop is empty: Dovecot serves nothing more, and the Maildir is.
  const fetcher::CycleResult again = fetch(config(true));
  EXPECT_EQ(fetcher::outcome_name(again.outcome), "ok") << again.detail;
  EXPECT_EQ(again.retrieved, 0u) << core_log();
  EXPECT_EQ(maildir_count(), 0u);
}

TEST_F(ProviderStackFetch, WithoutTheCaTheCertificateIsRefusedAndNothingDeleted) {
  send_world_mail();
  ASSERT_TRUE(wait_for_maildir(kCopies))
      << maildir_count() << " of " << kCopies << " copies after " << kDeliveryWait.count() << " s";

  const fetcher::CycleResult r = fetch(config(false));
  EXPECT_EQ(fetcher::outcome_name(r.outcome), "pop3-error") << r.detail;
  // Which check failed and what to set.
  EXPECT_NE(r.detail.find("certificate of localhost not accepted"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("CA is unknown"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("set ca_file"), std::string::npos) << r.detail;
  EXPECT_EQ(r.retrieved, 0u);
  EXPECT_EQ(r.deleted, 0u);
  EXPECT_TRUE(inhouse().empty());
  EXPECT_EQ(maildir_count(), kCopies);
}

}  // namespace
}  // namespace dropcheck::probe

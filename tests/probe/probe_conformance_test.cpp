// The probe against a real provider stack started by the test on loopback high
// ports: Postfix as the MX (virtual(8) delivery of a catch-all domain into a
// Maildir, which prepends Return-Path, X-Original-To and Delivered-To) and
// Dovecot's POP3 server on that Maildir (provider_stack.sh; everything in a
// temp dir, stopped in TearDown). Skipped, with the reason, where the machine
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

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "fake_pop3/profile.hpp"
#include "net/asio.hpp"
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
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root (Postfix and Dovecot drop privileges)";
    for (const char *bin : {"/usr/sbin/postfix", "/usr/sbin/dovecot"})
      if (!std::filesystem::exists(bin))
        GTEST_SKIP() << bin
                     << " missing: apt-get install postfix dovecot-pop3d";
    std::string t = "/tmp/dropcheck-probe-stack-XXXXXX";
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    smtp_port_ = free_port();
    pop3_port_ = free_port();
    while (pop3_port_ == smtp_port_)
      pop3_port_ = free_port();
    const std::string cmd =
        fmt_cmd("start") + " " + std::to_string(smtp_port_) + " " +
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
    ASSERT_EQ(rc, 0) << "provider_stack.sh start failed (" << dir_
                     << " kept):\n"
                     << log;
    // Bounded wait for both listeners (Postfix's master and Dovecot start
    // asynchronously).
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
      up = accepts(smtp_port_) && accepts(pop3_port_);
      if (!up)
        std::this_thread::sleep_for(100ms);
    }
    diag_reported_ = !up;
    ASSERT_TRUE(up) << "the stack did not listen within 10 s (" << dir_
                    << " kept):\n"
                    << diag();
    pw_file_ = dir_ + "/probe.pw";
    std::ofstream(pw_file_) << kPassword << "\n";
  }

  void TearDown() override {
    // A failure in the test body: the peers' side of the story.
    if (started_ && !diag_reported_ && ::testing::Test::HasFailure() &&
        !IsSkipped())
      std::cout << "provider stack diagnostics (" << dir_ << " kept):\n"
                << diag();
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
    if (std::system(cmd.c_str()) != 0)
      return "(provider_stack.sh diag failed)\n" + slurp(out);
    return slurp(out);
  }

  std::string fmt_cmd(const char *verb) const {
    return std::string("sh ") + DROPCHECK_PROBE_STACK + " " + verb + " " +
           quote(dir_);
  }

  Options options(bool active, bool cleanup) const {
    Options o;
    o.pop3 = {"127.0.0.1", pop3_port_};
    o.allow_plaintext = true; // Dovecot here runs without TLS (ssl = no)
    o.user = kUser;
    o.password = kPassword;
    o.password_file = pw_file_;
    o.timeout = 10s;
    o.run_limit = 120s;
    if (active) {
      o.send_tests = true;
      o.smtp = {"127.0.0.1", smtp_port_};
      o.domain = kDomain;
      o.poll_attempts = 40; // Postfix delivers within a second or two
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
  bool diag_reported_ = false; // SetUp's failure message holds the logs
};

const Answer *answer(const Report &r, std::string_view id) {
  for (const auto &a : r.answers)
    if (a.id == id)
      return &a;
  return nullptr;
}

TEST_F(ProviderStack, PostfixVirtualAndDovecotPop3) {
  // Active mode, keeping the test mails for the read-only run below.
  const Report active = run_probe_blocking(options(true, false));
  ASSERT_EQ(active.error, "") << to_text(active);
  ASSERT_TRUE(active.active.has_value());
  EXPECT_TRUE(active.active->complete) << to_text(active);
  EXPECT_EQ(active.profile.envelope_header, "X-Original-To") << to_text(active);
  EXPECT_TRUE(active.profile.copy_per_recipient);
  EXPECT_EQ(active.profile.delivered_to, "recipient");
  EXPECT_FALSE(active.profile.qmail_prefix);
  EXPECT_EQ(active.profile.locking, "none"); // Dovecot: pop3_lock_session = no
  EXPECT_EQ(active.profile.login_delay_s, 0);
  for (const char *id :
       {"bcc-recoverable", "null-sender", "foreign-cc", "envelope-header"}) {
    const Answer *a = answer(active, id);
    ASSERT_NE(a, nullptr) << id;
    EXPECT_EQ(a->verdict, Verdict::pass) << id << ": " << a->answer;
  }
  std::size_t copies = 0;
  for (const auto &c : active.active->cases)
    copies += c.copies.size();
  EXPECT_EQ(copies, 9u); // one per envelope recipient: 1+1+2+1+3+1

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

} // namespace
} // namespace dropcheck::probe

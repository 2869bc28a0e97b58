// The probe against fake-pop3 in process (net::Server on 127.0.0.1:0), with
// every shipped profile: read-only and active mode must infer back the profile
// they were given.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

// GCC 12 false positive on Asio's awaitable frame allocator (GCC PR 109224,
// fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "base/clock.hpp"
#include "base/strings.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "fake_smtp/journal.hpp"
#include "fake_smtp/receiver.hpp"
#include "fetcher/config.hpp"
#include "fetcher/fetcher.hpp"
#include "net/server.hpp"
#include "probe/probe.hpp"
#include "runner/external.hpp"

namespace dropcheck::probe {
namespace {

using namespace std::chrono_literals;

// Distinctive credentials, so a leak into any output is found by a plain
// search.
constexpr char kUser[] = "catchall-user-7f3a";
constexpr char kPassword[] = "pw-S3cret-Q9zz";

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "dropcheck-probe-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string &name, const std::string &content) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    // Private, as fetchmail demands of its run control file.
    std::filesystem::permissions(
        p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return p.string();
  }
  const std::filesystem::path &path() const { return path_; }

 private:
  std::filesystem::path path_;
};

fake_pop3::Profile profile(std::string_view name) {
  auto p = fake_pop3::load_profile(name);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return *p;
}

struct Env {
  net::asio::io_context io;
  base::VirtualClock clock{base::Millis{1'700'000'000'000}};
  fake_pop3::Provider provider;
  net::PemPair pem = net::make_self_signed();
  std::shared_ptr<net::ssl::context> tls = net::make_server_tls(pem);
  net::Server pop3;
  net::Server pop3s;
  net::Server mx;
  TempDir dir;
  std::string ca_file = dir.file("ca.pem", pem.cert);
  std::string pw_file = dir.file("pw", std::string(kPassword) + "\n");
  std::vector<std::string> log;
  // The in-house server the recommended configurations deliver to.
  fake_smtp::Journal journal{dir.path() / "journal"};
  fake_smtp::Receiver receiver{local_policy(), journal, clock};
  net::Server smtp{io, {net::asio::ip::make_address("127.0.0.1"), 0}, receiver.factory()};

  static fake_smtp::Policy local_policy() {
    fake_smtp::Policy p;
    p.local_domains = {"firma.example"};
    return p;
  }

  explicit Env(fake_pop3::Profile p)
      : provider(std::move(p), kUser, kPassword, clock),
        pop3(
            io, {net::asio::ip::make_address("127.0.0.1"), 0},
            [this](const net::Peer &peer) { return provider.make_pop3_session(peer); },
            provider.pop3_server_options(tls, false)),
        pop3s(
            io, {net::asio::ip::make_address("127.0.0.1"), 0},
            [this](const net::Peer &peer) { return provider.make_pop3_session(peer); },
            provider.pop3_server_options(tls, true)),
        mx(io, {net::asio::ip::make_address("127.0.0.1"), 0},
           [this](const net::Peer &peer) { return provider.make_mx_session(peer); }) {
    pop3.start();
    pop3s.start();
    mx.start();
    smtp.start();
  }

  void stop() {
    pop3.stop();
    pop3s.stop();
    mx.stop();
    smtp.stop();
  }

  // The world's mail before the probe: several recipients, a BCC, a receipt, a
  // forwarded one.
  void inject() {
    provider.deliver("alice@outside.example", {"hans@firma.example", "eva@firma.example"},
                     "From: alice@outside.example\r\nTo: hans@firma.example\r\n"
                     "Cc: eva@firma.example\r\nSubject: one\r\nMessage-ID: "
                     "<m1@outside.example>"
                     "\r\n\r\nbody\r\n");
    provider.deliver("bob@outside.example", {"hans@firma.example", "chef@firma.example"},
                     "From: bob@outside.example\r\nTo: hans@firma.example\r\nSubject: bcc "
                     "to "
                     "chef\r\nMessage-ID: <m2@outside.example>\r\n\r\nbody\r\n");
    provider.deliver("", {"eva@firma.example"},
                     "From: MAILER-DAEMON@outside.example\r\nTo: "
                     "eva@firma.example\r\nSubject: "
                     "Delivery Status Notification\r\nMessage-ID: "
                     "<m3@outside.example>\r\n\r\n"
                     "report\r\n");
    provider.deliver("carl@outside.example", {"hans@firma.example"},
                     "Delivered-To: hans@old.example\r\nFrom: carl@outside.example\r\n"
                     "To: hans@old.example\r\nSubject: forwarded\r\n"
                     "Message-ID: <m4@outside.example>\r\n\r\nbody\r\n");
  }

  Options options(bool active = false) {
    Options o;
    o.pop3 = {"127.0.0.1", pop3.local_endpoint().port()};
    o.ca_file = ca_file;
    o.user = kUser;
    o.password = kPassword;
    o.password_file = pw_file;
    o.timeout = 5s;
    o.run_limit = 60s;
    o.log = [this](std::string_view l) { log.emplace_back(l); };
    if (active) {
      o.send_tests = true;
      o.smtp = {"127.0.0.1", mx.local_endpoint().port()};
      o.domain = "firma.example";
      o.poll_attempts = 5;
      o.poll_interval = 1ms;
      o.cleanup = true;
      // Polls wait on the provider's (virtual) clock: a 15-minute LOGIN-DELAY
      // costs nothing.
      o.wait = [this](std::chrono::milliseconds d) -> net::awaitable<void> {
        clock.advance(d);
        co_return;
      };
    }
    return o;
  }

  // Runs `body` while the servers serve; then stops them, or (`keep`) only
  // the io_context, so a later drive() finds them serving.
  void drive(std::function<net::awaitable<void>()> body, bool keep = false) {
    bool done = false;
    net::spawn_logged(
        io.get_executor(),
        [](Env &e, std::function<net::awaitable<void>()> b, bool k,
           bool &d) -> net::awaitable<void> {
          co_await b();
          d = true;
          if (k)
            e.io.stop();
          else
            e.stop();
        }(*this, std::move(body), keep, done),
        "probe");
    io.run_for(60s);
    io.restart();
    EXPECT_TRUE(done) << "did not finish in time";
  }

  Report run(Options o) {
    Report report;
    drive([&]() -> net::awaitable<void> { report = co_await run_probe(std::move(o)); });
    return report;
  }
};

const Answer *answer(const Report &r, std::string_view id) {
  for (const auto &a : r.answers)
    if (a.id == id) return &a;
  return nullptr;
}

void expect_no_secrets(const Report &r, const Env &env) {
  const std::vector<std::pair<const char *, std::string>> outputs = {
      {"text", to_text(r)},
      {"json", to_json(r)},
      {"html", to_html(r)},
      {"profile", profile_yaml(r)},
      {"core", core_config_snippet(r)},
      {"fetchmailrc", fetchmailrc_snippet(r)}};
  for (const auto &[what, text] : outputs) {
    EXPECT_EQ(text.find(kPassword), std::string::npos) << what << " shows the password";
    EXPECT_EQ(text.find(kUser), std::string::npos) << what << " shows the user";
  }
  for (const auto &l : env.log) {
    EXPECT_EQ(l.find(kPassword), std::string::npos) << l;
    EXPECT_EQ(l.find(kUser), std::string::npos) << l;
  }
}

// What the probe must find again: the profile fields it can observe from the
// mailbox.
void expect_inferred(const fake_pop3::Profile &want, const Report &r, bool active) {
  SCOPED_TRACE("profile " + want.name);
  auto got = fake_pop3::parse_profile(profile_yaml(r), "inferred:" + want.name);
  ASSERT_TRUE(got.ok()) << got.error().message << "\n" << profile_yaml(r);
  EXPECT_TRUE(base::iequals(got->envelope_header, want.envelope_header))
      << got->envelope_header << " vs " << want.envelope_header;
  EXPECT_EQ(got->copy_per_recipient, want.copy_per_recipient);
  EXPECT_EQ(got->qmail_prefix, want.qmail_prefix);
  EXPECT_EQ(got->envelope_style, want.envelope_style);
  EXPECT_EQ(got->locking, want.locking);
  EXPECT_EQ(got->login_delay_s, want.login_delay_s);
  EXPECT_EQ(got->return_path, want.return_path);
  EXPECT_EQ(got->delivered_to, want.delivered_to);
  if (want.delivered_to == fake_pop3::DeliveredTo::mailbox) {
    EXPECT_EQ(got->mailbox_address, want.mailbox_address);
  }
  EXPECT_EQ(got->apop, want.apop);
  EXPECT_EQ(got->plaintext_without_tls, want.plaintext_without_tls);
  EXPECT_EQ(got->expire, want.expire);
  EXPECT_EQ(got->resp_codes, want.resp_codes);
  const Answer *env = answer(r, "envelope-header");
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->verdict, want.envelope_header.empty() ? Verdict::fail : Verdict::pass);
  const Answer *bcc = answer(r, "bcc-recoverable");
  ASSERT_NE(bcc, nullptr);
  if (active) {
    // Received-for with one copy per recipient names every BCC recipient too.
    const bool recoverable =
        !want.envelope_header.empty() || (!want.received_by.empty() && want.copy_per_recipient);
    EXPECT_EQ(bcc->verdict, recoverable ? Verdict::pass : Verdict::fail) << bcc->answer;
    // Only test mails to known recipients show which line names them.
    EXPECT_EQ(got->received_by, want.received_by);
    EXPECT_EQ(got->received_inner_by, want.received_inner_by);
  }
}

class EveryProfile : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryProfile, ReadOnlyInfersTheProfileWithoutRetrOrDele) {
  const auto want = profile(GetParam());
  Env env(want);
  env.inject();
  const auto stored_before = env.provider.stored_count();
  const auto r = env.run(env.options());
  ASSERT_EQ(r.error, "") << to_text(r);
  EXPECT_EQ(r.pop3.examined, stored_before);
  EXPECT_TRUE(r.pop3.stls_used);
  EXPECT_EQ(r.pop3.cert_valid, std::optional<bool>(true));
  expect_inferred(want, r, false);
  expect_no_secrets(r, env);
  // Read-only: no RETR, no DELE, nothing removed.
  for (const auto &s : env.provider.session_log()) {
    EXPECT_TRUE(s.retrieved_uidls.empty()) << fake_pop3::to_log_line(s);
    EXPECT_TRUE(s.deleted_uidls.empty()) << fake_pop3::to_log_line(s);
    EXPECT_FALSE(s.cleartext_password_while_stls_offered);
  }
  EXPECT_EQ(env.provider.stored_count(), stored_before);
  // The recommended core configuration is a valid one.
  auto cfg = fetcher::parse_config(core_config_snippet(r), "snippet");
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message) << core_config_snippet(r);
}

TEST_P(EveryProfile, ActiveModeClassifiesTheTestMailsAndCleansUpOnlyItsOwn) {
  const auto want = profile(GetParam());
  Env env(want);
  env.inject();
  const auto before = env.provider.stored();
  const auto r = env.run(env.options(true));
  ASSERT_EQ(r.error, "") << to_text(r);
  ASSERT_TRUE(r.active.has_value());
  EXPECT_EQ(r.active->error, "") << to_text(r);
  for (const auto &c : r.active->cases) {
    EXPECT_EQ(c.smtp_code, 250) << c.id;
    EXPECT_FALSE(c.copies.empty()) << c.id;
  }
  expect_inferred(want, r, true);
  expect_no_secrets(r, env);
  const Answer *dsn = answer(r, "null-sender");
  ASSERT_NE(dsn, nullptr);
  EXPECT_EQ(dsn->verdict, Verdict::pass) << dsn->answer;
  const Answer *cc = answer(r, "foreign-cc");
  ASSERT_NE(cc, nullptr);
  if (!want.envelope_header.empty()) {
    EXPECT_EQ(cc->verdict, Verdict::pass) << cc->answer;
  }
  // Never RETR; DELE only of tagged copies; the world's mail is untouched.
  std::size_t tagged = 0;
  for (const auto &c : r.active->cases) tagged += c.copies.size();
  EXPECT_EQ(r.active->deleted, tagged);
  std::set<std::string> deleted;
  for (const auto &s : env.provider.session_log()) {
    EXPECT_TRUE(s.retrieved_uidls.empty());
    deleted.insert(s.deleted_uidls.begin(), s.deleted_uidls.end());
  }
  for (const auto &m : before) EXPECT_EQ(deleted.count(m.uidl), 0u) << m.uidl;
  if (want.faults.represent_deleted == fake_pop3::Represent::off) {
    EXPECT_EQ(env.provider.stored_count(), before.size());
    for (const auto &m : env.provider.stored())
      EXPECT_EQ(m.data.find("X-Dropcheck-Probe"), std::string::npos);
  }
}

// The profiles whose every property the probe can infer: not those that inject failures into
// retrieval or identity (a cut TOP, -ERR on retrieval, shared or changing UIDLs, refused logins):
// there the probe must report the failure, not a profile. Decided from the profile, so one added
// later is classified without editing this list.
std::vector<std::string> inferable_profiles() {
  std::vector<std::string> out;
  for (const auto &n : fake_pop3::builtin_profile_names()) {
    const auto f = fake_pop3::load_profile(n)->faults;
    const bool faulty = f.drop_after_bytes != 0 || f.drop_in_retr != 0 || !f.err_on_retr.empty() ||
                        f.duplicate_uidls || f.changing_uidls || f.auth_failures != 0;
    if (!faulty) out.push_back(n);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Profiles, EveryProfile, ::testing::ValuesIn(inferable_profiles()),
                         [](const auto &param_info) {
                           std::string n = param_info.param;
                           for (char &c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// Issue 21: a provider that stamps nothing but the for clause of its MX's
// Received line; present for one recipient, absent for several.
TEST(ProbeReceivedFor, NamesTheStyleAndWhatItCosts) {
  const auto want = profile("received-for-shared");
  Env env(want);
  const auto r = env.run(env.options(true));
  ASSERT_EQ(r.error, "") << to_text(r);
  const Answer *rf = answer(r, "received-for");
  ASSERT_NE(rf, nullptr) << to_text(r);
  EXPECT_EQ(rf->verdict, Verdict::warn);
  EXPECT_NE(rf->answer.find("received-for: the Received line by mx.provider.example"),
            std::string::npos)
      << rf->answer;
  EXPECT_NE(rf->answer.find("absent for several"), std::string::npos) << rf->answer;
  EXPECT_NE(rf->answer.find("blind-copy recipients"), std::string::npos) << rf->answer;
  EXPECT_NE(to_text(r).find("received-for"), std::string::npos);
  // The recommended core configuration reads that line.
  auto cfg = fetcher::parse_config(core_config_snippet(r), "snippet");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message << core_config_snippet(r);
  ASSERT_EQ(cfg->routing.envelope.size(), 1u);
  EXPECT_EQ(cfg->routing.envelope[0].header, "Received");
  EXPECT_EQ(cfg->routing.envelope[0].received_by, "mx.provider.example");
  EXPECT_NE(fetchmailrc_snippet(r).find(" aka mx.provider.example"), std::string::npos)
      << fetchmailrc_snippet(r);
}

TEST(ProbeReceivedFor, PerRecipientCopiesAndAnInnerHop) {
  const auto want = profile("received-for-lmtp");
  Env env(want);
  const auto r = env.run(env.options(true));
  ASSERT_EQ(r.error, "") << to_text(r);
  const Answer *rf = answer(r, "received-for");
  ASSERT_NE(rf, nullptr) << to_text(r);
  EXPECT_EQ(rf->verdict, Verdict::info) << rf->answer;
  EXPECT_NE(rf->answer.find("BCC recoverable"), std::string::npos) << rf->answer;
  EXPECT_NE(rf->evidence.find("store.provider.example"), std::string::npos) << rf->evidence;
  auto got = fake_pop3::parse_profile(profile_yaml(r), "inferred");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->received_by, "mx.provider.example");
  EXPECT_EQ(got->received_inner_by, "store.provider.example");
  EXPECT_TRUE(got->copy_per_recipient);
}

TEST(ProbeTls, UnverifiedCertificateStopsBeforeAnyLogin) {
  Env env(profile("x-envelope-to"));
  env.inject();
  auto o = env.options();
  o.ca_file.clear();  // the self-signed certificate does not chain to the system CAs
  const auto r = env.run(std::move(o));
  EXPECT_EQ(r.pop3.cert_valid, std::optional<bool>(false));
  EXPECT_NE(r.error, "");
  EXPECT_EQ(exit_status(r), 1);
  for (const auto &s : env.provider.session_log()) EXPECT_EQ(s.auth_attempts, 0u);
  expect_no_secrets(r, env);
}

TEST(ProbeTls, InsecureContinuesButReportsTheCertificate) {
  Env env(profile("x-envelope-to"));
  env.inject();
  auto o = env.options();
  o.ca_file.clear();
  o.insecure = true;
  const auto r = env.run(std::move(o));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.pop3.cert_valid, std::optional<bool>(false));
  const Answer *cert = answer(r, "certificate");
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(cert->verdict, Verdict::fail);
  EXPECT_EQ(r.pop3.examined, env.provider.stored_count());
}

TEST(ProbeTls, ImplicitTls) {
  Env env(profile("x-envelope-to"));
  env.inject();
  auto o = env.options();
  o.pop3.port = env.pop3s.local_endpoint().port();
  o.tls = TlsMode::implicit;
  const auto r = env.run(std::move(o));
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.pop3.implicit_tls);
  EXPECT_EQ(r.profile.envelope_header, "X-Envelope-To");
  EXPECT_NE(core_config_snippet(r).find("tls: implicit"), std::string::npos);
}

TEST(ProbeSecrets, WrongPasswordIsReportedWithoutCredentials) {
  Env env(profile("x-envelope-to"));
  auto o = env.options();
  o.password = "pw-Wrong-Q9zz-other";
  const auto r = env.run(std::move(o));
  EXPECT_NE(r.error, "");
  EXPECT_EQ(r.pop3.login.result, LoginResult::auth_failed);
  EXPECT_EQ(exit_status(r), 1);
  expect_no_secrets(r, env);
  EXPECT_EQ(to_text(r).find("pw-Wrong"), std::string::npos);
}

TEST(ProbeLimits, MaxMessagesBoundsTheTopCommands) {
  Env env(profile("x-envelope-to"));
  env.inject();  // 6 stored copies
  auto o = env.options();
  o.max_messages = 2;
  const auto r = env.run(std::move(o));
  EXPECT_EQ(r.pop3.examined, 2u);
  EXPECT_EQ(r.messages.size(), 2u);
}

TEST(ProbeLimits, CommandBudgetStopsTheRun) {
  Env env(profile("x-envelope-to"));
  env.inject();
  auto o = env.options();
  o.max_commands = 5;
  const auto r = env.run(std::move(o));
  EXPECT_NE(r.error.find("budget"), std::string::npos) << r.error;
  EXPECT_LE(r.pop3.commands, 5u);
}

TEST(ProbeEmpty, EmptyMailboxAnswersUnknown) {
  Env env(profile("x-envelope-to"));
  const auto r = env.run(env.options());
  EXPECT_EQ(r.error, "");
  const Answer *a = answer(r, "envelope-header");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->verdict, Verdict::unknown);
}

// ---- what the probe recommends works as printed (issue 14 item 4)

// `text` with its one `placeholder` filled in; a missing placeholder fails.
std::string fill(std::string text, std::string_view placeholder, std::string_view value) {
  const auto at = text.find(placeholder);
  EXPECT_NE(at, std::string::npos) << "no '" << placeholder << "' in\n" << text;
  if (at != std::string::npos) text.replace(at, placeholder.size(), value);
  return text;
}

// The (Message-ID, recipient) pairs the in-house server accepted.
std::multiset<std::pair<std::string, std::string>> accepted(const Env &env, bool expect_stripped) {
  std::multiset<std::pair<std::string, std::string>> out;
  auto records = fake_smtp::read_journal(env.dir.path() / "journal");
  EXPECT_TRUE(records.ok());
  if (!records.ok()) return out;
  for (const auto &t : *records) {
    if (!t.accepted) continue;
    const auto id_at = t.message.find("Message-ID: ");
    const std::string id =
        id_at == std::string::npos
            ? ""
            : t.message.substr(id_at + 12, t.message.find('\r', id_at) - id_at - 12);
    if (expect_stripped) {
      EXPECT_EQ(t.message.find("X-Envelope-To"), std::string::npos) << t.message;
    }
    for (const auto &rc : t.rcpts)
      if (rc.code >= 200 && rc.code < 300) out.emplace(id, rc.address);
  }
  return out;
}

// What inject() sent, by envelope.
const std::multiset<std::pair<std::string, std::string>> kInjected = {
    {"<m1@outside.example>", "hans@firma.example"}, {"<m1@outside.example>", "eva@firma.example"},
    {"<m2@outside.example>", "hans@firma.example"}, {"<m2@outside.example>", "chef@firma.example"},
    {"<m3@outside.example>", "eva@firma.example"},  {"<m4@outside.example>", "hans@firma.example"}};

// The recommended core configuration as a user completes it: the account's
// user and the in-house server's port; everything else as printed.
std::string completed_core_config(const Report &r, const Env &env) {
  auto y = fill(core_config_snippet(r), "\"CHANGE-ME\"", kUser);
  return fill(std::move(y), "port: 25,",
              fmt::format("port: {},", env.smtp.local_endpoint().port()));
}

// fetchmail 6.4 with the recommended run control file, completed by a user:
// the account and the in-house server's port.
runner::ChildResult run_fetchmail(Env &env, const Report &r) {
  auto rc = fill(fetchmailrc_snippet(r), "user \"CHANGE-ME\" there with password \"CHANGE-ME\"",
                 fmt::format("user \"{}\" there with password \"{}\"", kUser, kPassword));
  rc = fill(std::move(rc), "smtphost 127.0.0.1/25",
            fmt::format("smtphost 127.0.0.1/{}", env.smtp.local_endpoint().port()));
  const std::string dir = env.dir.path().string();
  env.dir.file("fetchmailrc", rc);
  runner::ChildSpec child;
  child.argv = runner::fetchmail_argv(dir);
  const char *path = std::getenv("PATH");
  child.env = {"HOME=" + dir, "FETCHMAILHOME=" + dir,
               "PATH=" + std::string(path ? path : "/usr/bin:/bin"), "LC_ALL=C.UTF-8"};
  child.cwd = dir;
  child.output_path = dir + "/fetchmail.log";
  runner::ChildResult res;
  env.drive([&]() -> net::awaitable<void> { res = co_await runner::run_child(child); });
  EXPECT_EQ(res.exit_code, 0) << runner::output_tail(child.output_path, 4000) << "\n" << rc;
  return res;
}

// The probe's run, its servers kept serving for the fetcher that follows.
Report probe_keeping_servers(Env &env, Options o) {
  Report r;
  env.drive([&]() -> net::awaitable<void> { r = co_await run_probe(std::move(o)); }, true);
  env.clock.advance(1h);  // past any LOGIN-DELAY of the probe's logins
  return r;
}

TEST(ProbeRecommends, CoreConfigLoadsAndFetchesByHostNameOverStls) {
  Env env(profile("x-envelope-to"));
  env.inject();
  auto o = env.options();
  o.pop3.host = "localhost";
  const Report r = probe_keeping_servers(env, o);
  ASSERT_EQ(r.error, "") << to_text(r);
  // What `dropcheck fetch --config FILE` loads.
  auto cfg = fetcher::load_config(env.dir.file("core.yaml", completed_core_config(r, env)));
  ASSERT_TRUE(cfg.ok()) << cfg.error().message << "\n" << core_config_snippet(r);
  EXPECT_EQ(cfg->pop3.host, "localhost");
  EXPECT_EQ(cfg->pop3.tls, fetcher::TlsMode::stls);
  EXPECT_EQ(cfg->pop3.ca_file, env.ca_file);
  EXPECT_TRUE(cfg->pop3.verify_certificate);
  fetcher::CycleResult fetched;
  env.drive([&]() -> net::awaitable<void> {
    fetcher::Fetcher f(*cfg, env.clock, [](const std::string &) {});
    fetched = co_await f.run_cycle();
  });
  EXPECT_EQ(fetched.outcome, fetcher::Outcome::ok) << fetched.detail;
  EXPECT_TRUE(fetched.tls);
  EXPECT_EQ(env.provider.stored_count(), 0u);
  EXPECT_EQ(accepted(env, true), kInjected);
}

TEST(ProbeRecommends, FetchmailrcFetchesOverStlsWithTheCaFile) {
  if (!runner::external_fetcher_available("fetchmail")) GTEST_SKIP() << "fetchmail not installed";
  Env env(profile("x-envelope-to"));
  env.inject();
  auto o = env.options();
  o.pop3.host = "localhost";
  const Report r = probe_keeping_servers(env, o);
  ASSERT_EQ(r.error, "") << to_text(r);
  run_fetchmail(env, r);
  EXPECT_EQ(env.provider.stored_count(), 0u);
  const auto &sessions = env.provider.session_log();
  ASSERT_FALSE(sessions.empty());
  EXPECT_TRUE(sessions.back().stls_used);
  EXPECT_EQ(accepted(env, false), kInjected);
}

TEST(ProbeRecommends, FetchmailrcFetchesWithoutTlsWhereNoneIsOffered) {
  if (!runner::external_fetcher_available("fetchmail")) GTEST_SKIP() << "fetchmail not installed";
  Env env(profile("x-envelope-to"));
  env.provider.set_stls_available(false);
  env.inject();
  auto o = env.options();
  o.pop3.host = "localhost";
  o.allow_plaintext = true;
  const Report r = probe_keeping_servers(env, o);
  ASSERT_EQ(r.error, "") << to_text(r);
  ASSERT_FALSE(r.pop3.tls);
  run_fetchmail(env, r);
  EXPECT_EQ(env.provider.stored_count(), 0u);
  EXPECT_EQ(accepted(env, false), kInjected);
}

}  // namespace
}  // namespace dropcheck::probe

namespace dropcheck::probe {
namespace {

// Issue 18 item 6: a probe that waits out a provider's LOGIN-DELAY says what it waits for
// and for how long before every wait (on a terminal), never minutes of silence.
TEST(ProbeProgress, EveryPollWaitSaysHowLongAndWhy) {
  Env env(profile("login-delay"));
  Options o = env.options(true);
  o.poll_interval = std::chrono::seconds(30);
  std::vector<std::string> said;
  o.waiting = [&](std::string_view l) { said.emplace_back(l); };
  const Report r = env.run(o);
  ASSERT_TRUE(r.active.has_value());
  ASSERT_FALSE(said.empty());
  EXPECT_EQ(said.size(), static_cast<std::size_t>(r.active->polls)) << said.front();
  // LOGIN-DELAY (the profile's) stretches the 30 s interval and is named.
  const auto delay = r.pop3.login_delay_advertised.value_or(0);
  ASSERT_GT(delay, 30);
  EXPECT_NE(said.front().find(fmt::format("waiting {} s for poll 1 of 5", delay + 1)),
            std::string::npos)
      << said.front();
  EXPECT_NE(said.front().find(fmt::format("LOGIN-DELAY is {} s", delay)), std::string::npos)
      << said.front();
}

}  // namespace
}  // namespace dropcheck::probe

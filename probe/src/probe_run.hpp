#pragma once
// The probe's run: its common parts and run_probe (probe.cpp), the read-only
// sessions (probe_session.cpp) and active mode's sending and polling (probe_active.cpp).
// Internal to probe/src.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "client/pop3.hpp"
#include "probe/budget.hpp"
#include "probe/probe.hpp"

namespace dropcheck::probe::detail {

// The date as RFC 5322 writes it, now, in UTC.
std::string rfc5322_date();

// One test mail of active mode: its case and the message sent for it.
struct TestMail {
  TestCase c;
  std::string message;
};

class Run {
  using Pop3Client = client::Pop3Client;

 public:
  Run(Options o, net::asio::any_io_executor ex)
      : o_(std::move(o)), ex_(ex), budget_(o_.max_commands, o_.run_limit) {}

  net::awaitable<Report> go();

 private:
  // Server text with the credentials cut out (some servers echo the user name).
  std::string scrub(std::string s) const;
  void log(const std::string &line) const;
  void note(const std::string &text);
  void fail(const std::string &why);

  // A client for one session, every command counted against the run's budget;
  // the certificate is checked unless --insecure already let a rejected one pass.
  std::unique_ptr<Pop3Client> new_client();

  // A verified handshake in the first session shows the certificate is valid.
  void tls_up(const Pop3Client &c, bool first);

  // A failed handshake. A rejected certificate is recorded the first time,
  // even with --insecure, so the report can say whether it verifies; with
  // --insecure the session is then retried without the check.
  void tls_failed(const Pop3Client &c, bool first, bool &retry_insecure);

  // The first connect() failed after TCP: with implicit TLS, anything but the
  // greeting is the handshake (client/pop3.cpp names greeting errors so).
  void fail_connect(const Pop3Client &c);

  // Connect, greet, CAPA (first session), TLS, log in. nullptr when not logged
  // in; `attempt` says why. `first` records what the server offers.
  net::awaitable<std::unique_ptr<Pop3Client>> open(bool first, LoginAttempt &attempt);

  net::awaitable<std::unique_ptr<Pop3Client>> open_once(bool first, LoginAttempt &attempt,
                                                        bool &retry_insecure);

  // The greeting and the first CAPA: what the server offers in the clear.
  net::awaitable<bool> first_capa(Pop3Client &c);

  // STLS, the handshake and CAPA again (the client discards what it knew
  // before TLS, RFC 2595 4).
  net::awaitable<bool> stls(Pop3Client &c, bool first, LoginAttempt &attempt, bool &retry_insecure);

  // What the first session ends up with before login.
  void record_capabilities(const Pop3Client &c);

  void set_login_delay(const std::string &arg);

  net::awaitable<bool> capa(Pop3Client &c, std::vector<std::string> &into);

  // The probe's order: APOP without TLS when offered; no password in clear
  // without --allow-plaintext; USER/PASS when offered (or no SASL PLAIN); else
  // SASL PLAIN.
  std::optional<client::Auth> choose_auth(const Pop3Client &c) const;

  net::awaitable<bool> login(Pop3Client &c, LoginAttempt &attempt);

  // UIDL listing (numbers -> ids); empty when the server has no UIDL.
  net::awaitable<std::optional<std::map<std::size_t, std::string>>> uidls(Pop3Client &c);

  net::awaitable<std::optional<std::pair<std::size_t, std::uint64_t>>> stat(Pop3Client &c);

  // TOP n 0: the header section. nullopt on a failure (top_error_ says
  // which); `refused` on -ERR.
  net::awaitable<std::optional<MessageObservation>> top(Pop3Client &c, std::size_t n,
                                                        bool &refused);

  net::awaitable<void> read_only();

  // --- active mode
  // ------------------------------------------------------------------------

  std::vector<TestMail> build_cases(const std::string &tag) const;

  // The case a tagged copy belongs to, or nullptr (not ours).
  TestCase *case_of(ActiveResult &ar, const MessageObservation &o);

  static bool covered(const TestCase &c);

  void say_waiting(std::chrono::milliseconds d, int attempt, int attempts) const;

  net::awaitable<void> wait(std::chrono::milliseconds d);

  // Sends every test mail through the provider's MX; false when the MX could not be reached
  // (then every case is recorded unsent and ar.error says why).
  net::awaitable<bool> send_test_mails(ActiveResult &ar, std::vector<TestMail> &mails);

  // One poll's look at the newest messages: the tagged copies recorded in their cases
  // (`ours`: keys already recorded); the message numbers of this run's copies, or nullopt when
  // the session failed (ar.error says why).
  net::awaitable<std::optional<std::vector<std::size_t>>> collect_tagged(
      Pop3Client &c, ActiveResult &ar, std::set<std::string> &ours, std::size_t &n_msgs);

  net::awaitable<void> active();

  // DELE exactly the copies that carry this run's tag, re-checked with TOP in
  // this session.
  net::awaitable<void> cleanup(Pop3Client &c, ActiveResult &ar, const std::vector<std::size_t> &ns);

  Options o_;
  net::asio::any_io_executor ex_;
  Budget budget_;
  Report report_;
  bool skip_verify_ = false;
  std::string top_error_;           // why the last top() failed
  std::set<std::string> baseline_;  // UIDLs that are not ours
};

}  // namespace dropcheck::probe::detail

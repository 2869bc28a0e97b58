#pragma once
// dropcheck probe: a pre-purchase evaluation of a provider's catch-all POP3
// mailbox.
//
// Read-only mode (the default) logs in, reads CAPA and the header section of
// every message (TOP n 0, never RETR, never DELE), tries a second concurrent
// session and an immediate second login. Active mode also sends tagged test
// mails with known envelopes through the provider's MX, polls the mailbox for
// them and compares the stored copies with the envelopes; with `cleanup` it
// deletes exactly its own tagged copies (the only DELE the probe ever sends).
//
// Every operation has a deadline, the whole run a command budget and a
// wall-clock bound. The password is never stored in the report, logged or put
// into an error text; server texts are scrubbed of the user name and password
// before they are kept.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "client/connect.hpp"
#include "client/limits.hpp"
#include "client/tls.hpp"
#include "net/asio.hpp"
#include "probe/observe.hpp"
#include "protocol/pop3_client.hpp"

namespace dropcheck::probe {

// One TLS mode and one endpoint, the client's (client/).
using client::Endpoint;
using client::TlsMode;
using client::to_string;

base::Result<Endpoint> parse_host_port(std::string_view text);

// Limits of the run, each with its reason (the protocol's own are the client's,
// client/limits.hpp).
// The whole run: a read-only probe of 200 messages needs ~210 commands; active
// mode adds up to poll_attempts sessions of the same size.
inline constexpr std::size_t kDefaultMaxCommands = 5000;
inline constexpr std::size_t kDefaultMaxMessages = 200;
// Wall-clock bound of one run (active mode polls for up to attempts x interval
// inside it).
inline constexpr std::chrono::minutes kDefaultRunLimit{30};
// A header section larger than this is not a header section (TOP n 0 of a
// broken server).
inline constexpr std::size_t kMaxHeaderOctets = 1024 * 1024;

using WaitFn = std::function<net::awaitable<void>(std::chrono::milliseconds)>;

struct Options {
  Endpoint pop3;
  TlsMode tls = TlsMode::none;   // none: STLS is still used when the server offers it
  std::string ca_file;           // empty: the system's CAs
  bool insecure = false;         // continue (and log in) when the certificate does not verify
  bool allow_plaintext = false;  // USER/PASS without TLS when neither STLS nor APOP is offered
  std::string user;
  std::string password;       // secret
  std::string password_file;  // only echoed into the recommended configuration
  std::size_t max_messages = kDefaultMaxMessages;
  std::size_t max_commands = kDefaultMaxCommands;
  std::chrono::milliseconds timeout = client::kDefaultTimeout;
  std::chrono::milliseconds run_limit = kDefaultRunLimit;
  // The second concurrent session and the immediate re-login (locking,
  // login-delay). Off for a health check (probe/accounts.hpp): one login only.
  bool lock_checks = true;

  // --- active mode ---
  bool send_tests = false;
  Endpoint smtp;
  std::string domain;                                        // the catch-all domain (local)
  std::string foreign_address = "outsider@foreign.invalid";  // only ever in a Cc: header
  std::string from;  // envelope sender; default probe@domain
  std::string helo = "dropcheck-probe.invalid";
  bool cleanup = false;
  int poll_attempts = 10;
  std::chrono::milliseconds poll_interval = std::chrono::seconds(30);
  std::string tag;  // unique per run; empty: random

  WaitFn wait;                                // default: a steady_timer
  std::function<void(std::string_view)> log;  // progress, one key=value line each, no secrets
  // What the probe waits for and how long, before each wait ("waiting 901 s
  // for poll 2 of 10: LOGIN-DELAY 900 s"): `dropcheck probe` shows it on a
  // terminal, so a long LOGIN-DELAY is never silence.
  std::function<void(std::string_view)> waiting;
};

// How an authentication attempt ended.
enum class LoginResult { not_tried, ok, in_use, login_delay, auth_failed, temp_failure, io_error };
std::string_view to_string(LoginResult r);

struct LoginAttempt {
  LoginResult result = LoginResult::not_tried;
  std::string mechanism;  // "USER", "APOP"
  std::string resp_code;  // RFC 2449 8 response code, "" none
  std::string text;       // server text, scrubbed of credentials
};

struct Pop3Facts {
  bool connected = false;
  std::string greeting;  // scrubbed
  bool implicit_tls = false;
  bool stls_offered = false;
  bool stls_used = false;
  bool tls = false;                // the session ran under TLS
  std::string tls_error;           // the TLS step (handshake, STLS, certificate) failed
  std::optional<bool> cert_valid;  // nullopt: no TLS
  std::string cert_error;
  bool capa_supported = false;
  std::vector<std::string> capa_before_tls;  // CAPA lines in the clear (empty when not seen)
  std::vector<std::string> capa;             // the last CAPA seen before login
  std::vector<std::string> capa_after_login;
  bool apop_offered = false;
  bool user_offered = false;
  bool user_offered_in_clear = false;
  std::vector<std::string> sasl;
  std::optional<std::int64_t> login_delay_advertised;  // CAPA LOGIN-DELAY (after login if there)
  std::string expire;                                  // CAPA EXPIRE
  bool resp_codes = false;
  bool pipelining = false;
  bool top = false;    // TOP worked
  bool uidl = false;   // UIDL worked
  LoginAttempt login;  // the first session
  std::size_t message_count = 0;
  std::uint64_t maildrop_octets = 0;
  std::size_t examined = 0;   // TOP n 0 done
  LoginAttempt concurrent;    // second session while the first is logged in
  LoginAttempt second_login;  // new session right after the first QUIT
  std::size_t commands = 0;
};

// One active-mode test mail and what became of it.
struct TestCase {
  std::string id;  // "to-only", "cc-foreign", "bcc-local", "bcc-only",
                   // "multi-local", "null-sender"
  std::string description;
  std::string mail_from;           // "" = <>
  std::vector<std::string> rcpts;  // envelope recipients (all local)
  std::vector<std::string> bcc;    // those of rcpts named in no header
  std::string message_id;
  int smtp_code = 0;  // final reply to DATA (0: not sent)
  std::string smtp_text;
  std::vector<MessageObservation> copies;  // stored copies found in the mailbox
};

struct ActiveResult {
  std::string tag;
  std::vector<TestCase> cases;
  int polls = 0;
  bool complete = false;    // every sent case was found with all its recipients
  std::size_t deleted = 0;  // tagged copies removed by --cleanup
  std::string error;        // sending or polling failed (scrubbed)
};

enum class Verdict { pass, warn, fail, unknown, info };
std::string_view to_string(Verdict v);

struct Answer {
  std::string id;        // stable: "tls", "envelope-header", "bcc-recoverable", ...
  std::string question;  // for people
  Verdict verdict = Verdict::unknown;
  std::string answer;
  std::string evidence;
};

// The provider as observed, in fake-pop3 profile terms
// (fake-pop3/profiles/README.md). `observed` names the fields that rest on
// evidence; the others are the schema defaults.
struct InferredProfile {
  std::string name = "observed";
  std::string description;
  std::string envelope_header;  // "" none
  // No envelope header, but the MX's own Received line names the recipient
  // ("for <rcpt>", one-recipient copies only): its host; "" none.
  std::string received_by;
  std::string received_inner_by;  // an internal hop's Received line above it
  std::string envelope_style = "per-line";
  bool copy_per_recipient = false;
  bool qmail_prefix = false;
  bool return_path = true;
  std::string delivered_to = "none";  // none | recipient | mailbox
  std::string mailbox_address;
  std::string locking = "exclusive";
  std::int64_t login_delay_s = 0;
  bool advertise_login_delay = true;
  bool apop = false;
  bool user_pass = true;
  bool sasl_plain = true;
  bool stls = true;
  bool plaintext_without_tls = true;
  bool resp_codes = true;
  bool pipelining = true;
  std::string expire;
  std::vector<std::string> observed;
  // For fetcher settings: which occurrence carries the provider's recipient (0
  // every, 1 top).
  int envelope_occurrence = 0;
  std::vector<std::string> local_domains;
};

struct Report {
  std::string target;  // "host:port" (never the user)
  std::string mode;    // "read-only" | "active"
  std::string started_at;
  TlsMode tls_mode = TlsMode::none;  // what the session ended up using
  Pop3Facts pop3;
  std::vector<MessageObservation> messages;
  std::optional<ActiveResult> active;
  std::vector<Answer> answers;
  InferredProfile profile;
  std::string error;  // why the probe stopped early (scrubbed), "" when it ran through
  std::vector<std::string> notes;
  // Echoed into the recommended configuration (paths and flags only, never
  // secrets).
  std::string host;
  std::uint16_t port = 0;
  std::string ca_file;
  bool insecure = false;
  std::string password_file;
  std::string domain;
};

// What a -ERR answer to a login says: its RFC 2449 8 / RFC 3206 response code,
// else the usual wordings ("in use", "locked" maildrop, "delay"); an account
// that is locked or disabled is a refused login, not a maildrop in use.
LoginResult classify_refusal(const protocol::Pop3Status &st);

// Runs the probe on the caller's executor.
net::awaitable<Report> run_probe(Options options);
// Runs it on an own io_context (bounded by options.run_limit).
Report run_probe_blocking(Options options);

// Inference from the collected facts: the answers and the profile. Pure;
// run_probe calls it.
void infer(Report &report);

// Outputs. None of them contains the user name or the password.
std::string to_text(const Report &r);
std::string to_json(const Report &r);  // pretty-printed JSON document
std::string to_html(const Report &r);
std::string profile_yaml(const Report &r);         // fake-pop3 profile, version 1
std::string core_config_snippet(const Report &r);  // dropcheck fetch --config
std::string fetchmailrc_snippet(const Report &r);

// Exit status for the CLI: 0 when no answer is `fail` and the probe ran
// through, 1 otherwise.
int exit_status(const Report &r);

}  // namespace dropcheck::probe

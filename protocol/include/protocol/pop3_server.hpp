#pragma once
// POP3 server side as a sans-I/O state machine: RFC 1939 (states, commands, UPDATE only on
// QUIT), RFC 2449 (CAPA, response codes, line limits), RFC 5034 (AUTH, SASL PLAIN), RFC 2595
// (STLS). Bytes in, bytes out; the maildrop behind it is an interface (Pop3Maildrop) so a fake
// provider, a test double or a fuzzer can sit there. No I/O, no clock.
//
//   Pop3Server s(maildrop, options);
//   write(s.greeting());
//   while (!s.closing()) { s.receive(read(), out); write(out); if (s.take_tls_request()) ... }
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::protocol {

// RFC 2449 4: "Commands ... are up to 255 octets, including the terminating CRLF".
inline constexpr std::size_t kPop3MaxCommandOctets = 255;
// RFC 2449 4: "Keywords and arguments ... up to 40 characters".
inline constexpr std::size_t kPop3MaxArgumentOctets = 40;
// RFC 5034 4: AUTH continuation responses are not bound by the 255-octet command limit; a PLAIN
// response (authzid, authcid, password, each <= 255 octets) in base64 fits comfortably here.
inline constexpr std::size_t kPop3MaxSaslResponseOctets = 2048;
// Postfix-style error budget: protocol errors (unknown command, bad syntax, wrong state, line
// too long, no such message) tolerated before "-ERR too many errors" and close.
inline constexpr std::size_t kPop3DefaultMaxErrors = 10;
// Failed authentication attempts before the server closes (RFC 1939 4 lets it close at once).
inline constexpr std::size_t kPop3DefaultMaxAuthFailures = 3;
// RFC 1939 7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E.
inline constexpr std::size_t kPop3MaxUidlOctets = 70;

enum class Pop3State {
  authorization,  // RFC 1939 3: after the greeting, until USER/PASS, APOP or AUTH succeed
  transaction,    // maildrop locked, commands act on the snapshot
  update,         // after QUIT in TRANSACTION: deletions committed, then closed
  closed,         // nothing more is read; the connection is to be closed
};
std::string_view to_string(Pop3State s);

enum class Pop3AuthMechanism { user_pass, apop, sasl_plain };
std::string_view to_string(Pop3AuthMechanism m);

struct Pop3Credentials {
  Pop3AuthMechanism mechanism = Pop3AuthMechanism::user_pass;
  std::string user;            // USER / APOP name / SASL authcid
  std::string authzid;         // SASL PLAIN authorization identity, empty when none
  std::string password;        // USER/PASS and SASL PLAIN; empty for APOP
  std::string apop_timestamp;  // APOP: the greeting's "<...>" timestamp
  std::string apop_digest;     // APOP: 32 lower-case hex digits as sent
  bool tls = false;            // the session runs under TLS (STLS done or implicit)
  bool stls_offered = false;   // STLS was available but not used when the secret was sent
};

// Outcome of authentication and locking, mapped to RFC 2449 8 / RFC 3206 response codes.
enum class Pop3AuthStatus {
  ok,
  bad_credentials,  // -ERR [AUTH] (AUTH-RESP-CODE, RFC 3206 4)
  login_delay,      // -ERR [LOGIN-DELAY] (RFC 2449 8.1.1)
  in_use,           // -ERR [IN-USE] (RFC 2449 8.1.2)
  sys_temp,         // -ERR [SYS/TEMP] (RFC 3206 5)
  sys_perm,         // -ERR [SYS/PERM] (RFC 3206 5)
};
std::string_view to_string(Pop3AuthStatus s);

struct Pop3AuthResult {
  Pop3AuthStatus status = Pop3AuthStatus::ok;
  std::string text;  // human text after the response code; a default is used when empty
};

enum class Pop3RetrieveKind { retr, top };

struct Pop3Retrieval {
  enum class Kind {
    ok,     // send `message`
    error,  // "-ERR <error_text>" (text may start with a response code such as "[SYS/TEMP]")
    drop,   // send "+OK" and the first `drop_after` octets of the stuffed body, then close
  };
  Kind kind = Kind::ok;
  std::string_view message;  // must stay valid until receive() returns
  std::string error_text;
  std::size_t drop_after = 0;
};

struct Pop3CommitResult {
  bool ok = true;    // false: "-ERR [SYS/TEMP] ..." on QUIT (RFC 1939 6)
  std::string text;  // optional human text
};

// The maildrop behind one session. Message indices are 0-based positions in the snapshot taken
// by lock(); they never change during a session (RFC 1939 5: message numbers are stable).
class Pop3Maildrop {
 public:
  virtual ~Pop3Maildrop() = default;
  // Checks the secret (and any policy such as LOGIN-DELAY) for USER/PASS, APOP or AUTH.
  virtual Pop3AuthResult authenticate(const Pop3Credentials& credentials) = 0;
  // After successful authentication: acquire the maildrop lock and snapshot the message list.
  virtual Pop3AuthResult lock() = 0;
  virtual std::size_t message_count() const = 0;
  // The size STAT/LIST/RETR report: octets of the message with CRLF line endings, before
  // byte-stuffing (RFC 1939 5 and 11). See pop3_octets().
  virtual std::uint64_t message_octets(std::size_t index) const = 0;
  virtual std::string message_uidl(std::size_t index) const = 0;
  virtual Pop3Retrieval retrieve(std::size_t index, Pop3RetrieveKind kind) = 0;
  // UPDATE state: remove the messages marked deleted (ascending indices).
  virtual Pop3CommitResult commit(std::span<const std::size_t> deleted) = 0;
  // The session left TRANSACTION (after commit, or without QUIT): release the lock. Called at
  // most once, and only after a successful lock().
  virtual void release() = 0;
};

struct Pop3ServerOptions {
  std::string implementation = "dropcheck";  // CAPA IMPLEMENTATION and greeting
  bool user_pass = true;                     // USER/PASS offered (CAPA USER)
  bool apop = false;                         // APOP offered: greeting carries apop_timestamp
  std::string apop_timestamp;                // "<unique@host>" (RFC 1939 7); required for apop
  bool sasl_plain = true;                    // AUTH PLAIN (RFC 5034, CAPA SASL PLAIN)
  bool plaintext_without_tls = true;         // false: USER/PASS/PLAIN refused until TLS
  bool stls = false;                         // STLS offered (RFC 2595) when not yet under TLS
  bool tls_active = false;                   // implicit TLS (POP3S) or already started
  bool top = true;                           // TOP and CAPA TOP
  bool uidl = true;                          // UIDL and CAPA UIDL
  bool pipelining = true;                    // CAPA PIPELINING (RFC 2449 6.6)
  bool resp_codes = true;                    // CAPA RESP-CODES; false: codes left out of replies
  bool auth_resp_code = true;                // CAPA AUTH-RESP-CODE (RFC 3206): [AUTH]
  std::string expire;                        // CAPA EXPIRE value ("NEVER", "0", "30"), "" = none
  std::int64_t login_delay_s = -1;           // CAPA LOGIN-DELAY seconds, < 0 = not advertised
  std::size_t max_errors = kPop3DefaultMaxErrors;
  std::size_t max_auth_failures = kPop3DefaultMaxAuthFailures;
};

struct Pop3SessionStats {
  std::size_t commands = 0;  // complete command lines processed
  std::size_t errors = 0;    // protocol errors counted against the budget
  std::size_t auth_failures = 0;
  std::size_t retrieved = 0;  // RETR answered with +OK
  std::size_t committed_deletions = 0;
  bool quit = false;             // the client ended with QUIT
  bool too_many_errors = false;  // closed because the error budget ran out
};

class Pop3Server {
 public:
  Pop3Server(Pop3Maildrop& maildrop, Pop3ServerOptions options);
  ~Pop3Server();
  Pop3Server(const Pop3Server&) = delete;
  Pop3Server& operator=(const Pop3Server&) = delete;

  // "+OK ... ready[ <timestamp>]\r\n".
  std::string greeting() const;
  // Feed received bytes (any split); replies are appended to `out`. Complete lines are answered
  // in order (pipelining, RFC 2449 6.6). Input after QUIT or STLS is discarded.
  void receive(std::string_view in, std::string& out);
  // True once the connection should be closed after `out` is written.
  bool closing() const { return state_ == Pop3State::closed; }
  // Part of a command line has arrived, not yet its end (for a per-command deadline).
  bool partial_command() const { return !line_.empty(); }
  Pop3State state() const { return state_; }
  // True once after "+OK" to STLS: the caller performs the TLS handshake, then on_tls_started().
  bool take_tls_request();
  void on_tls_started();
  // The connection ended (any reason): without QUIT no UPDATE happens (RFC 1939 6); the lock is
  // released. Returns nothing to send: RFC 1939 3 says an autologout closes without a response.
  void finish();
  const Pop3SessionStats& stats() const { return stats_; }
  bool tls() const { return options_.tls_active; }
  // The user that authenticated, empty before.
  const std::string& user() const { return user_; }

 private:
  struct Command;
  void process_line(std::string_view line, std::string& out);
  void process_sasl_response(std::string_view line, std::string& out);
  void error(std::string& out, std::string_view text);
  void reply_err(std::string& out, std::string_view code, std::string_view text);
  void auth_done(const Pop3Credentials& credentials, std::string& out);
  void auth_failed(std::string& out, const Pop3AuthResult& r);
  bool parse_msg(std::string_view arg, std::size_t& index, std::string& out);
  void leave_transaction();

  void cmd_user(std::string_view args, std::string& out);
  void cmd_pass(std::string_view args, std::string& out);
  void cmd_apop(std::string_view args, std::string& out);
  void cmd_auth(std::string_view args, std::string& out);
  void cmd_stls(std::string_view args, std::string& out);
  void cmd_capa(std::string_view args, std::string& out);
  void cmd_stat(std::string_view args, std::string& out);
  void cmd_list(std::string_view args, std::string& out);
  void cmd_uidl(std::string_view args, std::string& out);
  void cmd_retr(std::string_view args, std::string& out);
  void cmd_top(std::string_view args, std::string& out);
  void cmd_dele(std::string_view args, std::string& out);
  void cmd_noop(std::string_view args, std::string& out);
  void cmd_rset(std::string_view args, std::string& out);
  void cmd_quit(std::string_view args, std::string& out);
  void send_message(std::size_t index, Pop3RetrieveKind kind, std::size_t top_lines,
                    std::string& out);

  Pop3Maildrop& maildrop_;
  Pop3ServerOptions options_;
  Pop3State state_ = Pop3State::authorization;
  std::string line_;           // partial command line
  bool discarding_ = false;    // skipping the rest of an over-long line
  bool sasl_pending_ = false;  // waiting for the AUTH PLAIN continuation response
  bool tls_request_ = false;
  bool locked_ = false;
  std::string pending_user_;  // after USER, until PASS
  bool have_pending_user_ = false;
  std::string user_;
  std::vector<bool> deleted_;
  Pop3SessionStats stats_;
};

// Octets of `message` as POP3 counts them: every line ending as CRLF (bare LF counts 2, a
// missing final line ending is added), before byte-stuffing.
std::uint64_t pop3_octets(std::string_view message);
// RFC 1939 7: lower-case hex MD5 of timestamp followed by the shared secret.
std::string apop_digest(std::string_view timestamp, std::string_view secret);
// The TOP response body: header section, the blank line, then the first `lines` body lines.
std::string_view pop3_top(std::string_view message, std::size_t lines);

}  // namespace dropcheck::protocol

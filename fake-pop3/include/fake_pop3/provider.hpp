#pragma once
// The fake provider: an MX intake that stamps the envelope into the stored copy as its profile
// says, and a POP3 service on the resulting catch-all maildrop. Sessions are sans-I/O
// net::ProtocolSession objects for net::Server.
//
// Threading and lifetime: not thread-safe; use it from the one io_context thread (deliver() from
// the same thread as the servers run on). The Provider must outlive every session it made.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "fake_pop3/profile.hpp"
#include "net/server.hpp"

namespace dropcheck::fake_pop3 {

// One copy in the catch-all maildrop.
struct StoredMessage {
  std::uint64_t seq = 0;           // delivery order, from 1
  std::string uidl;                // RFC 1939 7: 0x21..0x7E, at most 70 octets
  std::string data;                // stamped message as stored (line endings as received)
  std::string mail_from;           // envelope sender, "" for <>
  std::vector<std::string> rcpts;  // the envelope recipients this copy was stamped for
  base::Millis delivered_at{0};    // clock time of delivery
};

// One POP3 connection, key facts for the analyzer. Secrets are never recorded.
struct SessionLogEntry {
  std::uint64_t id = 0;        // from 1, in connection order
  std::string peer;            // "127.0.0.1:54321"
  base::Millis started_at{0};  // clock time of connect
  base::Millis ended_at{0};    // clock time of finish (0 while open)
  bool implicit_tls = false;   // POP3S listener
  bool tls = false;            // under TLS at the end (implicit or STLS)
  bool stls_used = false;
  std::string auth_mechanism;  // "USER", "APOP", "PLAIN" of the last attempt; "" none
  std::string user;            // as given in the last attempt
  std::size_t auth_attempts = 0;
  std::string auth_result;  // last attempt: "ok", "bad-credentials", "login-delay",
                            // "in-use", "sys-temp", "sys-perm"; "" none
  bool cleartext_password_while_stls_offered = false;  // USER/PASS or PLAIN sent in clear
  std::optional<base::Millis> login_at;                // clock time of a successful login
  std::vector<std::string> retrieved_uidls;            // RETR'd, in order (TOP not included)
  std::vector<std::string> topped_uidls;               // TOP'd, in order (any line count)
  std::vector<std::string> deleted_uidls;              // DELE'd and committed at QUIT
  std::vector<std::uint64_t> deleted_seqs;  // the same, as StoredMessage::seq (whatever UIDL
                                            // the client was shown)
  bool quit = false;                                   // ended with QUIT
  std::string end_reason;  // "closed", "peer-closed", "timeout", "fault-drop", ...
  std::uint64_t bytes_out = 0;
  std::size_t errors = 0;  // protocol errors counted by the server
};

class Provider {
 public:
  Provider(Profile profile, std::string user, std::string password, const base::Clock& clock);
  ~Provider();
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;

  // MX intake in process: the message as the world sent it, with its envelope; stamps per
  // profile and stores (one copy, or one per recipient).
  void deliver(std::string_view mail_from, const std::vector<std::string>& rcpts,
               std::string_view message);
  // The stamped copies deliver() would store, without storing them.
  std::vector<std::string> stamp(std::string_view mail_from, const std::vector<std::string>& rcpts,
                                 std::string_view message) const;

  std::unique_ptr<net::ProtocolSession> make_pop3_session(const net::Peer& peer);
  // SMTP intake (protocol::SmtpServerSession) whose accepted messages go to deliver().
  std::unique_ptr<net::ProtocolSession> make_mx_session(const net::Peer& peer);

  // net::Server options matching the profile (max sessions, busy reply). `tls` enables STLS
  // (when the profile offers it) and is needed for an implicit-TLS listener.
  net::ServerOptions pop3_server_options(std::shared_ptr<net::ssl::context> tls = nullptr,
                                         bool implicit_tls = false);
  // Their on_refused records a connection refused before it had a session (too many sessions,
  // out of descriptors): record_refused().
  // A refused connection's log entry (end_reason "too-many-sessions" or "fd-limit"), passed to
  // the session observer like any other.
  void record_refused(const net::Peer& peer, std::string_view reason);
  // Whether STLS may be offered (a TLS context exists); pop3_server_options(tls) sets it.
  void set_stls_available(bool available) { stls_available_ = available; }

  std::size_t stored_count() const { return store_.size(); }
  // StoredMessage::seq of the last copy stored (0: none yet); deliver() adds seqs after it.
  std::uint64_t last_seq() const { return next_seq_ - 1; }
  std::vector<StoredMessage> stored() const;
  const std::vector<SessionLogEntry>& session_log() const { return log_; }
  const Profile& profile() const { return profile_; }
  // Provider drift: the next deliveries and sessions follow the new profile.
  void set_profile(Profile profile) { profile_ = std::move(profile); }
  const std::string& user() const { return user_; }
  std::size_t deliveries() const { return deliveries_; }
  // Called once per POP3 session when it ends, with its final log entry (programs log it).
  void on_session_end(std::function<void(const SessionLogEntry&)> observer) {
    session_observer_ = std::move(observer);
  }
  // How often each fault fired over every session so far, by its profile key
  // (scheduled_faults()): a fault a profile schedules but that never fired was not exercised.
  const std::map<std::string, std::size_t>& fired_faults() const { return fired_; }

 private:
  friend class Pop3Session;
  friend class MxSession;

  Profile profile_;
  std::string user_;
  std::string password_;
  const base::Clock& clock_;
  bool stls_available_ = false;
  std::vector<std::shared_ptr<const StoredMessage>> store_;
  std::vector<SessionLogEntry> log_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t uidl_generation_ = 0;  // bumped by Represent::new_uidl
  std::size_t deliveries_ = 0;
  std::int64_t correct_logins_ = 0;  // for Faults::auth_failures
  std::optional<base::Millis> last_login_;
  std::optional<std::uint64_t> lock_holder_;  // session id holding the exclusive lock
  std::string apop_nonce_;
  std::function<void(const SessionLogEntry&)> session_observer_;
  std::map<std::string, std::size_t> fired_;
  void fired(const char* fault) { ++fired_[fault]; }
};

// The profile keys of the faults `f` schedules, sorted ("drop_in_retr", "err_on_retr", ...);
// `sessions` only limits the others and is not a fault of its own.
std::vector<std::string> scheduled_faults(const Faults& f);

// One key=value line for a log: "event=pop3-session id=1 peer=... retrieved=3 deleted=3 ...".
std::string to_log_line(const SessionLogEntry& e);

}  // namespace dropcheck::fake_pop3

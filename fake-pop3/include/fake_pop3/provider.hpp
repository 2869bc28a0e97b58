#pragma once
// The fake provider: an MX intake that stamps the envelope into the stored copy as its profile
// says, and a POP3 service on its mailboxes (one catch-all maildrop, or several: per-user boxes
// that own addresses beside an optional catch-all). Sessions are sans-I/O net::ProtocolSession
// objects for net::Server.
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
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "fake_pop3/profile.hpp"
#include "net/server.hpp"

namespace dropcheck::fake_pop3 {

// A mailbox at the provider: POP3 credentials and the envelope recipients it receives.
struct Mailbox {
  std::string user;
  std::string password;
  std::vector<std::string> addresses;  // recipients it owns (compared case-insensitively)
  bool catch_all = false;  // also receives every recipient no mailbox owns (at most one box)
};

// One copy in a mailbox.
struct StoredMessage {
  std::uint64_t seq = 0;           // delivery order over all mailboxes, from 1
  std::string mailbox;             // Mailbox::user of the box it is stored in
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
  std::string user;            // as given in the last attempt (the box logged in to on "ok")
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
  bool quit = false;                        // ended with QUIT
  std::string end_reason;                   // "closed", "peer-closed", "timeout", "fault-drop", ...
  std::uint64_t bytes_out = 0;
  std::size_t errors = 0;  // protocol errors counted by the server
};

class Provider {
 public:
  // One catch-all mailbox: every recipient lands in it.
  Provider(Profile profile, std::string user, std::string password, const base::Clock& clock);
  // Several mailboxes. Throws std::invalid_argument (naming the user or address) for no
  // mailbox, an empty or repeated user, more than one catch-all, an empty address, or an address
  // owned by two boxes (case-insensitively).
  Provider(Profile profile, std::vector<Mailbox> mailboxes, const base::Clock& clock);
  ~Provider();
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;

  // MX intake in process: the message as the world sent it, with its envelope. The recipients
  // are split by mailbox: an owned address goes to its box, any other to the catch-all box; with
  // no catch-all it is refused (counted in refused_rcpts(), not stored), as the provider's MX
  // answers 550. Each box gets its own copies, stamped per profile for its recipients (stamp()).
  void deliver(std::string_view mail_from, const std::vector<std::string>& rcpts,
               std::string_view message);
  // Whether the MX accepts mail for `rcpt` (a box owns it, or there is a catch-all).
  bool accepts(std::string_view rcpt) const { return route(rcpt) != kNoBox; }
  // Recipients refused for want of a mailbox: by deliver() and at RCPT by the MX session.
  std::size_t refused_rcpts() const { return refused_rcpts_; }
  // The stamped copies deliver() would store, without storing them. `box_address` is what a
  // `delivered_to: mailbox` profile writes (empty: the profile's mailbox_address, the
  // catch-all's); a per-user box gets its own address there, as a provider writes it.
  std::vector<std::string> stamp(std::string_view mail_from, const std::vector<std::string>& rcpts,
                                 std::string_view message, std::string_view box_address = {}) const;

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

  // Over all mailboxes.
  std::size_t stored_count() const;
  // StoredMessage::seq of the last copy stored (0: none yet); deliver() adds seqs after it.
  std::uint64_t last_seq() const { return next_seq_ - 1; }
  // Every mailbox's copies, in seq order.
  std::vector<StoredMessage> stored() const;
  // One mailbox's copies, in seq order (none for an unknown user).
  std::vector<StoredMessage> stored(std::string_view user) const;
  const std::vector<SessionLogEntry>& session_log() const { return log_; }
  const Profile& profile() const { return profile_; }
  // Provider drift: the next deliveries and sessions follow the new profile.
  void set_profile(Profile profile) { profile_ = std::move(profile); }
  // The first mailbox's user (the one of the single-mailbox constructor).
  const std::string& user() const { return mailboxes_.front().user; }
  const std::vector<Mailbox>& mailboxes() const { return mailboxes_; }
  // The password changed at the provider: logins checked after this use `password` (false: no
  // such mailbox).
  bool set_password(std::string_view user, std::string password);
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

  // A mailbox's state: its maildrop and what POP3 keeps per maildrop.
  struct Box {
    std::vector<std::shared_ptr<const StoredMessage>> store;
    std::optional<base::Millis> last_login;    // for Profile::login_delay_s
    std::optional<std::uint64_t> lock_holder;  // session id holding the exclusive lock
  };
  static constexpr std::size_t kNoBox = static_cast<std::size_t>(-1);
  // The box receiving mail for `rcpt`: its owner, else the catch-all, else kNoBox.
  std::size_t route(std::string_view rcpt) const;
  std::size_t box_of_user(std::string_view user) const;  // kNoBox: unknown
  // The Received lines (name, value) the provider's MX and inner hop add to one copy, top-down.
  std::vector<std::pair<std::string, std::string>> received_lines(
      std::string_view mail_from, const std::vector<std::string>& group, std::string_view message,
      std::size_t copy) const;

  Profile profile_;
  std::vector<Mailbox> mailboxes_;  // configuration; boxes_[i] is the state of mailboxes_[i]
  std::vector<Box> boxes_;
  std::map<std::string, std::size_t> owner_;  // lower-cased address -> box
  std::size_t catch_all_ = kNoBox;
  const base::Clock& clock_;
  bool stls_available_ = false;
  std::vector<SessionLogEntry> log_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t uidl_generation_ = 0;  // bumped by Represent::new_uidl
  std::size_t deliveries_ = 0;
  std::size_t refused_rcpts_ = 0;
  std::int64_t correct_logins_ = 0;  // for Faults::auth_failures (over all mailboxes)
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

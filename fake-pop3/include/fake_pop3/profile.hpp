#pragma once
// A provider profile: how the fake provider stamps the envelope into the stored copy, how its
// POP3 service behaves, and which faults it injects. Read once from YAML (built-in profiles are
// compiled in from fake-pop3/profiles/*.yaml; see fake-pop3/profiles/README.md for the schema).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace dropcheck::fake_pop3 {

// How several recipients of one stored copy are written into the envelope header.
enum class EnvelopeStyle {
  per_line,  // one header line per recipient ("X-Envelope-To: a@x" / "X-Envelope-To: b@x")
  list,      // one line listing all ("Envelope-To: a@x, b@x", as Exim's envelope_to_add)
};

// An extra Delivered-To line besides the envelope header (Postfix local/virtual delivery).
enum class DeliveredTo {
  none,
  recipient,  // the envelope recipient of the copy
  mailbox,    // the catch-all mailbox address (Profile::mailbox_address): what Postfix writes
              // after virtual alias expansion -- not the original recipient
};

// What happens to messages deleted at QUIT ("re-presenting provider").
enum class Represent {
  off,        // deleted means gone
  same_uidl,  // claims success, keeps them: they are presented again with the same UIDL
  new_uidl,   // keeps them and gives them a new UIDL (a fetcher's UIDL cache does not help)
};

struct Faults {
  std::uint64_t drop_after_bytes = 0;    // close a POP3 session after this many octets out; 0 off
  std::size_t drop_in_retr = 0;          // message number whose RETR is cut off; 0 off
  std::size_t drop_in_retr_after = 0;    // octets of that message sent before the cut
  std::vector<std::size_t> err_on_retr;  // message numbers answered "-ERR [SYS/TEMP]" on RETR
  bool duplicate_uidls = false;          // message 2k reports the UIDL of message 2k-1
  bool changing_uidls = false;           // every session reports different UIDLs
  std::int64_t auth_failures = 0;        // first N correct logins refused; -1: always (changed
                                         // password at the provider)
  std::int64_t list_size_delta = 0;      // STAT/LIST/RETR sizes off by this many octets (lie)
  Represent represent_deleted = Represent::off;
  // The connection faults above (not represent_deleted) apply only to the first N POP3
  // sessions; later sessions are healthy (a transient outage). 0 = every session.
  std::uint64_t sessions = 0;
};

struct Profile {
  std::string name;
  std::string description;

  // --- stamping at MX intake -----------------------------------------------------------
  std::string envelope_header;  // "" = none, else e.g. "X-Envelope-To", "Delivered-To"
  EnvelopeStyle envelope_style = EnvelopeStyle::per_line;
  bool copy_per_recipient = false;  // one stored copy per envelope recipient vs one for all
  bool qmail_prefix = false;        // Delivered-To values as "example.com-hans@example.com"
  bool return_path = true;          // "Return-Path: <sender>" ("<>" for the null sender) on top
  DeliveredTo delivered_to = DeliveredTo::none;
  std::string mailbox_address = "catchall@provider.example";
  // The provider MX's own Received line (RFC 5321 4.4: from, by, with, id, for, date), on top
  // of the message as received: "by <received_by>", and "for <rcpt>" only when the copy has
  // exactly one recipient, as Postfix, Sendmail and Exim write it. "" = no Received line.
  std::string received_by;
  // An internal hop of the provider (MX -> mail store over LMTP) adds its own Received line
  // above the MX's, without a for clause: the topmost line is not the MX's. "" = none.
  std::string received_inner_by;

  // --- POP3 service ----------------------------------------------------------------------
  enum class Locking { exclusive, none } locking = Locking::exclusive;
  std::int64_t login_delay_s = 0;     // minimum seconds between logins, enforced; 0 off
  bool advertise_login_delay = true;  // CAPA LOGIN-DELAY when login_delay_s > 0
  bool apop = false;
  bool user_pass = true;
  bool sasl_plain = true;
  bool stls = true;  // offered when the server has a TLS context
  bool plaintext_without_tls = true;
  bool resp_codes = true;
  bool pipelining = true;
  std::string expire;                      // CAPA EXPIRE value, "" = not advertised
  std::uint64_t throttle_bytes_per_s = 0;  // 0 = unlimited
  // RFC 1939 3: an autologout timer must be at least 10 minutes.
  std::int64_t idle_timeout_s = 600;
  std::size_t max_sessions = 16;  // concurrent POP3 connections

  Faults faults;
};

// A built-in profile name (embedded fake-pop3/profiles/<name>.yaml) or a path to a YAML file.
// Errors name the file, line, column and field; unknown keys are rejected; `version: 1` is
// required.
base::Result<Profile> load_profile(std::string_view name_or_path);
// Parses profile YAML text; `origin` names it in errors (a path or "builtin:<name>").
base::Result<Profile> parse_profile(std::string_view yaml, std::string_view origin);
std::vector<std::string> builtin_profile_names();

std::string_view to_string(EnvelopeStyle s);
std::string_view to_string(DeliveredTo d);
std::string_view to_string(Represent r);
std::string_view to_string(Profile::Locking l);

}  // namespace dropcheck::fake_pop3

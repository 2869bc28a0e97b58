#pragma once
// The fetcher core's configuration: one POP3 account (the provider's catch-all mailbox), one
// delivery target (the in-house SMTP/LMTP server), routing intent and state. Loaded from YAML
// once, into these plain structs; errors name file, line and field.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "base/yaml.hpp"
#include "client/tls.hpp"
#include "mail/envelope.hpp"

namespace dropcheck::fetcher {

using TlsMode = client::TlsMode;  // one definition, the client's

struct Pop3Account {
  std::string host = "127.0.0.1";
  std::uint16_t port = 110;
  TlsMode tls = TlsMode::none;
  bool verify_certificate = true;  // disabling it is explicit and logged
  std::string ca_file;             // empty: system CAs
  std::string user;
  std::string password;  // or password_file; never logged
  bool apop = false;     // shorthand for auth: apop
  // auto: SASL PLAIN when offered (RFC 5034), else USER/PASS; apop; plain; user.
  std::string auth = "auto";
  std::chrono::milliseconds timeout = std::chrono::seconds(60);  // one read or write
  // Wall-clock bounds that no trickling server resets (RFC 1939 3's 10-minute autologout in
  // mind): one message's retrieval, and the whole POP3 session of a cycle. On expiry the
  // session is closed without QUIT, so nothing is deleted; the message is held (back-off).
  std::chrono::milliseconds message_deadline = std::chrono::minutes(10);
  std::chrono::milliseconds cycle_deadline = std::chrono::minutes(60);
  // Largest message retrieved (memory is bounded by it); a larger one, by LIST or as it
  // arrives, stays on the server with an alert and the cycle goes on with the next.
  std::size_t max_message_size = 64 * 1024 * 1024;
};

struct Delivery {
  std::string host = "127.0.0.1";
  std::uint16_t port = 25;
  bool lmtp = false;
  std::string helo = "dropcheck-fetcher";
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
};

enum class RecipientSource { envelope_header, to_cc };

// multidrop: the provider's catch-all mailbox, recipients from the envelope header. single: a
// provider mailbox of one user (the SBS connector's "user mailbox"): every message goes to
// Routing::deliver_to (the box is the recipient); envelope headers and Bcc are still stripped.
enum class Mode { multidrop, single };

struct Routing {
  RecipientSource source = RecipientSource::envelope_header;
  std::vector<mail::EnvelopeSpec> envelope;    // tried in order; the first header present wins
  std::vector<std::string> local_domains;      // lower-case
  std::map<std::string, std::string> aliases;  // normalised address -> mailbox
  std::vector<std::string> users;              // known local mailboxes; empty = any local address
  std::string fallback;                        // unknown users, missing envelope header, 5xx
  std::vector<std::string> strip_headers;      // removed before delivery (default: all known + Bcc)
  // A message stored without Return-Path: false (default) sends it with MAIL FROM:<> and an
  // alert; true takes the From address instead. Reports (multipart/report) get <> either way.
  bool sender_from_header = false;
  Mode mode = Mode::multidrop;
  std::string deliver_to;  // Mode::single: the one local mailbox (at a local domain)
};

// Named defect models that reproduce known-bad fetchers (harness only, see defects.hpp).
enum class Defect { none, sbs_connector, pullmail, no_strip, no_lock, no_dedup, fill_empty_sender };
std::string_view defect_name(Defect d);
// Error "bad-defect" naming the known models.
base::Result<Defect> parse_defect(std::string_view name);
// The defect models, without "none": "sbs-connector, pullmail, ...".
std::string defect_model_names();

struct Config {
  std::string name = "default";  // account name: state file and lock are per account
  // The name in the core's Received line ("by NAME (dropcheck fetcher core)"), which the loop
  // guard looks for: one per installation, so a message that loops out through one account and
  // back into another is still recognised. Empty: `name` (the one-account format).
  std::string received_by;
  Pop3Account pop3;
  Delivery smtp;
  Routing routing;
  std::string state_dir;       // empty: no persistent state (every cycle starts fresh)
  bool keep = false;           // leave messages on the server (UIDL decides what is new)
  bool wait_for_lock = false;  // overlapping cycle: wait instead of exiting
  // How long a delivered (Message-ID, digest, recipient) key is remembered, to catch a
  // provider re-presenting a message under a new UIDL. Older keys are pruned each cycle.
  std::chrono::milliseconds dedup_retention = std::chrono::hours(24 * 30);
  Defect defect = Defect::none;
};

// Several provider mailboxes fetched by one configuration (`accounts:`): each account is a
// complete Config (shared smtp, routing, state_dir, defect; its own name, pop3, mode,
// deliver_to, keep). Per-account state file and lock (by name). The one-account format (a
// top-level `pop3:`) loads as one account.
inline constexpr std::size_t kMaxAccounts = 1000;
inline constexpr std::size_t kMaxParallelAccounts = 16;
struct Accounts {
  std::vector<Config> accounts;  // at least one; names unique
  std::size_t parallel = 1;      // accounts polled at once; 1 = one after the other
};

// The envelope header(s) to route by, as written in a config or scenario: a header name,
// {header, occurrence, qmail_prefix}, or a list of those; `field` names it in errors
// (thrown by `y`, naming file, line and field).
std::vector<mail::EnvelopeSpec> parse_envelope_specs(const base::YamlReader& y, const YAML::Node& n,
                                                     const std::string& field);

// The occurrence an envelope spec gets when it names none: 1 (the topmost line only) for
// Delivered-To, which every forwarding hop adds again (the lines below the provider's own name
// earlier hops' recipients); 0 (every line) for the others, which providers write one line per
// recipient or one list.
int default_occurrence(std::string_view header);

// Every key the loader accepts, dotted ("pop3.ca_file", "routing.envelope.occurrence").
std::vector<std::string> config_keys();

// Defaults that every config starts from: strip list = mail::kEnvelopeHeaders + "Bcc".
Config default_config();
// Either format; errors name file, line and field.
base::Result<Accounts> parse_accounts(std::string_view yaml, std::string_view source_name);
base::Result<Accounts> load_accounts(const std::string& path);
// A file with exactly one account (either format).
base::Result<Config> parse_config(std::string_view yaml, std::string_view source_name);
base::Result<Config> load_config(const std::string& path);

}  // namespace dropcheck::fetcher

#pragma once
// Scenario format v1 (schema: scenarios/README.md). Loaded once into these structs; every
// error names file:line:col and the field.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "client/tls.hpp"
#include "fake_pop3/profile.hpp"
#include "fetcher/config.hpp"
#include "mail/envelope.hpp"

namespace dropcheck::runner {

// What one scenario may generate, after `repeat` (README "Limits"): beyond these a load error,
// never an allocation failure.
inline constexpr std::size_t kMaxScenarioMessages = 100'000;
inline constexpr std::size_t kMaxScenarioOctets = std::size_t{256} << 20;
inline constexpr std::size_t kMaxScenarioMailboxes = 200;

struct World {
  std::vector<std::string> local_domains;
  std::vector<std::string> users;              // empty: any address at a local domain exists
  std::map<std::string, std::string> aliases;  // address -> mailbox
  std::string fallback;                        // mailbox for unknown users / no header
};

struct ScenarioMessage {
  std::string id;
  std::string tag;                       // X-Dropcheck-Id: the id, or for `identical`
                                         //   copies their shared base id
  std::string envelope_from;             // "" = null sender
  std::vector<std::string> envelope_to;  // as the provider's MX received them
  std::string raw;                       // built from headers + body, CRLF line endings
  std::int64_t at_ms = 0;                // injection time on the virtual clock
};

// A provider mailbox (provider.mailboxes): a user's own box owns its addresses; the catch-all
// takes the rest of the domain. None listed: one catch-all, as most scenarios play.
struct ScenarioMailbox {
  std::string user;                    // POP3 user; [a-z0-9._-]
  std::vector<std::string> addresses;  // owned by this box (not for the catch-all)
  bool catch_all = false;
};

// An account the fetcher polls (fetcher.accounts): a mailbox, fetched multidrop (envelope
// routing) or single-drop to `deliver_to`. None listed: every mailbox, the catch-all
// multidrop and each user's box single-drop to its first address.
struct ScenarioAccount {
  std::string mailbox;
  std::string deliver_to;  // empty: multidrop
};

// A password changed at the provider before cycle `cycle`; the fetcher's configuration gets
// the new one from cycle `fixed_cycle` on (0: never, within the run).
struct PasswordChange {
  std::string mailbox;
  int cycle = 2;
  int fixed_cycle = 0;
};

// fetcher.kind: the core (defect models via `defect`) or an external fetcher
// (runner/external.hpp).
enum class FetcherKind { core, fetchmail, getmail6, command };
std::string_view fetcher_kind_name(FetcherKind k);
std::optional<FetcherKind> parse_fetcher_kind(std::string_view name);
std::string fetcher_kind_names();  // "core, fetchmail, getmail6, command"

struct FetcherSpec {
  FetcherKind kind = FetcherKind::core;
  fetcher::Defect defect = fetcher::Defect::none;  // the core's defect model
  bool knows_users = true;                         // the core's config lists world.users
  std::string command;                             // kind: command — the command line template
  std::vector<mail::EnvelopeSpec> envelope;        // empty: the core's default (X-Envelope-To)
  bool to_cc = false;                              // explicit To/Cc mode
  bool no_envelope = false;                        // the core reads no envelope header (fallback)
  bool keep = false;
  std::int64_t smtp_timeout_ms = 20'000;  // the core's wait for each SMTP reply
  std::vector<ScenarioAccount> accounts;  // empty: the one catch-all (no provider.mailboxes)
  std::size_t parallel = 1;               // the core: accounts polled at once
};

// The fetcher's name in reports and matrix columns: the defect model of a core that plays one,
// else the kind ("core", "no-strip", "fetchmail").
std::string fetcher_name(const FetcherSpec& f);

struct Timeline {
  int cycles = 1;
  std::int64_t interval_ms = 5 * 60 * 1000;
  // Overlap: while cycle `overlap_cycle` runs, once it has retrieved `overlap_after` messages,
  // the next cycle starts at once (a second fetcher invocation, like cron firing again).
  int overlap_cycle = 0;  // 0 = no overlap
  int overlap_after = 1;
  int overlap_invocations = 1;  // how many further invocations start at that moment
  // Provider drift: before cycle `drift_cycle` the provider switches to `drift_profile`.
  int drift_cycle = 0;
  std::string drift_profile;
  // Real-time bounds: the whole run, and one external fetcher invocation (then SIGKILL).
  std::int64_t run_limit_ms = 60'000;
  std::int64_t cycle_limit_ms = 30'000;
  std::vector<PasswordChange> password_changes;
  // Injection to delivery, per message and recipient, on the virtual clock: beyond it a
  // `delayed` finding (0: no budget).
  std::int64_t latency_budget_ms = 0;
};

// A RCPT fault by address: that recipient is refused with `code` (in the listed cycles; empty:
// every cycle).
struct RcptFault {
  std::string address;
  int code = 451;
  std::vector<int> cycles;
};

// The receiving server's behaviour (fake-smtp policy and faults).
struct ReceiverSpec {
  bool lmtp = false;
  bool open_relay = false;  // accept mail for foreign domains (recorded as relayed out; mail
                            // for a provider_hosts domain comes back into the catch-all)
  bool reject_null_sender = false;
  bool loop_check = false;
  std::size_t rcpt_fail_at = 0;
  int rcpt_fail_code = 451;
  int data_fail_code = 0;
  int data_end_fail_code = 0;
  std::size_t only_transaction = 0;
  std::vector<RcptFault> rcpt_faults;
  // Real milliseconds before the reply of each stage (fake_smtp::ReplyStage order).
  std::array<std::int64_t, 6> reply_delay_ms{};
};

struct Expectation {
  std::string type;
  std::string message;    // "" = any
  std::string recipient;  // "" = any
};

// What a run must produce: exactly the findings of one of the alternatives (YAML: a list, or
// {any_of: [list, list, ...]} when more than one outcome is correct).
struct Expected {
  std::vector<std::vector<Expectation>> any_of{{}};
  bool empty() const { return any_of.size() == 1 && any_of.front().empty(); }
};

struct Scenario {
  std::string source;  // file name or "builtin:NAME.yaml"
  std::string name;
  std::string description;
  World world;
  std::string profile = "x-envelope-to";
  // Set by the replay: this profile is played instead of loading `profile`.
  std::optional<fake_pop3::Profile> profile_override;
  client::TlsMode provider_tls = client::TlsMode::none;  // self-signed, trusted
  std::vector<std::string> provider_hosts;  // more domains whose mail lands in the catch-all
  std::vector<ScenarioMailbox> mailboxes;   // empty: one catch-all
  FetcherSpec fetcher;
  std::vector<ScenarioMessage> messages;
  Timeline timeline;
  ReceiverSpec receiver;
  Expected expect;
  // Per defect model: the findings it must produce here. A defect model not listed must
  // produce exactly `expect` (it is not caught "elsewhere").
  std::map<fetcher::Defect, Expected> defects;
  // Per external fetcher kind (fetchmail, getmail6, command): the findings it must produce
  // here, its documented behaviour. A kind not listed must produce exactly `expect`.
  std::map<FetcherKind, Expected> fetchers;
};

// Scenario with `fetcher.defect` set to `defect` and `expect` set to what that defect model
// must produce in it.
Scenario with_defect(const Scenario& scenario, fetcher::Defect defect);
// Scenario played by fetcher `kind` (core or an external kind) with `expect` set to what that
// fetcher must produce in it; `command` replaces fetcher.command when non-empty.
Scenario with_fetcher(const Scenario& scenario, FetcherKind kind, const std::string& command = "");

base::Result<Scenario> parse_scenario(std::string_view yaml, std::string_view source);
base::Result<Scenario> load_scenario_file(const std::string& path);

// The scenario library compiled into the binary (scenarios/*.yaml at build time).
std::vector<Scenario> builtin_scenarios();

}  // namespace dropcheck::runner

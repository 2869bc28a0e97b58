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
#include "mail/envelope.hpp"

namespace dropcheck::runner {

struct World {
  std::vector<std::string> local_domains;
  std::vector<std::string> users;               // empty: any address at a local domain exists
  std::map<std::string, std::string> aliases;   // address -> mailbox
  std::string fallback;                         // mailbox for unknown users / no header
};

struct ScenarioMessage {
  std::string id;
  std::string envelope_from;                 // "" = null sender
  std::vector<std::string> envelope_to;      // as the provider's MX received them
  std::string raw;                           // built from headers + body, CRLF line endings
  std::int64_t at_ms = 0;                    // injection time on the virtual clock
};

struct FetcherSpec {
  std::string kind = "core";                 // core (defect models via `defect`), fetchmail,
                                             //   getmail6, command (runner/external.hpp)
  std::string defect = "none";
  bool knows_users = true;                   // the core's config lists world.users
  std::string command;                       // kind: command — the command line template
  std::vector<mail::EnvelopeSpec> envelope;  // empty: the core's default (X-Envelope-To)
  bool to_cc = false;                        // explicit To/Cc mode
  bool keep = false;
  std::int64_t smtp_timeout_ms = 20'000;     // the core's wait for each SMTP reply
};

struct Timeline {
  int cycles = 1;
  std::int64_t interval_ms = 5 * 60 * 1000;
  // Overlap: while cycle `overlap_cycle` runs, once it has retrieved `overlap_after` messages,
  // the next cycle starts at once (a second fetcher invocation, like cron firing again).
  int overlap_cycle = 0;  // 0 = no overlap
  int overlap_after = 1;
  // Provider drift: before cycle `drift_cycle` the provider switches to `drift_profile`.
  int drift_cycle = 0;
  std::string drift_profile;
};

// The receiving server's behaviour (fake-smtp policy and faults).
struct ReceiverSpec {
  bool lmtp = false;
  bool open_relay = false;   // accept mail for foreign domains (recorded as relayed out; mail
                             // for a provider_hosts domain comes back into the catch-all)
  bool reject_null_sender = false;
  bool loop_check = false;
  std::size_t rcpt_fail_at = 0;
  int rcpt_fail_code = 451;
  int data_fail_code = 0;
  int data_end_fail_code = 0;
  std::size_t only_transaction = 0;
  // Real milliseconds before the reply of each stage (fake_smtp::ReplyStage order).
  std::array<std::int64_t, 6> reply_delay_ms{};
};

struct Expectation {
  std::string type;
  std::string message;    // "" = any
  std::string recipient;  // "" = any
};

struct Scenario {
  std::string source;     // file name or "builtin:NAME.yaml"
  std::string name;
  std::string description;
  World world;
  std::string profile = "x-envelope-to";
  std::string provider_tls = "none";            // none | stls | implicit (self-signed, trusted)
  std::vector<std::string> provider_hosts;      // more domains whose mail lands in the catch-all
  FetcherSpec fetcher;
  std::vector<ScenarioMessage> messages;
  Timeline timeline;
  ReceiverSpec receiver;
  std::vector<Expectation> expect;
  // Per defect model: the findings it must produce here. A defect model not listed must
  // produce exactly `expect` (it is not caught "elsewhere").
  std::map<std::string, std::vector<Expectation>> defects;
  // Per external fetcher kind (fetchmail, getmail6, command): the findings it must produce
  // here, its documented behaviour. A kind not listed must produce exactly `expect`.
  std::map<std::string, std::vector<Expectation>> fetchers;
};

// Scenario with `fetcher.defect` set to `defect` and `expect` set to what that defect model
// must produce in it.
Scenario with_defect(const Scenario& scenario, const std::string& defect);
// Scenario played by fetcher `kind` (core or an external kind) with `expect` set to what that
// fetcher must produce in it; `command` replaces fetcher.command when non-empty.
Scenario with_fetcher(const Scenario& scenario, const std::string& kind,
                      const std::string& command = "");

base::Result<Scenario> parse_scenario(std::string_view yaml, std::string_view source);
base::Result<Scenario> load_scenario_file(const std::string& path);

// The scenario library compiled into the binary (scenarios/*.yaml at build time).
std::vector<Scenario> builtin_scenarios();

}  // namespace dropcheck::runner

#pragma once
// Plays a scenario in one process on a virtual clock: the fake provider and the receiving
// server listen on ephemeral loopback ports, the fetcher core runs its cycles against them,
// then the analyzer judges the journal against the scenario's envelopes.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "fake_smtp/journal.hpp"
#include "fetcher/fetcher.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {

struct RunOptions {
  std::string keep_dir;  // non-empty: keep journal/ and truth.json there (else a temp dir, removed)
  std::function<void(std::string_view)> log;  // fetcher and harness event lines
};

// A scheduled event of a scenario and whether it happened during the run: a provider fault
// ("provider-fault:drop_in_retr", profile key), the provider drift ("drift"), the overlapping
// invocation ("overlap"), a receiver fault ("receiver-fault:rcpt", "receiver-fault:data",
// "receiver-fault:data-end", "receiver-fault:delay-STAGE"). A run in which a scheduled event
// did not fire judged nothing about it: it is not-exercised, never a pass.
struct ScheduledEvent {
  std::string name;
  bool fired = false;
  std::string detail;  // what happened, or what was waited for
  // When it fired, virtual ms from the run's start (a provider fault: the start of the cycle
  // after which it had fired); -1 unknown or not fired.
  std::int64_t at_ms = -1;
};

// What the pictures (runner/pictures.hpp) draw beyond the analyzer's report, from the runner's
// view of the run. Times are virtual, in ms from the run's start. Each list holds at most its
// kMaxFact* entries, in order; its *_total counts them all.
inline constexpr std::size_t kMaxFactCycles = 500;
inline constexpr std::size_t kMaxFactSessions = 1000;
inline constexpr std::size_t kMaxFactMessages = 500;
inline constexpr std::size_t kMaxFactCopies = 16;  // provider copies listed per message

struct CycleFact {
  int cycle = 0;
  std::int64_t start_ms = 0;
  bool overlapping = false;  // started while another invocation was running
  std::string outcome;       // fetcher::outcome_name; "" while it ran
};

// One POP3 session as the provider saw it (fake-pop3's session log).
struct SessionFact {
  std::uint64_t id = 0;
  std::int64_t start_ms = 0;
  std::string user;
  std::string auth_result;  // "ok", "login-delay", "bad-credentials", "in-use", ... "" none
  std::string end_reason;   // "closed", "fault-drop", ...
  std::size_t retrieved = 0;
  std::size_t deleted = 0;
};

// A copy the provider stored of a message (one per box, or per recipient for some profiles).
struct ProviderCopyFact {
  std::uint64_t seq = 0;  // the provider's store order
  std::string box;        // provider mailbox (POP3 user); "" unknown
  bool deleted = false;   // a session deleted it (DELE committed at QUIT)
};

struct MessageFact {
  std::string id;
  std::string from;  // envelope sender, "" = <>
  std::int64_t injected_ms = 0;
  std::vector<ProviderCopyFact> copies;
  std::size_t copies_total = 0;
};

struct RunFacts {
  std::int64_t origin_ms = 0;  // the virtual clock at the run's start (report times minus it)
  std::int64_t end_ms = 0;
  std::int64_t interval_ms = 0;
  std::int64_t login_delay_ms = 0;
  std::int64_t latency_budget_ms = 0;
  int drift_cycle = 0;  // 0: no drift
  std::string drift_profile;
  std::vector<CycleFact> cycles;
  std::size_t cycles_total = 0;
  std::vector<SessionFact> sessions;
  std::size_t sessions_total = 0;
  std::vector<MessageFact> messages;
  std::size_t messages_total = 0;
};

struct ScenarioResult {
  std::string name;
  std::string source;
  analyzer::Report report;
  std::vector<fetcher::CycleResult> cycles;
  std::vector<std::string> missing;     // expected findings that did not occur
  std::vector<std::string> unexpected;  // findings the scenario did not expect
  std::string error;                    // harness failure (the scenario could not be played)
  std::vector<ScheduledEvent> events;   // in schedule order; empty: nothing scheduled
  std::size_t outcome = 0;              // the alternative of expect.any_of compared against
  RunFacts facts;                       // for the pictures
  double wall_ms = 0;
  bool exercised() const;
  bool passed() const {
    return error.empty() && exercised() && missing.empty() && unexpected.empty();
  }
  // "error" (not played), "not-exercised" (a scheduled event did not fire: the findings say
  // nothing about it), "fail" (findings differ from the expectations), "ok".
  std::string_view status() const;
};

ScenarioResult run_scenario(const Scenario& scenario, const RunOptions& options = {});

// Where a run without keep_dir makes its scratch directory (removed after the run): $TMPDIR when
// set, else /dev/shm when it is a writable directory with at least kMinScratchInMemory free
// (memory: the fetcher's and the journal's fsyncs do not wait for a disk other builds keep busy;
// nothing there outlives the run; a container's default 64 MiB /dev/shm is too small for
// huge-message's copies in parallel), else the system temp directory.
inline constexpr std::uintmax_t kMinScratchInMemory = 512ull << 20;
std::filesystem::path scratch_root();

// Whether a finding matches an expectation (an empty message/recipient matches any; recipients
// compared case-insensitively).
bool matches(const analyzer::Finding& f, const Expectation& e);

// Findings vs expectations: each expectation must match at least one finding, and each finding
// must match some expectation (an empty message/recipient in an expectation matches any).
void compare_findings(const std::vector<analyzer::Finding>& findings,
                      const std::vector<Expectation>& expect, std::vector<std::string>& missing,
                      std::vector<std::string>& unexpected);

// The same against each alternative of `expect`: returns the one matched, or the closest
// (fewest differences), whose differences are left in missing/unexpected.
std::size_t compare_findings(const std::vector<analyzer::Finding>& findings, const Expected& expect,
                             std::vector<std::string>& missing,
                             std::vector<std::string>& unexpected);

// The truth the analyzer judges by, from a scenario (injection times filled in by the run).
analyzer::Truth truth_of(const Scenario& scenario);

}  // namespace dropcheck::runner

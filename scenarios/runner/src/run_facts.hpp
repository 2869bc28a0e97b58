#pragma once
// What a scenario run records beside the verdict: the scheduled events (did each fault, the
// drift, the overlap fire?) and the bounded facts the pictures draw (RunFacts). Internal to
// the runner (runner.cpp plays, run_facts.cpp reads the servers' logs).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "base/clock.hpp"
#include "fake_pop3/provider.hpp"
#include "fake_smtp/policy.hpp"
#include "fetcher/fetcher.hpp"
#include "journal/records.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner::detail {

// Every scenario starts at the same virtual instant, so runs are repeatable.
inline constexpr base::Millis kEpoch{1'795'420'800'000};  // 2026-11-23T00:00:00Z

// The by-address RCPT faults scheduled for `cycle`.
std::vector<fake_smtp::Faults::RcptFailFor> rcpt_faults_in_cycle(const ReceiverSpec& r, int cycle);
// A journal transaction that recorded fired faults (all the runner's events need of it).
struct MarkedTransaction {
  std::uint64_t seq = 0;
  std::int64_t virtual_ms = 0;
  std::vector<std::string> faults;
};
// The transactions of the journal in `dir` that recorded faults, read line by line.
std::vector<MarkedTransaction> marked_transactions(const std::filesystem::path& dir);
// Whether each receiver fault fired, by the marks fake-smtp left in the journal.
std::vector<ScheduledEvent> receiver_events(const ReceiverSpec& spec,
                                            const std::vector<MarkedTransaction>& txns,
                                            const std::vector<journal::SessionRecord>& sessions,
                                            std::int64_t origin_ms);
// `first_at`: per fault, the start of the cycle after which it had fired (virtual ms).
std::vector<ScheduledEvent> provider_fault_events(
    const std::vector<std::string>& scheduled, const std::map<std::string, std::size_t>& fired,
    const std::map<std::string, std::int64_t>& first_at);
// The id of a POP3 session opened at or after log index `from` that is still open.
std::optional<std::uint64_t> open_session(const fake_pop3::Provider& provider, std::size_t from);
// The drift fired when the fetcher logged in under the new profile (sessions from `from` on).
ScheduledEvent drift_event(const fake_pop3::Provider& provider, std::size_t from,
                           const Timeline& t);

// RunFacts (runner.hpp): the bounded lists the pictures draw.
std::size_t start_cycle_fact(RunFacts& f, int cycle, std::int64_t start_ms, bool overlapping);
void end_cycle_fact(RunFacts& f, std::size_t index, const fetcher::CycleResult& r);
void add_session_facts(RunFacts& f, const std::vector<fake_pop3::SessionLogEntry>& log);
std::map<std::uint64_t, ProviderCopyFact> provider_copies(const Scenario& s,
                                                          const fake_pop3::Provider& p);
void add_message_facts(RunFacts& f, const analyzer::Truth& truth,
                       const std::map<std::uint64_t, std::string>& message_of_seq,
                       const std::map<std::uint64_t, ProviderCopyFact>& copies);

// The run's clock facts for the pictures, from the finished truth.
void add_timing_facts(RunFacts& facts, const analyzer::Truth& truth, const Scenario& s, bool drift);
// The receiver's scheduled events (scenario `receiver:`), read back from the journal.
void add_journal_events(const Scenario& s, const std::filesystem::path& journal_dir,
                        std::vector<ScheduledEvent>& events);

}  // namespace dropcheck::runner::detail

#include "run_facts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "base/strings.hpp"
#include "journal/reader.hpp"

namespace dropcheck::runner::detail {

namespace {

// What fake-smtp records (TransactionRecord::faults, SessionRecord::faults) when a scheduled
// receiver fault fires, by event name.
std::vector<std::pair<std::string, std::string>> receiver_fault_marks(const ReceiverSpec& r) {
  std::vector<std::pair<std::string, std::string>> out;
  if (r.rcpt_fail_at > 0)
    out.emplace_back("receiver-fault:rcpt",
                     fmt::format("rcpt-{}-{}", r.rcpt_fail_at, r.rcpt_fail_code));
  if (r.data_fail_code != 0)
    out.emplace_back("receiver-fault:data", fmt::format("data-{}", r.data_fail_code));
  if (r.data_end_fail_code != 0)
    out.emplace_back("receiver-fault:data-end", fmt::format("data-end-{}", r.data_end_fail_code));
  for (const auto& f : r.rcpt_faults)
    out.emplace_back(fmt::format("receiver-fault:rcpt-to:{}", base::to_lower(f.address)),
                     fmt::format("rcpt-to-{}-{}", base::to_lower(f.address), f.code));
  for (std::size_t i = 0; i < r.reply_delay_ms.size(); ++i) {
    if (r.reply_delay_ms[i] <= 0) continue;
    const std::string_view stage = fake_smtp::kReplyStageNames[i];
    out.emplace_back(fmt::format("receiver-fault:delay-{}", stage),
                     fmt::format("delay-{}-{}ms", stage, r.reply_delay_ms[i]));
  }
  return out;
}

}  // namespace

std::vector<fake_smtp::Faults::RcptFailFor> rcpt_faults_in_cycle(const ReceiverSpec& r, int cycle) {
  std::vector<fake_smtp::Faults::RcptFailFor> out;
  for (const auto& f : r.rcpt_faults)
    if (f.cycles.empty() || std::find(f.cycles.begin(), f.cycles.end(), cycle) != f.cycles.end())
      out.push_back({f.address, f.code});
  return out;
}

std::vector<MarkedTransaction> marked_transactions(const std::filesystem::path& dir) {
  std::vector<MarkedTransaction> out;
  auto read = journal::for_each_transaction(dir, false, [&](journal::TransactionRecord& r) {
    if (!r.faults.empty()) out.push_back({r.seq, r.virtual_ms, std::move(r.faults)});
  });
  if (!read.ok()) throw std::runtime_error("journal: " + read.error().message);
  return out;
}

std::vector<ScheduledEvent> receiver_events(const ReceiverSpec& spec,
                                            const std::vector<MarkedTransaction>& txns,
                                            const std::vector<journal::SessionRecord>& sessions,
                                            std::int64_t origin_ms) {
  std::vector<ScheduledEvent> out;
  const auto has = [](const std::vector<std::string>& faults, const std::string& mark) {
    return std::find(faults.begin(), faults.end(), mark) != faults.end();
  };
  for (const auto& [name, mark] : receiver_fault_marks(spec)) {
    ScheduledEvent e{name, false, fmt::format("no SMTP transaction met {}", mark)};
    if (spec.only_transaction > 0)
      e.detail += fmt::format(" (only transaction {})", spec.only_transaction);
    for (const auto& t : txns)
      if (!e.fired && has(t.faults, mark))
        e = {name, true, fmt::format("{} in journal #{}", mark, t.seq), t.virtual_ms - origin_ms};
    for (const auto& ss : sessions)
      if (!e.fired && has(ss.faults, mark))
        e = {name, true, fmt::format("{} in SMTP session {}", mark, ss.session_id),
             ss.connected_virtual_ms - origin_ms};
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<ScheduledEvent> provider_fault_events(
    const std::vector<std::string>& scheduled, const std::map<std::string, std::size_t>& fired,
    const std::map<std::string, std::int64_t>& first_at) {
  std::vector<ScheduledEvent> out;
  for (const auto& name : scheduled) {
    const auto it = fired.find(name);
    const auto at = first_at.find(name);
    if (it != fired.end())
      out.push_back({"provider-fault:" + name, true, fmt::format("fired {} time(s)", it->second),
                     at == first_at.end() ? -1 : at->second});
    else
      out.push_back({"provider-fault:" + name, false, "no POP3 command met it"});
  }
  return out;
}

std::optional<std::uint64_t> open_session(const fake_pop3::Provider& provider, std::size_t from) {
  const auto& log = provider.session_log();
  for (std::size_t i = from; i < log.size(); ++i)
    if (log[i].ended_at == base::Millis{0}) return log[i].id;
  return std::nullopt;
}

ScheduledEvent drift_event(const fake_pop3::Provider& provider, std::size_t from,
                           const Timeline& t) {
  const auto& log = provider.session_log();
  for (std::size_t i = from; i < log.size(); ++i)
    if (log[i].login_at)
      return {
          "drift", true,
          fmt::format("POP3 session #{} logged in under profile {}", log[i].id, t.drift_profile),
          (log[i].started_at - kEpoch).count()};
  return {
      "drift", false,
      fmt::format("no login under profile {} from cycle {} on", t.drift_profile, t.drift_cycle)};
}

std::size_t start_cycle_fact(RunFacts& f, int cycle, std::int64_t start_ms, bool overlapping) {
  ++f.cycles_total;
  if (f.cycles.size() >= kMaxFactCycles) return static_cast<std::size_t>(-1);
  f.cycles.push_back({cycle, start_ms, overlapping, {}});
  return f.cycles.size() - 1;
}

void end_cycle_fact(RunFacts& f, std::size_t index, const fetcher::CycleResult& r) {
  if (index < f.cycles.size())
    f.cycles[index].outcome = std::string(fetcher::outcome_name(r.outcome));
}

void add_session_facts(RunFacts& f, const std::vector<fake_pop3::SessionLogEntry>& log) {
  f.sessions_total = log.size();
  for (const auto& e : log) {
    if (f.sessions.size() >= kMaxFactSessions) break;
    f.sessions.push_back({e.id, (e.started_at - kEpoch).count(), e.user, e.auth_result,
                          e.end_reason, e.retrieved_uidls.size() + e.topped_uidls.size(),
                          e.deleted_seqs.size()});
  }
}

// The provider's copies by store seq: deleted ones (and the box they were deleted from), and
// with several boxes the box of each copy still stored. With one box its name says nothing.
std::map<std::uint64_t, ProviderCopyFact> provider_copies(const Scenario& s,
                                                          const fake_pop3::Provider& p) {
  const bool boxes = s.mailboxes.size() > 1;
  std::map<std::uint64_t, ProviderCopyFact> out;
  for (const auto& e : p.session_log())
    for (const auto seq : e.deleted_seqs) out[seq] = {seq, boxes ? e.user : "", true};
  if (boxes)
    for (const auto& m : p.stored()) out.emplace(m.seq, ProviderCopyFact{m.seq, m.mailbox, false});
  return out;
}

void add_message_facts(RunFacts& f, const analyzer::Truth& truth,
                       const std::map<std::uint64_t, std::string>& message_of_seq,
                       const std::map<std::uint64_t, ProviderCopyFact>& copies) {
  f.messages_total = truth.messages.size();
  std::map<std::string, std::size_t> index;
  for (const auto& m : truth.messages) {
    if (f.messages.size() >= kMaxFactMessages) break;
    index.emplace(m.id, f.messages.size());
    f.messages.push_back({m.id, m.envelope_from, m.injected_ms - f.origin_ms, {}, 0});
  }
  for (const auto& [seq, id] : message_of_seq) {
    const auto it = index.find(id);
    if (it == index.end()) continue;
    MessageFact& mf = f.messages[it->second];
    if (mf.copies_total++ >= kMaxFactCopies) continue;
    const auto c = copies.find(seq);
    mf.copies.push_back(c != copies.end() ? c->second : ProviderCopyFact{seq, "", false});
  }
}

// The run's clock facts for the pictures, from the finished truth.
void add_timing_facts(RunFacts& facts, const analyzer::Truth& truth, const Scenario& s,
                      bool drift) {
  facts.origin_ms = kEpoch.count();
  facts.end_ms = truth.end_ms - kEpoch.count();
  facts.interval_ms = truth.interval_ms;
  facts.login_delay_ms = truth.login_delay_ms;
  facts.latency_budget_ms = truth.latency_budget_ms;
  if (drift) {
    facts.drift_cycle = s.timeline.drift_cycle;
    facts.drift_profile = s.timeline.drift_profile;
  }
}

// The receiver's scheduled events (scenario `receiver:`), read back from the journal.
void add_journal_events(const Scenario& s, const std::filesystem::path& journal_dir,
                        std::vector<ScheduledEvent>& events) {
  auto sessions = dropcheck::journal::read_sessions(journal_dir);
  if (!sessions.ok()) throw std::runtime_error("journal sessions: " + sessions.error().message);
  const auto marked = marked_transactions(journal_dir);
  for (auto& e : receiver_events(s.receiver, marked, sessions->records, kEpoch.count()))
    events.push_back(std::move(e));
}

}  // namespace dropcheck::runner::detail

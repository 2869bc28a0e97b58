// The judge: correlates each journal transaction with a scenario message as it streams by, keeps
// per message what the rules need, and runs the rules (rules.cpp) on each transaction and at
// the end.
#include "judge.hpp"

#include <algorithm>
#include <future>

namespace dropcheck::analyzer {

using namespace detail;

namespace detail {

namespace {

// The messages of `truth` as the judge keeps them: truth.summarized, or made from its messages.
std::shared_ptr<const SentMessages> sent_of(const Truth& truth) {
  if (truth.summarized) return truth.summarized;
  auto sent = std::make_shared<SentMessages>();
  for (const TruthMessage& m : truth.messages) sent->add(m, summarize(m));
  sent->seal();
  return sent;
}

}  // namespace

Context::Context(const Truth& t)
    : truth(t), sent_owned(sent_of(t)), sent(*sent_owned), messages(sent.size()) {
  for (const auto& d : truth.local_domains) local.insert(lower(d));
  for (const auto& u : truth.users) users.insert(norm(u));
  fallback = mailbox(norm(truth.fallback));
}

MailboxId Context::mailbox(const std::string& normalized) {
  const auto [it, added] = mailbox_ids.try_emplace(normalized, MailboxId{});
  if (added) {
    it->second = static_cast<MailboxId>(mailboxes.size());
    mailboxes.push_back(normalized);
  }
  return it->second;
}

bool Context::is_local(std::string_view a) const { return local.count(domain_of(a)) > 0; }

std::string Context::resolve(const std::string& a) const {
  std::string m = norm(a);
  for (const auto& [k, v] : truth.aliases)
    if (norm(k) == m) m = norm(v);
  if (!users.empty() && !users.count(m) && !truth.fallback.empty()) m = norm(truth.fallback);
  return m;
}

void Context::add(std::string type, std::string message, std::string rcpt, std::string evidence,
                  std::int64_t seq, bool blind_copy) {
  findings.push_back(
      {std::move(type), std::move(message), std::move(rcpt), std::move(evidence), seq, blind_copy});
}

bool Context::group_reached_any(std::size_t m) const {
  for (std::uint32_t i = sent.group(sent.tag(m)); i != SentMessages::kNone;
       i = sent.next_in_group(i))
    if (messages[i].prepared && !messages[i].got.empty()) return true;
  return false;
}

bool Context::group_reached(std::size_t m, MailboxId mailbox) const {
  for (std::uint32_t i = sent.group(sent.tag(m)); i != SentMessages::kNone;
       i = sent.next_in_group(i))
    if (messages[i].prepared && messages[i].got.count(mailbox)) return true;
  return false;
}

namespace {

// What a message expects, from the truth alone.
void prepare(Context& ctx, std::size_t i, MessageState& s) {
  const SentMessages& sent = ctx.sent;
  s.i = static_cast<std::uint32_t>(i);
  s.prepared = true;
  int foreign = 0;
  bool has_local = false;
  for (const SentMessages::Address r : sent.envelope_to(i)) {
    const std::string& address = sent.address(r);
    if (!ctx.is_local(address)) {
      ++foreign;
      continue;
    }
    has_local = true;
    s.expected.insert(ctx.mailbox(ctx.resolve(address)));
  }
  const Truth& truth = ctx.truth;
  // Stored at the provider yet for no local domain (a typo in local_domains, a domain not
  // configured): the fallback mailbox is where it belongs, never nowhere.
  if (s.expected.empty() && !truth.fallback.empty()) s.expected.insert(ctx.fallback);
  // A provider storing one copy per recipient stores one for each foreign envelope recipient;
  // it names no local address, so the fallback may get each of them (not a misroute).
  const bool fallback_expected = s.expected.count(ctx.fallback) && (has_local || foreign == 0);
  s.fallback_copies = truth.fallback.empty() ? 0 : foreign + (fallback_expected ? 1 : 0);
}

// Local mailboxes that accepted copy `d`, in RCPT order, by the analyzer's own normalisation:
// a 2xx RCPT (and with LMTP a 2xx reply for it after the message). A mailbox named twice in one
// transaction gets one copy (MTAs collapse duplicate RCPTs), so it counts once.
std::vector<std::string> accepted_local(const Delivery& d, const Context& ctx) {
  std::vector<std::string> out;
  std::size_t k = 0;
  for (const auto& r : d.rcpts) {
    if (r.code < 200 || r.code >= 300) continue;
    bool ok = true;
    if (!d.lmtp_codes.empty()) {
      ok = k < d.lmtp_codes.size() && d.lmtp_codes[k] >= 200 && d.lmtp_codes[k] < 300;
      ++k;
    }
    if (ok && ctx.is_local(r.address) &&
        std::find(out.begin(), out.end(), norm(r.address)) == out.end())
      out.push_back(norm(r.address));
  }
  return out;
}

std::string digest_key(const std::array<unsigned char, 32>& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// The group of identical scenario messages a copy belongs to (its first member): its
// X-Dropcheck-Id (the last line naming a known tag), else a scenario message with an equal body
// (the last such). SentMessages::kNone: none.
std::uint32_t group_of(std::string_view head, std::string_view body, Context& ctx) {
  std::uint32_t group = SentMessages::kNone;
  each_header_named(head, "X-Dropcheck-Id", [&](std::string_view line) {
    std::string_view v = line.substr(line.find(':') + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (const std::uint32_t g = ctx.sent.group(v); g != SentMessages::kNone) group = g;
  });
  if (group != SentMessages::kNone) return group;
  if (!ctx.body_group) {  // an untagged copy: index the scenario bodies once
    ctx.body_group = std::make_unique<std::unordered_map<std::string, std::uint32_t>>();
    for (std::size_t i = 0; i < ctx.sent.size(); ++i)
      (*ctx.body_group)[digest_key(ctx.sent.body_sha256(i))] = ctx.sent.group(ctx.sent.tag(i));
  }
  const auto it = ctx.body_group->find(digest_key(crlf_sha256(body)));
  return it == ctx.body_group->end() ? SentMessages::kNone : it->second;
}

// The member of a group of identical copies that a delivery counts for: the first that has
// not yet reached any of its recipients, else the first (a copy more than the group holds).
std::size_t member_for(const Context& ctx, std::uint32_t group,
                       const std::vector<MailboxId>& reached) {
  for (std::uint32_t i = group; i != SentMessages::kNone; i = ctx.sent.next_in_group(i)) {
    const MessageState& s = ctx.messages[i];
    if (!s.prepared || std::none_of(reached.begin(), reached.end(),
                                    [&](MailboxId a) { return s.got.count(a) > 0; }))
      return i;
  }
  return group;
}

// A copy's effect on its message's statistics and counts, before the rules look at it.
void count_copy(const Delivery& d, const std::vector<MailboxId>& accepted, MessageState& s,
                Context& ctx) {
  ++s.copies;
  if (s.latency_ms < 0) s.latency_ms = d.virtual_ms - ctx.sent.injected_ms(s.i);
  if (d.data_real_ms >= 0 && d.data_end_real_ms >= d.data_real_ms) {
    const std::int64_t data_ms = d.data_end_real_ms - d.data_real_ms;
    s.data_ms = std::max(s.data_ms, data_ms);
    if (d.message.size() < kStallSizeLimit) ctx.data_phases.push_back({data_ms, d.seq});
  }
  for (const MailboxId a : accepted) {
    if (s.deliveries_total++ < kMaxDeliveriesListed)
      s.deliveries.push_back({a, d.seq, d.virtual_ms});
    if (s.expected.count(a) || (a == ctx.fallback && s.fallback_copies > 0))
      s.first_to.emplace(a, FirstCopy{d.seq, d.virtual_ms});
    ++s.got[a];
  }
}

// The report's statistics of a message, from its state.
MessageStats stats_of(const MessageState& s, const Context& ctx) {
  MessageStats stats;
  stats.id = ctx.sent.id(s.i);
  stats.injected_ms = ctx.sent.injected_ms(s.i);
  stats.copies = s.copies;
  stats.latency_ms = s.latency_ms;
  stats.data_ms = s.data_ms;
  stats.deliveries_total = s.deliveries_total;
  for (const auto& [rcpt, first] : s.first_to)
    stats.recipient_latency_ms[ctx.name(rcpt)] = first.virtual_ms - stats.injected_ms;
  stats.deliveries.reserve(s.deliveries.size());
  for (const auto& d : s.deliveries)
    stats.deliveries.push_back({ctx.name(d.mailbox), d.seq, d.virtual_ms});
  return stats;
}

// The statistics of messages [from, from + n) (as many as there are), each message's state
// dropped once they are taken; `spent` (statistics the sink is done with) freed here too.
std::vector<MessageStats> take_stats(Context& ctx, std::size_t from, std::size_t n,
                                     std::vector<MessageStats> spent) {
  spent.clear();
  const std::size_t to = std::min(ctx.messages.size(), from + n);
  std::vector<MessageStats> out;
  out.reserve(to - from);
  for (std::size_t i = from; i < to; ++i) {
    out.push_back(stats_of(ctx.messages[i], ctx));
    ctx.messages[i] = MessageState{};  // the report goes out as the judge's state goes
  }
  return out;
}

// Every message's statistics to `sink`, in order: a chunk is made (and an old one freed) on a
// worker while the sink writes the one before (at 1M records the report took one core for a
// tenth of the run while the other idled).
void hand_stats(Context& ctx, ReportSink& sink) {
  constexpr std::size_t kChunk = 4096;  // a thread per chunk costs nothing at this size
  const std::size_t n = ctx.messages.size();
  if (n <= kChunk) {
    for (const MessageStats& m : take_stats(ctx, 0, n, {})) sink.message(m);
    return;
  }
  auto next = std::async(std::launch::async, take_stats, std::ref(ctx), 0, kChunk,
                         std::vector<MessageStats>{});
  std::vector<MessageStats> spent;
  for (std::size_t from = 0; from < n; from += kChunk) {
    std::vector<MessageStats> chunk = next.get();
    if (from + kChunk < n)
      next = std::async(std::launch::async, take_stats, std::ref(ctx), from + kChunk, kChunk,
                        std::move(spent));
    for (const MessageStats& m : chunk) sink.message(m);
    spent = std::move(chunk);
  }
}

}  // namespace

MessageState& Context::state(std::size_t i) {
  if (!messages[i].prepared) prepare(*this, i, messages[i]);
  return messages[i];
}

}  // namespace detail

Judge::Judge(const Truth& truth) : ctx_(std::make_unique<Context>(truth)) {}
Judge::~Judge() = default;

void Judge::add(const Delivery& d) {
  Context& ctx = *ctx_;
  ++ctx.transactions;
  const bool data_accepted = d.data_code >= 200 && d.data_code < 300;
  std::vector<std::string> accepted;
  std::vector<MailboxId> ids;
  MessageState* msg = nullptr;
  const auto [head, body] = split_message(d.message);
  if (data_accepted) {
    accepted = accepted_local(d, ctx);
    for (const auto& a : accepted) ids.push_back(ctx.mailbox(a));
    if (const std::uint32_t group = group_of(head, body, ctx); group != SentMessages::kNone) {
      const std::size_t i = member_for(ctx, group, ids);
      msg = &ctx.state(i);
      if (!accepted.empty()) count_copy(d, ids, *msg, ctx);
    }
  }
  const Transaction t{d, head, body, data_accepted, msg, accepted, ids};
  for (const Rule& r : rules())
    if (r.each) r.each(t, ctx);
}

void Judge::finish(ReportSink& sink) {
  Context& ctx = *ctx_;
  for (std::size_t i = 0; i < ctx.messages.size(); ++i) ctx.state(i);
  for (const Rule& r : rules())
    if (r.at_end) r.at_end(ctx);
  Report head;
  head.scenario = ctx.truth.scenario;
  head.transactions = ctx.transactions;
  head.findings = std::move(ctx.findings);
  // Stable order: by type order, then message, then recipient.
  const auto& types = finding_types();
  const auto rank = [&](const std::string& t) {
    return std::find(types.begin(), types.end(), t) - types.begin();
  };
  std::stable_sort(head.findings.begin(), head.findings.end(),
                   [&](const Finding& a, const Finding& b) {
                     if (rank(a.type) != rank(b.type)) return rank(a.type) < rank(b.type);
                     if (a.message != b.message) return a.message < b.message;
                     return a.recipient < b.recipient;
                   });
  sink.head(head);
  hand_stats(ctx, sink);
}

Report Judge::finish() {
  struct Collect : ReportSink {
    Report report;
    void head(const Report& r) override {
      report.scenario = r.scenario;
      report.findings = r.findings;
      report.transactions = r.transactions;
    }
    void message(const MessageStats& m) override { report.messages.push_back(m); }
  } collect;
  collect.report.messages.reserve(ctx_->messages.size());
  finish(collect);
  return std::move(collect.report);
}

Report analyze(const Truth& truth, const std::vector<Delivery>& journal) {
  Judge judge(truth);
  for (const Delivery& d : journal) judge.add(d);
  return judge.finish();
}

}  // namespace dropcheck::analyzer

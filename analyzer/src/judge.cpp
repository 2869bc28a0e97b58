// The judge: correlates each journal transaction with a scenario message as it streams by, keeps
// per message what the rules need, and runs the rules (rules.cpp) on each transaction and at
// the end.
#include "judge.hpp"

#include <algorithm>

namespace dropcheck::analyzer {

using namespace detail;

namespace detail {

const std::string& tag_of(const TruthMessage& m) { return m.tag.empty() ? m.id : m.tag; }

Context::Context(const Truth& t) : truth(t), messages(t.messages.size()) {
  for (const auto& d : truth.local_domains) local.insert(lower(d));
  for (const auto& u : truth.users) users.insert(norm(u));
  for (std::size_t i = 0; i < truth.messages.size(); ++i)
    by_tag[tag_of(truth.messages[i])].push_back(i);
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

bool Context::is_local(const std::string& a) const { return local.count(domain_of(a)) > 0; }

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

bool Context::group_reached_any(const TruthMessage& m) const {
  for (const std::size_t i : by_tag.at(tag_of(m)))
    if (messages[i] && !messages[i]->got.empty()) return true;
  return false;
}

bool Context::group_reached(const TruthMessage& m, MailboxId mailbox) const {
  for (const std::size_t i : by_tag.at(tag_of(m)))
    if (messages[i] && messages[i]->got.count(mailbox)) return true;
  return false;
}

namespace {

// What a message expects, from the truth alone.
void prepare(Context& ctx, std::size_t i, MessageState& s) {
  const TruthMessage& m = ctx.truth.messages[i];
  s.m = &m;
  for (const auto& r : m.envelope_to)
    if (ctx.is_local(r)) s.expected.insert(ctx.mailbox(ctx.resolve(r)));
  const Truth& truth = ctx.truth;
  // Stored at the provider yet for no local domain (a typo in local_domains, a domain not
  // configured): the fallback mailbox is where it belongs, never nowhere.
  if (s.expected.empty() && !truth.fallback.empty()) s.expected.insert(ctx.fallback);
  // A provider storing one copy per recipient stores one for each foreign envelope recipient;
  // it names no local address, so the fallback may get each of them (not a misroute).
  const auto local = [&](const std::string& r) { return ctx.is_local(r); };
  const auto foreign = static_cast<int>(std::count_if(
      m.envelope_to.begin(), m.envelope_to.end(), [&](const std::string& r) { return !local(r); }));
  const bool has_local = std::any_of(m.envelope_to.begin(), m.envelope_to.end(), local);
  const bool fallback_expected = s.expected.count(ctx.fallback) && (has_local || foreign == 0);
  s.fallback_copies = truth.fallback.empty() ? 0 : foreign + (fallback_expected ? 1 : 0);
  s.sent =
      i < truth.sent.size() ? truth.sent[i] : std::make_shared<const SentSummary>(summarize(m));
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

// The group of identical scenario messages a copy belongs to: its X-Dropcheck-Id (the last
// line naming a known tag), else a scenario message with an equal body (the last such).
const std::vector<std::size_t>* group_of(const Delivery& d, Context& ctx) {
  const std::vector<std::size_t>* group = nullptr;
  for (const auto& line : header_lines(d.message, "X-Dropcheck-Id")) {
    std::string v = line.substr(line.find(':') + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    if (auto it = ctx.by_tag.find(v); it != ctx.by_tag.end()) group = &it->second;
  }
  if (group) return group;
  if (!ctx.body_tag) {  // an untagged copy: index the scenario bodies once
    ctx.body_tag = std::make_unique<std::unordered_map<std::string, std::string>>();
    const Truth& truth = ctx.truth;
    for (std::size_t i = 0; i < truth.messages.size(); ++i) {
      const TruthMessage& m = truth.messages[i];
      (*ctx.body_tag)[digest_key(i < truth.sent.size() ? truth.sent[i]->body_sha256
                                                       : body_sha256(m.raw))] = tag_of(m);
    }
  }
  const auto it = ctx.body_tag->find(digest_key(body_sha256(d.message)));
  return it == ctx.body_tag->end() ? nullptr : &ctx.by_tag[it->second];
}

// The member of a group of identical copies that a delivery counts for: the first that has
// not yet reached any of its recipients, else the first (a copy more than the group holds).
std::size_t member_for(const Context& ctx, const std::vector<std::size_t>& group,
                       const std::vector<MailboxId>& reached) {
  for (const std::size_t i : group) {
    const MessageState* s = ctx.messages[i].get();
    if (!s || std::none_of(reached.begin(), reached.end(),
                           [&](MailboxId a) { return s->got.count(a) > 0; }))
      return i;
  }
  return group.front();
}

// A copy's effect on its message's statistics and counts, before the rules look at it.
void count_copy(const Delivery& d, const std::vector<MailboxId>& accepted, MessageState& s,
                Context& ctx) {
  ++s.copies;
  if (s.latency_ms < 0) s.latency_ms = d.virtual_ms - s.m->injected_ms;
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
  stats.id = s.m->id;
  stats.injected_ms = s.m->injected_ms;
  stats.copies = s.copies;
  stats.latency_ms = s.latency_ms;
  stats.data_ms = s.data_ms;
  stats.deliveries_total = s.deliveries_total;
  for (const auto& [rcpt, first] : s.first_to)
    stats.recipient_latency_ms[ctx.name(rcpt)] = first.virtual_ms - s.m->injected_ms;
  stats.deliveries.reserve(s.deliveries.size());
  for (const auto& d : s.deliveries)
    stats.deliveries.push_back({ctx.name(d.mailbox), d.seq, d.virtual_ms});
  return stats;
}

}  // namespace

MessageState& Context::state(std::size_t i) {
  if (!messages[i]) {
    messages[i] = std::make_unique<MessageState>();
    prepare(*this, i, *messages[i]);
  }
  return *messages[i];
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
  if (data_accepted) {
    accepted = accepted_local(d, ctx);
    for (const auto& a : accepted) ids.push_back(ctx.mailbox(a));
    if (const auto* group = group_of(d, ctx)) {
      const std::size_t i = member_for(ctx, *group, ids);
      msg = &ctx.state(i);
      if (!accepted.empty()) count_copy(d, ids, *msg, ctx);
    }
  }
  const Transaction t{d, data_accepted, msg, accepted, ids};
  for (const Rule& r : rules())
    if (r.each) r.each(t, ctx);
}

Report Judge::finish() {
  Context& ctx = *ctx_;
  for (std::size_t i = 0; i < ctx.messages.size(); ++i) ctx.state(i);
  for (const Rule& r : rules())
    if (r.at_end) r.at_end(ctx);
  Report rep;
  rep.scenario = ctx.truth.scenario;
  rep.transactions = ctx.transactions;
  rep.findings = std::move(ctx.findings);
  rep.messages.reserve(ctx.messages.size());
  for (auto& s : ctx.messages) {
    rep.messages.push_back(stats_of(*s, ctx));
    s.reset();  // the report grows as the judge's state goes
  }
  // Stable order: by type order, then message, then recipient.
  const auto& types = finding_types();
  const auto rank = [&](const std::string& t) {
    return std::find(types.begin(), types.end(), t) - types.begin();
  };
  std::stable_sort(rep.findings.begin(), rep.findings.end(),
                   [&](const Finding& a, const Finding& b) {
                     if (rank(a.type) != rank(b.type)) return rank(a.type) < rank(b.type);
                     if (a.message != b.message) return a.message < b.message;
                     return a.recipient < b.recipient;
                   });
  return rep;
}

Report analyze(const Truth& truth, const std::vector<Delivery>& journal) {
  Judge judge(truth);
  for (const Delivery& d : journal) judge.add(d);
  return judge.finish();
}

}  // namespace dropcheck::analyzer

// One function per finding type, and the table that registers them in report order.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "judge.hpp"

namespace dropcheck::analyzer::detail {
namespace {

std::int64_t seq_of(const Delivery& d) { return static_cast<std::int64_t>(d.seq); }

// The scenario message's id, as findings name it.
std::string id_of(const Context& ctx, const MessageState& s) {
  return std::string(ctx.sent.id(s.i));
}

// A copy of a known scenario message that some local mailbox accepted.
bool is_copy(const Transaction& t) { return t.msg && !t.accepted.empty(); }

// The fallback mailbox, when it may get one copy per foreign envelope recipient.
bool counted_fallback(const Context& ctx, const MessageState& s, MailboxId mailbox) {
  return mailbox == ctx.fallback && s.fallback_copies > 0;
}

// relay-attempt / relay-leak: judged per RCPT to a foreign domain, whatever the message.
void relay(const Transaction& t, Context& ctx, bool accepted_ones, const char* type) {
  for (const auto& r : t.d.rcpts) {
    if (ctx.is_local(r.address)) continue;
    const bool accepted = r.code >= 200 && r.code < 300;
    if (accepted != accepted_ones) continue;
    ctx.add(type, "", norm(r.address),
            fmt::format("journal #{} RCPT TO:<{}> -> {}", t.d.seq, r.address, r.code), seq_of(t.d));
  }
}
void relay_attempt(const Transaction& t, Context& ctx) { relay(t, ctx, false, "relay-attempt"); }
void relay_leak(const Transaction& t, Context& ctx) { relay(t, ctx, true, "relay-leak"); }

void unknown_message(const Transaction& t, Context& ctx) {
  if (t.data_accepted && !t.msg)
    ctx.add("unknown-message", "", "",
            fmt::format("journal #{} matches no scenario message", t.d.seq), seq_of(t.d));
}

// duplicate: a mailbox's second accepted copy (the fallback: one more than it may get).
void duplicate(const Transaction& t, Context& ctx) {
  if (!is_copy(t)) return;
  const MessageState& s = *t.msg;
  for (const MailboxId a : t.accepted_ids) {
    const int n = s.got.at(a);
    if (counted_fallback(ctx, s, a)) {
      if (n == s.fallback_copies + 1)
        ctx.add("duplicate", id_of(ctx, s), ctx.name(a),
                fmt::format("journal #{}: more copies than foreign envelope recipients", t.d.seq),
                seq_of(t.d));
    } else if (n == 2) {
      ctx.add("duplicate", id_of(ctx, s), ctx.name(a),
              fmt::format("journal #{}: second accepted copy", t.d.seq), seq_of(t.d));
    }
  }
}

void misroute(const Transaction& t, Context& ctx) {
  if (!is_copy(t)) return;
  const MessageState& s = *t.msg;
  for (const MailboxId a : t.accepted_ids)
    if (!counted_fallback(ctx, s, a) && !s.expected.count(a))
      ctx.add("misroute", id_of(ctx, s), ctx.name(a),
              fmt::format("journal #{}: {} is not an envelope recipient", t.d.seq, ctx.name(a)),
              seq_of(t.d));
}

// BCC disclosure: an envelope-only address shown to someone else, and not by the sender.
// Reported once per message and address (its first copy): findings stay bounded by the
// envelope, not by envelope x copies (a 10,000-recipient header in 100 copies).
void envelope_header_leak(const Transaction& t, Context& ctx) {
  if (!is_copy(t)) return;
  MessageState& s = *t.msg;
  const std::span<const SentMessages::Address> only = ctx.sent.envelope_only(s.i);
  for (std::size_t e = 0; e < only.size(); ++e) {
    if (std::find(s.leaked.begin(), s.leaked.end(), only[e]) != s.leaked.end()) continue;
    const std::string& b = ctx.sent.address(only[e]);
    const bool others =
        std::any_of(t.accepted.begin(), t.accepted.end(),
                    [&](const std::string& a) { return a != b && a != ctx.resolve(b); });
    if (!others || !mentions_more(mention_counts(t.d.message, b), ctx.sent.mentions(s.i, e)))
      continue;
    s.leaked.push_back(only[e]);
    const std::string line = excerpt(leaking_line(t.d.message, ctx.sent.quoting_lines(s.i), b), b);
    ctx.add("envelope-header-leak", id_of(ctx, s), b,
            fmt::format("journal #{}: copy for {} shows {}{}", t.d.seq, t.accepted.front(), b,
                        line.empty() ? "" : " in \"" + line + "\""),
            seq_of(t.d));
  }
}

void bcc_header_leak(const Transaction& t, Context& ctx) {
  if (!is_copy(t)) return;
  each_header_named(t.head, "Bcc", [&](std::string_view l) {
    ctx.add("bcc-header-leak", id_of(ctx, *t.msg), t.accepted.front(),
            fmt::format("journal #{}: \"{}\"", t.d.seq, excerpt(std::string(l), "")), seq_of(t.d));
  });
}

void sender_rewritten(const Transaction& t, Context& ctx) {
  if (!is_copy(t)) return;
  const std::string_view from = ctx.sent.envelope_from(t.msg->i);
  if (norm(t.d.mail_from) != norm(std::string(from)))
    ctx.add(
        "sender-rewritten", id_of(ctx, *t.msg), "",
        fmt::format("journal #{}: MAIL FROM:<{}>, envelope was <{}>", t.d.seq, t.d.mail_from, from),
        seq_of(t.d));
}

void message_altered(const Transaction& t, Context& ctx) {
  if (!is_copy(t)) return;
  if (crlf_sha256(t.body) != ctx.sent.body_sha256(t.msg->i))
    ctx.add("message-altered", id_of(ctx, *t.msg), t.accepted.front(),
            fmt::format("journal #{}: body differs from what was sent", t.d.seq), seq_of(t.d));
}

// Loop: the message left the site (relayed out) and came back in again afterwards.
void loop(const Transaction& t, Context& ctx) {
  if (!t.msg || t.msg->looped) return;
  MessageState& s = *t.msg;
  if (s.first_relay >= 0 && t.d.seq > static_cast<std::uint64_t>(s.first_relay)) {
    ctx.add("loop", id_of(ctx, s), "",
            fmt::format("journal #{} relayed it out, journal #{} received it again", s.first_relay,
                        t.d.seq),
            seq_of(t.d));
    s.looped = true;
    return;
  }
  if (t.d.relayed_out && s.first_relay < 0) s.first_relay = seq_of(t.d);
}

// The first POP3 session that deleted message `id` and committed it at QUIT, if any.
const Pop3SessionFact* deleting_session(const Truth& truth, const std::string& id) {
  for (const auto& ps : truth.pop3_sessions)
    if (std::find(ps.deleted.begin(), ps.deleted.end(), id) != ps.deleted.end()) return &ps;
  return nullptr;
}

// The worst failure: the provider no longer has it and no local mailbox got it.
void lost_message(Context& ctx) {
  for (const auto& s : ctx.messages)
    if (s.copies == 0 && !ctx.group_reached_any(s.i))
      if (const Pop3SessionFact* del = deleting_session(ctx.truth, id_of(ctx, s)))
        ctx.add("lost-message", id_of(ctx, s), "",
                fmt::format("POP3 session #{} deleted it (DELE, QUIT) and no local mailbox "
                            "accepted a copy",
                            del->id),
                -1);
}

// Mailboxes only envelope-only (blind-copy) recipients resolve to: no To/Cc address does.
std::set<std::string> blind_mailboxes(const MessageState& s, const Context& ctx) {
  const std::span<const SentMessages::Address> hidden = ctx.sent.envelope_only(s.i);
  const auto is_hidden = [&](const std::string& r) {
    return std::any_of(hidden.begin(), hidden.end(),
                       [&](SentMessages::Address h) { return ctx.sent.address(h) == norm(r); });
  };
  std::set<std::string> blind, shown;
  for (const SentMessages::Address a : ctx.sent.envelope_to(s.i)) {
    const std::string& r = ctx.sent.address(a);
    (is_hidden(r) ? blind : shown).insert(ctx.resolve(r));
  }
  for (const auto& v : shown) blind.erase(v);
  return blind;
}

// A copy of an identical group that reached nobody new is no loss: the same bytes did.
void lost_recipient(Context& ctx) {
  for (const auto& s : ctx.messages) {
    std::set<std::string> blind;
    bool blind_known = false;
    for (const MailboxId e : s.expected) {
      if (s.got.count(e) || ctx.group_reached(s.i, e)) continue;
      if (!blind_known) blind = blind_mailboxes(s, ctx);
      blind_known = true;
      const bool is_blind = blind.count(ctx.name(e)) > 0;
      ctx.add("lost-recipient", id_of(ctx, s), ctx.name(e),
              is_blind ? "no accepted delivery in the journal (a blind copy: not in To/Cc)"
                       : "no accepted delivery in the journal",
              -1, is_blind);
    }
  }
}

// A duration as people read it: "20 min", "1 min 30 s", "45 s", exact to the millisecond
// ("1500 ms") when it is not a whole number of seconds.
std::string duration_text(std::int64_t ms) {
  if (ms % 1000 != 0) return fmt::format("{} ms", ms);
  const std::int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{} s", s);
  return s % 60 == 0 ? fmt::format("{} min", s / 60) : fmt::format("{} min {} s", s / 60, s % 60);
}

// delayed: the first accepted copy for a recipient came later after injection than the budget
// allows.
void delayed(Context& ctx) {
  const std::int64_t budget_ms = ctx.truth.latency_budget_ms;
  if (budget_ms <= 0) return;  // no budget
  for (const auto& s : ctx.messages)
    for (const auto& [rcpt, first] : s.first_to) {
      const std::int64_t latency = first.virtual_ms - ctx.sent.injected_ms(s.i);
      if (latency <= budget_ms) continue;
      ctx.add("delayed", id_of(ctx, s), ctx.name(rcpt),
              fmt::format("delivered {} after injection (budget {}), journal #{}",
                          duration_text(latency), duration_text(budget_ms), first.seq),
              static_cast<std::int64_t>(first.seq));
    }
}

// Stall: a fetcher that systematically waits per message (Nagle + delayed ACK: ~40 ms at the
// end of DATA) — judged on the median of at least kStallMinCopies small copies, so one slow
// moment on a loaded machine is not a finding.
void stall(Context& ctx) {
  if (ctx.data_phases.size() < kStallMinCopies) return;
  std::vector<std::pair<std::int64_t, std::uint64_t>> sorted = ctx.data_phases;
  std::sort(sorted.begin(), sorted.end());
  const auto median = sorted[sorted.size() / 2];
  if (median.first > kStallMs)
    ctx.add("stall", "", "",
            fmt::format("median DATA phase {} ms over {} copies (slowest {} ms, journal #{})",
                        median.first, sorted.size(), sorted.back().first, sorted.back().second),
            static_cast<std::int64_t>(median.second));
}

// Stuck queue: delivery stopped (or never started). In injection order, every message after
// the last one that reached anybody (all of them when none did), injected at least one full
// interval before the end, reached nobody.
void stuck_queue(Context& ctx) {
  const Truth& truth = ctx.truth;
  const SentMessages& sent = ctx.sent;
  std::vector<std::uint32_t> order(sent.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return sent.injected_ms(a) < sent.injected_ms(b);
  });
  std::ptrdiff_t last = -1;
  for (std::size_t k = 0; k < order.size(); ++k)
    if (ctx.messages[order[k]].copies > 0 || ctx.group_reached_any(order[k]))
      last = static_cast<std::ptrdiff_t>(k);
  std::vector<std::string> stuck;
  for (std::size_t k = static_cast<std::size_t>(last + 1); k < order.size(); ++k) {
    const std::span<const SentMessages::Address> to = sent.envelope_to(order[k]);
    const bool any_local = std::any_of(to.begin(), to.end(), [&](SentMessages::Address r) {
      return ctx.is_local(sent.address(r));
    });
    if (any_local && sent.injected_ms(order[k]) + truth.interval_ms < truth.end_ms)
      stuck.emplace_back(sent.id(order[k]));
  }
  if (stuck.empty()) return;
  std::string list;
  for (const auto& id : stuck) list += (list.empty() ? "" : ", ") + id;
  ctx.add("stuck-queue", stuck.front(), "",
          fmt::format("{} message(s) never delivered {}: {}", stuck.size(),
                      last >= 0 ? "after the last successful delivery" : "(nothing was delivered)",
                      list),
          -1);
}

// The table: every finding type once, in report order, with the function that judges it.
constexpr std::array kRules = {
    Rule{"lost-message", nullptr, lost_message},
    Rule{"lost-recipient", nullptr, lost_recipient},
    Rule{"duplicate", duplicate, nullptr},
    Rule{"envelope-header-leak", envelope_header_leak, nullptr},
    Rule{"bcc-header-leak", bcc_header_leak, nullptr},
    Rule{"relay-attempt", relay_attempt, nullptr},
    Rule{"relay-leak", relay_leak, nullptr},
    Rule{"misroute", misroute, nullptr},
    Rule{"sender-rewritten", sender_rewritten, nullptr},
    Rule{"message-altered", message_altered, nullptr},
    Rule{"unknown-message", unknown_message, nullptr},
    Rule{"loop", loop, nullptr},
    Rule{"cleartext-credentials", nullptr, judge_cleartext_credentials},
    Rule{"login-refused", nullptr, judge_login_refused},
    Rule{"silent-login-failure", nullptr, judge_silent_login_failure},
    Rule{"over-polling", nullptr, judge_over_polling},
    Rule{"stuck-queue", nullptr, stuck_queue},
    Rule{"delayed", nullptr, delayed},
    Rule{"stall", nullptr, stall},
};

}  // namespace

std::span<const Rule> rules() { return kRules; }

}  // namespace dropcheck::analyzer::detail

namespace dropcheck::analyzer {

const std::vector<std::string>& finding_types() {
  static const std::vector<std::string> kTypes = [] {
    std::vector<std::string> out;
    for (const auto& r : detail::rules()) out.emplace_back(r.type);
    return out;
  }();
  return kTypes;
}

}  // namespace dropcheck::analyzer

#include "analyzer/analyzer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/strings.hpp"

namespace dropcheck::analyzer {

namespace {

// ASCII case folding only (base/, not mail/: the analyzer keeps its own simple parsing).
char lower(char c) { return base::ascii_lower(c); }
std::string lower(std::string_view s) { return base::to_lower(s); }
std::string domain_of(const std::string& addr) {
  const auto at = addr.rfind('@');
  return at == std::string::npos ? std::string() : lower(addr.substr(at + 1));
}
// Local part case is kept by the servers; for matching recipients we compare case-insensitively,
// as every mailbox in practice is.
std::string norm(std::string a) {
  while (!a.empty() && (a.front() == '<' || a.front() == ' ')) a.erase(0, 1);
  while (!a.empty() && (a.back() == '>' || a.back() == ' ')) a.pop_back();
  return lower(a);
}

// Splits raw into header section and body at the first empty line (CRLF or LF).
std::pair<std::string_view, std::string_view> split_message(std::string_view raw) {
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const auto nl = raw.find('\n', pos);
    if (nl == std::string_view::npos) return {raw, {}};
    const std::string_view line = raw.substr(pos, nl - pos);
    if (line.empty() || line == "\r") return {raw.substr(0, pos), raw.substr(nl + 1)};
    pos = nl + 1;
  }
  return {raw, {}};
}

std::string crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 32);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out.push_back('\r');
    out.push_back(s[i]);
  }
  return out;
}

// Removes folding: CRLF or LF followed by space or tab.
std::string unfold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 2 < s.size() && s[i + 1] == '\n' &&
        (s[i + 2] == ' ' || s[i + 2] == '\t')) {
      ++i;
      continue;
    }
    if (s[i] == '\n' && i + 1 < s.size() && (s[i + 1] == ' ' || s[i + 1] == '\t')) continue;
    out.push_back(s[i]);
  }
  return out;
}

std::string decode_b64(std::string_view in) { return base::base64_decode(in); }
std::string encode_b64(std::string_view in) { return base::base64_encode(in); }

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string decode_q(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '_') {
      out.push_back(' ');
    } else if (in[i] == '=' && i + 2 < in.size() + 0 && hexval(in[i + 1]) >= 0 &&
               hexval(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexval(in[i + 1]) * 16 + hexval(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// Every RFC 2047 encoded-word "=?charset?B|Q?text?=" decoded, concatenated with spaces.
std::string decode_encoded_words(std::string_view s) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = s.find("=?", pos)) != std::string_view::npos) {
    const auto q1 = s.find('?', pos + 2);
    if (q1 == std::string_view::npos || q1 + 2 >= s.size() || s[q1 + 2] != '?') {
      pos += 2;
      continue;
    }
    const char enc = lower(s[q1 + 1]);
    const auto end = s.find("?=", q1 + 3);
    if (end == std::string_view::npos) break;
    const std::string_view text = s.substr(q1 + 3, end - (q1 + 3));
    out += enc == 'b' ? decode_b64(text) : decode_q(text);
    out.push_back(' ');
    pos = end + 2;
  }
  return out;
}

bool is_addr_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '+' || c == '%' || c == '\'' || c == '=' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_domain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '-';
}

// Whole-address occurrences, case-insensitive. '-' before the address counts as a boundary
// so qmail's "domain-user@domain" form is found too.
std::size_t count_address(const std::string& hay_lower, const std::string& addr_lower) {
  std::size_t count = 0;
  std::size_t pos = 0;
  while ((pos = hay_lower.find(addr_lower, pos)) != std::string::npos) {
    const bool left_ok = pos == 0 || !is_addr_char(hay_lower[pos - 1]);
    const std::size_t end = pos + addr_lower.size();
    const bool right_ok = end >= hay_lower.size() || !is_domain_char(hay_lower[end]) ||
                          (hay_lower[end] == '.' &&
                           (end + 1 >= hay_lower.size() || !is_domain_char(hay_lower[end + 1])));
    if (left_ok && right_ok) ++count;
    ++pos;
  }
  return count;
}

// How often an address occurs in three views of a message: its raw bytes, its unfolded header
// section, and the decoded RFC 2047 encoded-words of that header section.
using MentionCounts = std::array<std::size_t, 3>;
MentionCounts mention_counts(const std::string& raw, const std::string& addr) {
  const std::string a = lower(addr);
  const std::string head = unfold(split_message(raw).first);
  return {count_address(lower(raw), a), count_address(lower(head), a),
          count_address(lower(decode_encoded_words(head)), a)};
}

// Whether `copy` shows `addr` somewhere `sent` did not: more occurrences in any view. An
// address the sender wrote (a signature, a quoted reply, a display name) is not a disclosure.
bool mentions_more(const MentionCounts& copy, const MentionCounts& sent) {
  for (std::size_t v = 0; v < copy.size(); ++v)
    if (copy[v] > sent[v]) return true;
  return false;
}

// Mailboxes only envelope-only (blind-copy) recipients resolve to: no To/Cc address does.
template <typename Resolve>
std::set<std::string> blind_mailboxes(const std::vector<std::string>& envelope_to,
                                      const std::set<std::string>& visible, Resolve resolve) {
  std::set<std::string> blind, shown;
  for (const auto& r : envelope_to)
    (visible.count(norm(r)) ? shown : blind).insert(resolve(r));
  for (const auto& v : shown) blind.erase(v);
  return blind;
}

// Envelope headers providers stamp (fake-pop3 profiles, and what real MTAs write).
constexpr const char* kEnvelopeHeaders[] = {"Envelope-To",    "X-Envelope-To", "X-Original-To",
                                            "X-Rcpt-To",      "X-MDRcpt-To",   "X-Recipient-To",
                                            "Delivered-To"};

}  // namespace

const std::vector<std::string>& finding_types() {
  static const std::vector<std::string> kTypes = {
      "lost-message",
      "lost-recipient",
      "duplicate",
      "envelope-header-leak",
      "bcc-header-leak",
      "relay-attempt",
      "relay-leak",
      "misroute",
      "sender-rewritten",
      "message-altered",
      "unknown-message",
      "loop",
      "cleartext-credentials",
      "login-refused",
      "silent-login-failure",
      "over-polling",
      "stuck-queue",
      "delayed",
      "stall",
  };
  return kTypes;
}

std::vector<std::string> header_lines(const std::string& raw, const std::string& name) {
  const auto [head, body] = split_message(raw);
  (void)body;
  const std::string unfolded = unfold(head);
  std::vector<std::string> out;
  std::istringstream in(unfolded);
  std::string line;
  const std::string want = lower(name);
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string n = line.substr(0, colon);
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.pop_back();
    if (lower(n) == want) out.push_back(line);
  }
  return out;
}

std::vector<std::string> visible_addresses(const std::string& raw) {
  std::set<std::string> found;
  for (const char* name : {"To", "Cc", "From", "Reply-To", "Sender"}) {
    for (const std::string& line : header_lines(raw, name)) {
      const std::string l = lower(line.substr(line.find(':') + 1));
      for (std::size_t i = 0; i < l.size(); ++i) {
        if (l[i] != '@') continue;
        std::size_t b = i;
        while (b > 0 && (is_addr_char(l[b - 1]) || l[b - 1] == '-')) --b;
        std::size_t e = i + 1;
        while (e < l.size() && is_domain_char(l[e])) ++e;
        while (e > i + 1 && l[e - 1] == '.') --e;
        if (b < i && e > i + 1) found.insert(l.substr(b, e - b));
      }
    }
  }
  return {found.begin(), found.end()};
}

bool mentions_address(const std::string& raw, const std::string& addr) {
  return mentions_more(mention_counts(raw, addr), MentionCounts{});
}

namespace {

// The header line of `copy` that discloses `addr`: a known envelope header naming it, else the
// first header line naming it that the sender did not write; "" when none (body only).
// Evidence quotes at most this many octets of a line, around the hit, with its offsets: a
// 214 KB envelope header quoted whole made a no-strip run's report hundreds of MB.
constexpr std::size_t kMaxQuote = 240;

std::string excerpt(const std::string& line, const std::string& needle) {
  if (line.size() <= kMaxQuote) return line;
  std::string lower_line = line, lower_needle = needle;
  for (auto* t : {&lower_line, &lower_needle})
    for (char& c : *t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::size_t at = needle.empty() ? 0 : lower_line.find(lower_needle);
  if (at == std::string::npos) at = 0;
  const std::size_t start = at > kMaxQuote / 2 ? at - kMaxQuote / 2 : 0;
  const std::size_t end = std::min(line.size(), start + kMaxQuote);
  return fmt::format("{}{}{} [octets {}-{} of {}]", start > 0 ? "..." : "",
                     line.substr(start, end - start), end < line.size() ? "..." : "", start, end,
                     line.size());
}

std::string leaking_line(const std::string& copy, const std::string& sent, const std::string& addr) {
  for (const char* h : kEnvelopeHeaders)
    for (const auto& l : header_lines(copy, h))
      if (mentions_address(l, addr)) return l;
  const std::string sent_head = unfold(split_message(sent).first);
  const std::string head = unfold(split_message(copy).first);
  std::istringstream in(head);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (mentions_address(l, addr) && sent_head.find(l) == std::string::npos) return l;
  }
  return {};
}

// The X-Dropcheck-Id a message carries: its id, or the tag its identical copies share.
const std::string& tag_of(const TruthMessage& m) { return m.tag.empty() ? m.id : m.tag; }

// Local mailboxes that accepted copy `d`, in RCPT order, by the analyzer's own normalisation:
// a 2xx RCPT (and with LMTP a 2xx reply for it after the message). A mailbox named twice in one
// transaction gets one copy (MTAs collapse duplicate RCPTs), so it counts once.
template <typename IsLocal>
std::vector<std::string> accepted_local(const Delivery& d, const IsLocal& is_local) {
  std::vector<std::string> out;
  std::size_t k = 0;
  for (const auto& r : d.rcpts) {
    if (r.code < 200 || r.code >= 300) continue;
    bool ok = true;
    if (!d.lmtp_codes.empty()) {
      ok = k < d.lmtp_codes.size() && d.lmtp_codes[k] >= 200 && d.lmtp_codes[k] < 300;
      ++k;
    }
    if (ok && is_local(r.address) && std::find(out.begin(), out.end(), norm(r.address)) == out.end())
      out.push_back(norm(r.address));
  }
  return out;
}

// The member of a group of identical copies that a delivery counts for: the first that has
// not yet reached any of its recipients, else the first (a copy more than the group holds).
const TruthMessage* member_for(const std::vector<const TruthMessage*>& group,
                               const std::vector<std::string>& reached,
                               const std::map<const TruthMessage*, std::set<std::string>>& so_far) {
  for (const TruthMessage* m : group) {
    const auto it = so_far.find(m);
    if (it == so_far.end() ||
        std::none_of(reached.begin(), reached.end(),
                     [&](const std::string& a) { return it->second.count(a) > 0; }))
      return m;
  }
  return group.front();
}

// The first POP3 session that deleted message `id` and committed it at QUIT, if any.
const Pop3SessionFact* deleting_session(const Truth& truth, const std::string& id) {
  for (const auto& ps : truth.pop3_sessions)
    if (std::find(ps.deleted.begin(), ps.deleted.end(), id) != ps.deleted.end()) return &ps;
  return nullptr;
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
// allows. `first` maps each recipient the message was for to its first accepted copy.
void judge_delayed(const TruthMessage& m, const std::map<std::string, const Delivery*>& first,
                   std::int64_t budget_ms, std::vector<Finding>& out) {
  if (budget_ms <= 0) return;  // no budget
  for (const auto& [rcpt, d] : first) {
    const std::int64_t latency = d->virtual_ms - m.injected_ms;
    if (latency <= budget_ms) continue;
    out.push_back({"delayed", m.id, rcpt,
                   fmt::format("delivered {} after injection (budget {}), journal #{}",
                               duration_text(latency), duration_text(budget_ms), d->seq),
                   static_cast<std::int64_t>(d->seq)});
  }
}

std::map<std::string, std::int64_t> recipient_latencies(
    const TruthMessage& m, const std::map<std::string, const Delivery*>& first) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [rcpt, d] : first) out[rcpt] = d->virtual_ms - m.injected_ms;
  return out;
}

// Evidence names at most this many sessions and counts the rest: a fetcher retrying a wrong
// password every cycle for a day must not make a finding of thousands of session ids.
constexpr std::size_t kMaxSessionsNamed = 10;

std::string session_at(const Pop3SessionFact& s) {
  return fmt::format("#{} at +{} s ({:.1f} min)", s.id, s.started_ms / 1000,
                     static_cast<double>(s.started_ms) / 60'000.0);
}

std::string sessions_named(const std::vector<const Pop3SessionFact*>& sessions) {
  std::string out;
  for (std::size_t i = 0; i < sessions.size() && i < kMaxSessionsNamed; ++i)
    out += (i == 0 ? "" : ", ") + session_at(*sessions[i]);
  if (sessions.size() > kMaxSessionsNamed)
    out += fmt::format(" and {} more", sessions.size() - kMaxSessionsNamed);
  return out;
}

// The sessions whose login the provider refused for bad credentials, per account, in
// connection order.
std::map<std::string, std::vector<const Pop3SessionFact*>> refused_logins(const Truth& truth) {
  std::map<std::string, std::vector<const Pop3SessionFact*>> out;
  for (const auto& ps : truth.pop3_sessions)
    if (ps.auth_result == "bad-credentials") out[ps.user].push_back(&ps);
  return out;
}

// login-refused: one per account whose login the provider refused (also when a later login of
// the account succeeded); `recipient` names the account.
void judge_login_refused(const Truth& truth, std::vector<Finding>& out) {
  for (const auto& [user, sessions] : refused_logins(truth)) {
    const std::string span = sessions.size() == 1 ? "POP3 session " + session_at(*sessions.front())
                                                  : fmt::format("first POP3 session {}, last {}",
                                                                session_at(*sessions.front()),
                                                                session_at(*sessions.back()));
    out.push_back({"login-refused", "", user,
                   fmt::format("{} login(s) refused (bad credentials){}: {}", sessions.size(),
                               user.empty() ? " for an unnamed account" : "", span),
                   -1});
  }
}

// silent-login-failure: one per account with a refused login the fetcher did not report.
void judge_silent_login_failure(const Truth& truth, std::vector<Finding>& out) {
  for (const auto& [user, sessions] : refused_logins(truth)) {
    std::vector<const Pop3SessionFact*> silent;
    for (const Pop3SessionFact* s : sessions)
      if (!s->reported) silent.push_back(s);
    if (silent.empty()) continue;
    out.push_back({"silent-login-failure", "", user,
                   fmt::format("the fetcher did not report {} of {} refused login(s): POP3 "
                               "session {}",
                               silent.size(), sessions.size(), sessions_named(silent)),
                   -1});
  }
}

void judge_cleartext_credentials(const Truth& truth, std::vector<Finding>& out) {
  for (const auto& ps : truth.pop3_sessions)
    if (ps.cleartext_while_stls)
      out.push_back({"cleartext-credentials", "", "",
                     fmt::format("POP3 session #{}: password sent without TLS although STLS was "
                                 "offered",
                                 ps.id),
                     -1});
}

void judge_over_polling(const Truth& truth, std::vector<Finding>& out) {
  std::int64_t last_ok_login = -1;
  for (const auto& ps : truth.pop3_sessions) {
    if (ps.auth_result == "login-delay")
      out.push_back(
          {"over-polling", "", "",
           fmt::format("POP3 session #{} at +{} s: login refused, LOGIN-DELAY {} s not respected{}",
                       ps.id, ps.started_ms / 1000, truth.login_delay_ms / 1000,
                       last_ok_login >= 0
                           ? fmt::format(" (last login at +{} s)", last_ok_login / 1000)
                           : ""),
           -1});
    if (ps.auth_result == "ok") last_ok_login = ps.started_ms;
  }
}

// Provider-side facts (fake-pop3's session log): credentials and polling.
void judge_provider_facts(const Truth& truth, std::vector<Finding>& out) {
  judge_cleartext_credentials(truth, out);
  judge_login_refused(truth, out);
  judge_silent_login_failure(truth, out);
  judge_over_polling(truth, out);
}

}  // namespace

Report analyze(const Truth& truth, const std::vector<Delivery>& journal) {
  Report rep;
  rep.scenario = truth.scenario;
  rep.transactions = journal.size();
  std::set<std::string> local;
  for (const auto& d : truth.local_domains) local.insert(lower(d));
  std::set<std::string> users;
  for (const auto& u : truth.users) users.insert(norm(u));
  const auto is_local = [&](const std::string& a) { return local.count(domain_of(a)) > 0; };
  const auto resolve = [&](const std::string& a) {
    std::string m = norm(a);
    for (const auto& [k, v] : truth.aliases)
      if (norm(k) == m) m = norm(v);
    if (!users.empty() && !users.count(m) && !truth.fallback.empty()) m = norm(truth.fallback);
    return m;
  };
  const auto add = [&](std::string type, std::string msg, std::string rcpt, std::string ev,
                       std::int64_t seq) {
    rep.findings.push_back({std::move(type), std::move(msg), std::move(rcpt), std::move(ev), seq});
  };

  // Correlate each record with a truth message: the X-Dropcheck-Id tag, else an equal body.
  // Byte-identical copies (a resend) share one tag: a group, judged together.
  std::map<std::string, std::vector<const TruthMessage*>> by_tag;
  for (const auto& m : truth.messages) by_tag[tag_of(m)].push_back(&m);
  std::map<const TruthMessage*, std::set<std::string>> member_reached;
  std::map<const Delivery*, std::vector<std::string>> accepted_of;  // accepted_local, once each
  std::map<std::string, std::set<std::string>> group_reached;  // tag -> accepted mailboxes
  std::map<std::string, std::vector<const Delivery*>> per_msg;
  std::vector<std::pair<std::int64_t, std::uint64_t>> data_phases;  // (ms, journal seq)
  for (const Delivery& d : journal) {
    // Relay attempts are judged per RCPT, whatever the message.
    for (const auto& r : d.rcpts) {
      if (is_local(r.address)) continue;
      const bool accepted = r.code >= 200 && r.code < 300;
      add(accepted ? "relay-leak" : "relay-attempt", "", norm(r.address),
          fmt::format("journal #{} RCPT TO:<{}> -> {}", d.seq, r.address, r.code),
          static_cast<std::int64_t>(d.seq));
    }
    if (d.data_code < 200 || d.data_code >= 300) continue;
    const std::vector<const TruthMessage*>* group = nullptr;
    for (const auto& line : header_lines(d.message, "X-Dropcheck-Id")) {
      std::string v = line.substr(line.find(':') + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
      if (auto it = by_tag.find(v); it != by_tag.end()) group = &it->second;
    }
    if (!group) {
      const std::string body = crlf(split_message(d.message).second);
      for (const auto& m : truth.messages)
        if (crlf(split_message(m.raw).second) == body) group = &by_tag[tag_of(m)];
    }
    const std::vector<std::string>& reached = accepted_of[&d] = accepted_local(d, is_local);
    const TruthMessage* match = group ? member_for(*group, reached, member_reached) : nullptr;
    if (match) {
      member_reached[match].insert(reached.begin(), reached.end());
      group_reached[tag_of(*match)].insert(reached.begin(), reached.end());
    }
    if (!match) {
      add("unknown-message", "", "", fmt::format("journal #{} matches no scenario message", d.seq),
          static_cast<std::int64_t>(d.seq));
      continue;
    }
    per_msg[match->id].push_back(&d);
  }

  for (const TruthMessage& m : truth.messages) {
    MessageStats stats;
    stats.id = m.id;
    stats.injected_ms = m.injected_ms;
    std::set<std::string> expected;
    for (const auto& r : m.envelope_to)
      if (is_local(r)) expected.insert(resolve(r));
    // Stored at the provider yet for no local domain (a typo in local_domains, a domain not
    // configured): the fallback mailbox is where it belongs, never nowhere.
    if (expected.empty() && !truth.fallback.empty()) expected.insert(norm(truth.fallback));
    // A provider storing one copy per recipient stores one for each foreign envelope recipient;
    // it names no local address, so the fallback may get each of them (not a misroute).
    const std::string fallback = norm(truth.fallback);
    const auto foreign = static_cast<int>(
        std::count_if(m.envelope_to.begin(), m.envelope_to.end(),
                      [&](const std::string& r) { return !is_local(r); }));
    const bool has_local = std::any_of(m.envelope_to.begin(), m.envelope_to.end(), is_local);
    const bool fallback_expected = expected.count(fallback) && (has_local || foreign == 0);
    const int fallback_copies = truth.fallback.empty() ? 0 : foreign + (fallback_expected ? 1 : 0);
    const std::vector<std::string> visible = visible_addresses(m.raw);
    std::set<std::string> visible_set(visible.begin(), visible.end());
    std::vector<std::string> envelope_only;
    for (const auto& r : m.envelope_to)
      if (!visible_set.count(norm(r))) envelope_only.push_back(norm(r));
    std::vector<MentionCounts> sent_mentions;
    for (const auto& b : envelope_only) sent_mentions.push_back(mention_counts(m.raw, b));
    const std::string truth_body = crlf(split_message(m.raw).second);

    std::map<std::string, int> got;
    std::map<std::string, const Delivery*> first_to;  // recipient it was for -> first copy
    std::set<std::string> leaked;  // envelope-only addresses already reported as leaked
    for (const Delivery* d : per_msg[m.id]) {
      const std::vector<std::string>& accepted = accepted_of[d];
      if (accepted.empty()) continue;
      ++stats.copies;
      if (stats.latency_ms < 0) stats.latency_ms = d->virtual_ms - m.injected_ms;
      const auto seq = static_cast<std::int64_t>(d->seq);
      if (d->data_real_ms >= 0 && d->data_end_real_ms >= d->data_real_ms) {
        const std::int64_t data_ms = d->data_end_real_ms - d->data_real_ms;
        stats.data_ms = std::max(stats.data_ms, data_ms);
        if (d->message.size() < kStallSizeLimit) data_phases.push_back({data_ms, d->seq});
      }
      for (const auto& a : accepted) {
        if (stats.deliveries_total++ < kMaxDeliveriesListed)
          stats.deliveries.push_back({a, d->seq, d->virtual_ms});
        if (expected.count(a) || (a == fallback && fallback_copies > 0)) first_to.emplace(a, d);
        const int n = ++got[a];
        if (a == fallback && fallback_copies > 0) {
          if (n == fallback_copies + 1)
            add("duplicate", m.id, a,
                fmt::format("journal #{}: more copies than foreign envelope recipients", d->seq),
                seq);
          continue;
        }
        if (n == 2)
          add("duplicate", m.id, a, fmt::format("journal #{}: second accepted copy", d->seq), seq);
        if (!expected.count(a))
          add("misroute", m.id, a,
              fmt::format("journal #{}: {} is not an envelope recipient", d->seq, a), seq);
      }
      // BCC disclosure: an envelope-only address shown to someone else, and not by the sender.
      // Reported once per message and address (its first copy): findings stay bounded by the
      // envelope, not by envelope x copies (a 10,000-recipient header in 100 copies).
      for (std::size_t e = 0; e < envelope_only.size(); ++e) {
        const std::string& b = envelope_only[e];
        if (leaked.count(b)) continue;
        const bool others = std::any_of(accepted.begin(), accepted.end(),
                                         [&](const std::string& a) { return a != b && a != resolve(b); });
        if (others && mentions_more(mention_counts(d->message, b), sent_mentions[e])) {
          leaked.insert(b);
          const std::string line = excerpt(leaking_line(d->message, m.raw, b), b);
          add("envelope-header-leak", m.id, b,
              fmt::format("journal #{}: copy for {} shows {}{}", d->seq, accepted.front(), b,
                          line.empty() ? "" : " in \"" + line + "\""),
              seq);
        }
      }
      for (const auto& l : header_lines(d->message, "Bcc"))
        add("bcc-header-leak", m.id, accepted.front(),
            fmt::format("journal #{}: \"{}\"", d->seq, excerpt(l, "")), seq);
      if (norm(d->mail_from) != norm(m.envelope_from))
        add("sender-rewritten", m.id, "",
            fmt::format("journal #{}: MAIL FROM:<{}>, envelope was <{}>", d->seq, d->mail_from,
                        m.envelope_from),
            seq);
      if (crlf(split_message(d->message).second) != truth_body)
        add("message-altered", m.id, accepted.front(),
            fmt::format("journal #{}: body differs from what was sent", d->seq), seq);
    }
    // Loop: the message left the site (relayed out) and came back in again afterwards.
    std::int64_t first_relay = -1;
    for (const Delivery* d : per_msg[m.id]) {
      if (first_relay >= 0 && d->seq > static_cast<std::uint64_t>(first_relay)) {
        add("loop", m.id, "",
            fmt::format("journal #{} relayed it out, journal #{} received it again", first_relay,
                        d->seq),
            static_cast<std::int64_t>(d->seq));
        break;
      }
      if (d->relayed_out && first_relay < 0) first_relay = static_cast<std::int64_t>(d->seq);
    }
    // A copy of an identical group that reached nobody new is no loss: the same bytes did.
    const std::set<std::string>& group_got = group_reached[tag_of(m)];
    const std::set<std::string> blind = blind_mailboxes(m.envelope_to, visible_set, resolve);
    for (const auto& e : expected)
      if (!got.count(e) && !group_got.count(e)) {
        add("lost-recipient", m.id, e,
            blind.count(e) ? "no accepted delivery in the journal (a blind copy: not in To/Cc)"
                           : "no accepted delivery in the journal",
            -1);
        rep.findings.back().blind_copy = blind.count(e) > 0;
      }
    // The worst failure: the provider no longer has it and no local mailbox got it.
    if (stats.copies == 0 && group_got.empty())
      if (const Pop3SessionFact* del = deleting_session(truth, m.id))
        add("lost-message", m.id, "",
            fmt::format("POP3 session #{} deleted it (DELE, QUIT) and no local mailbox accepted "
                        "a copy",
                        del->id),
            -1);
    stats.recipient_latency_ms = recipient_latencies(m, first_to);
    judge_delayed(m, first_to, truth.latency_budget_ms, rep.findings);
    rep.messages.push_back(stats);
  }
  // Stall: a fetcher that systematically waits per message (Nagle + delayed ACK: ~40 ms at the
  // end of DATA) — judged on the median of at least kStallMinCopies small copies, so one slow
  // moment on a loaded machine is not a finding.
  if (data_phases.size() >= kStallMinCopies) {
    std::vector<std::pair<std::int64_t, std::uint64_t>> sorted = data_phases;
    std::sort(sorted.begin(), sorted.end());
    const auto median = sorted[sorted.size() / 2];
    if (median.first > kStallMs)
      add("stall", "", "",
          fmt::format("median DATA phase {} ms over {} copies (slowest {} ms, journal #{})",
                      median.first, sorted.size(), sorted.back().first, sorted.back().second),
          static_cast<std::int64_t>(median.second));
  }
  judge_provider_facts(truth, rep.findings);
  // Stuck queue: delivery stopped (or never started). In injection order, every message after
  // the last one that reached anybody (all of them when none did), injected at least one full
  // interval before the end, reached nobody.
  {
    std::vector<std::size_t> order(truth.messages.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return truth.messages[a].injected_ms < truth.messages[b].injected_ms;
    });
    std::ptrdiff_t last = -1;
    for (std::size_t k = 0; k < order.size(); ++k)
      if (rep.messages[order[k]].copies > 0 ||
          !group_reached[tag_of(truth.messages[order[k]])].empty())
        last = static_cast<std::ptrdiff_t>(k);
    std::vector<std::string> stuck;
    for (std::size_t k = static_cast<std::size_t>(last + 1); k < order.size(); ++k) {
      const TruthMessage& m = truth.messages[order[k]];
      const bool any_local = std::any_of(m.envelope_to.begin(), m.envelope_to.end(), is_local);
      if (any_local && m.injected_ms + truth.interval_ms < truth.end_ms) stuck.push_back(m.id);
    }
    if (!stuck.empty()) {
      std::string list;
      for (const auto& id : stuck) list += (list.empty() ? "" : ", ") + id;
      add("stuck-queue", stuck.front(), "",
          fmt::format("{} message(s) never delivered {}: {}", stuck.size(),
                      last >= 0 ? "after the last successful delivery" : "(nothing was delivered)",
                      list),
          -1);
    }
  }
  // Stable order: by type order, then message, then recipient.
  const auto& types = finding_types();
  auto rank = [&](const std::string& t) {
    return std::find(types.begin(), types.end(), t) - types.begin();
  };
  std::stable_sort(rep.findings.begin(), rep.findings.end(), [&](const Finding& a, const Finding& b) {
    if (rank(a.type) != rank(b.type)) return rank(a.type) < rank(b.type);
    if (a.message != b.message) return a.message < b.message;
    return a.recipient < b.recipient;
  });
  return rep;
}

base::Status save_truth(const std::string& path, const Truth& t) {
  nlohmann::json j;
  j["version"] = 1;
  j["scenario"] = t.scenario;
  j["local_domains"] = t.local_domains;
  j["users"] = t.users;
  j["aliases"] = t.aliases;
  j["fallback"] = t.fallback;
  j["login_delay_ms"] = t.login_delay_ms;
  j["end_ms"] = t.end_ms;
  j["interval_ms"] = t.interval_ms;
  j["latency_budget_ms"] = t.latency_budget_ms;
  j["pop3_sessions"] = nlohmann::json::array();
  for (const auto& p : t.pop3_sessions)
    j["pop3_sessions"].push_back({{"id", p.id},
                                  {"started_ms", p.started_ms},
                                  {"tls", p.tls},
                                  {"cleartext_while_stls", p.cleartext_while_stls},
                                  {"auth_result", p.auth_result},
                                  {"retrieved", p.retrieved},
                                  {"deleted", p.deleted},
                                  {"user", p.user},
                                  {"reported", p.reported}});
  j["messages"] = nlohmann::json::array();
  for (const auto& m : t.messages) {
    // Raw bytes need not be UTF-8, so they are stored base64-encoded.
    j["messages"].push_back({{"id", m.id},
                             {"envelope_from", m.envelope_from},
                             {"envelope_to", m.envelope_to},
                             {"injected_ms", m.injected_ms},
                             {"tag", m.tag},
                             {"raw_base64", encode_b64(m.raw)}});
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) return base::make_error("io", fmt::format("{}: cannot write", path));
  out << j.dump(1) << "\n";
  if (!out) return base::make_error("io", fmt::format("{}: write failed", path));
  return base::ok_status();
}

base::Result<Truth> load_truth(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("io", fmt::format("{}: cannot read", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    const auto j = nlohmann::json::parse(ss.str());
    if (j.value("version", 0) != 1)
      return base::make_error("bad-truth", fmt::format("{}: unsupported truth version", path));
    Truth t;
    t.scenario = j.at("scenario").get<std::string>();
    t.local_domains = j.at("local_domains").get<std::vector<std::string>>();
    t.users = j.at("users").get<std::vector<std::string>>();
    t.aliases = j.at("aliases").get<std::map<std::string, std::string>>();
    t.fallback = j.at("fallback").get<std::string>();
    t.login_delay_ms = j.value("login_delay_ms", std::int64_t{0});
    t.end_ms = j.value("end_ms", std::int64_t{0});
    t.interval_ms = j.value("interval_ms", std::int64_t{0});
    t.latency_budget_ms = j.value("latency_budget_ms", std::int64_t{0});
    if (j.contains("pop3_sessions"))
      for (const auto& p : j.at("pop3_sessions")) {
        Pop3SessionFact f;
        f.id = p.at("id").get<std::uint64_t>();
        f.started_ms = p.at("started_ms").get<std::int64_t>();
        f.tls = p.at("tls").get<bool>();
        f.cleartext_while_stls = p.at("cleartext_while_stls").get<bool>();
        f.auth_result = p.at("auth_result").get<std::string>();
        f.retrieved = p.at("retrieved").get<std::vector<std::string>>();
        f.deleted = p.value("deleted", std::vector<std::string>{});
        f.user = p.value("user", std::string());
        f.reported = p.value("reported", true);
        t.pop3_sessions.push_back(std::move(f));
      }
    for (const auto& m : j.at("messages")) {
      TruthMessage tm;
      tm.id = m.at("id").get<std::string>();
      tm.envelope_from = m.at("envelope_from").get<std::string>();
      tm.envelope_to = m.at("envelope_to").get<std::vector<std::string>>();
      tm.injected_ms = m.at("injected_ms").get<std::int64_t>();
      tm.tag = m.value("tag", std::string());
      tm.raw = decode_b64(m.at("raw_base64").get<std::string>());
      t.messages.push_back(std::move(tm));
    }
    return t;
  } catch (const nlohmann::json::exception& e) {
    return base::make_error("bad-truth", fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace dropcheck::analyzer

// infer(), the Received for clause: without an envelope header, does the provider's MX name
// the recipient in its own Received line?
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "infer_internal.hpp"

namespace dropcheck::probe::detail {

namespace {

// Hosts whose Received line names `rcpt` in its for clause in one of the copies.
std::set<std::string> hosts_naming(const TestCase &c, const std::string &rcpt) {
  std::set<std::string> out;
  for (const auto &copy : c.copies)
    for (const auto &l : copy.received)
      if (!l.by.empty() &&
          std::find(l.for_addrs.begin(), l.for_addrs.end(), rcpt) != l.for_addrs.end())
        out.insert(l.by);
  return out;
}

// The MX that names the recipient of every one-recipient test mail in its Received line's for
// clause ("" none): the provider's own line, whatever hops lie above or below it.
std::string received_for_host(const Report &r) {
  std::optional<std::set<std::string>> common;
  for (const auto &c : r.active->cases) {
    if (!sent(c) || c.copies.empty() || c.rcpts.size() != 1) continue;
    const auto hosts = hosts_naming(c, c.rcpts.front());
    if (!common) {
      common = hosts;
      continue;
    }
    std::set<std::string> both;
    for (const auto &h : hosts)
      if (common->count(h)) both.insert(h);
    common = both;
  }
  return common && !common->empty() ? *common->begin() : "";
}

// Copies of several-recipient test mails whose provider line has no for clause.
std::vector<std::string> for_absent_cases(const Report &r, std::string_view host) {
  std::vector<std::string> out;
  for (const auto &c : r.active->cases) {
    if (!sent(c) || c.rcpts.size() < 2) continue;
    for (const auto &copy : c.copies)
      if (const ReceivedLine *l = line_by(copy, host); l && !l->has_for) {
        out.push_back(c.id);
        break;
      }
  }
  return out;
}

// An internal hop above the MX's line in every copy (the same host each time), or "".
std::string inner_hop(const std::vector<const MessageObservation *> &all, std::string_view host) {
  std::string inner;
  for (const auto *m : all) {
    if (!line_by(*m, host)) continue;
    const std::string top = m->received.front().by;
    if (top == host || (!inner.empty() && top != inner)) return "";
    inner = top;
  }
  return inner;
}

}  // namespace

bool sent(const TestCase &c) { return c.smtp_code >= 200 && c.smtp_code < 300; }

// The line `host` wrote in one copy (the topmost by it), or nullptr.
const ReceivedLine *line_by(const MessageObservation &m, std::string_view host) {
  for (const auto &l : m.received)
    if (l.by == host) return &l;
  return nullptr;
}

// No envelope header: does the provider's MX name the recipient in its Received line?
void infer_received_for(Report &r, const std::vector<const MessageObservation *> &all) {
  InferredProfile &p = r.profile;
  if (!r.active || !p.envelope_header.empty()) return;
  const std::string host = received_for_host(r);
  if (host.empty()) return;
  p.received_by = host;
  p.received_inner_by = inner_hop(all, host);
  p.observed.insert(p.observed.end(), {"stamp.received_by", "stamp.received_inner_by"});
  const auto absent = for_absent_cases(r, host);
  std::string answer = "received-for: the Received line by " + host +
                       " names the recipient (for <rcpt>) of a mail to one recipient";
  if (!absent.empty() || !p.copy_per_recipient)
    answer += "; absent for several (" + join(absent) +
              "): one stored copy serves them, so blind-copy recipients of a mail to several "
              "local recipients are lost (it goes to the fallback mailbox)";
  else
    answer += "; one copy per recipient, each naming its own: BCC recoverable";
  add(r, "received-for",
      "Does the provider's MX name the recipient in its own Received line (for clause)?",
      absent.empty() && p.copy_per_recipient ? Verdict::info : Verdict::warn, answer,
      "route with {header: Received, by: " + host +
          "} (fetchmail: its default envelope, with aka " + host + ")" +
          (p.received_inner_by.empty()
               ? ""
               : "; the line above it is by " + p.received_inner_by + ", not the MX's"));
}

// Without test mails: the host whose Received line carries a for clause in (nearly) every
// message, or "".
std::string passive_received_host(const std::vector<const MessageObservation *> &all) {
  std::map<std::string, std::size_t> with_for;
  for (const auto *m : all) {
    std::set<std::string> hosts;
    for (const auto &l : m->received)
      if (l.has_for && !l.by.empty()) hosts.insert(l.by);
    for (const auto &h : hosts) ++with_for[h];
  }
  std::string best;
  for (const auto &[h, n] : with_for)
    if (static_cast<double>(n) >= kStampCoverage * static_cast<double>(all.size()) &&
        (best.empty() || n > with_for[best]))
      best = h;
  return best;
}

}  // namespace dropcheck::probe::detail

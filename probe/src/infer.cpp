// From facts to answers: which header carries the envelope, how copies are
// stored, what the POP3 service enforces -- and the fake-pop3 profile that
// reproduces it. Pure.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "base/strings.hpp"
#include "mail/address.hpp"
#include "mail/envelope.hpp"
#include "probe/probe.hpp"
#include "protocol/pop3_capa.hpp"

namespace dropcheck::probe {

namespace {

// A header present in at least this share of the messages is the provider's
// stamp, not a stray line of some messages (forwarding chains, list software).
constexpr double kStampCoverage = 0.8;

struct HeaderStats {
  std::string name; // first spelling seen
  std::size_t messages_with = 0;
  std::size_t messages_with_several = 0; // more than one line in one message
  std::size_t multi_address_values = 0;  // one line naming several addresses
  std::size_t qmail_prefixed = 0;
  std::set<std::string> top_values; // value of the top line per message
};

std::vector<std::string> field_values(const MessageObservation &m,
                                      std::string_view name) {
  std::vector<std::string> out;
  for (const auto &f : m.envelope_fields)
    if (base::iequals(f.name, name))
      out.push_back(f.value);
  return out;
}

// Addresses the header names in one message. Delivered-To: only the top line
// (the lines below it come from forwarding hops, not from this provider).
std::set<std::string> named_by(const MessageObservation &m,
                               std::string_view name) {
  std::set<std::string> out;
  auto values = field_values(m, name);
  if (base::iequals(name, "Delivered-To") && values.size() > 1)
    values.resize(1);
  for (const auto &v : values)
    for (const auto &a : addresses_in(v))
      out.insert(strip_qmail_prefix(a));
  return out;
}

// Rank for choosing among headers that cover the messages: the known envelope
// headers in their usual order, then look-alikes, Delivered-To last (it often
// names the mailbox).
int rank(std::string_view name) {
  if (base::iequals(name, "Delivered-To"))
    return 100;
  for (std::size_t i = 0; i < mail::kEnvelopeHeaders.size(); ++i)
    if (base::iequals(mail::kEnvelopeHeaders[i], name))
      return static_cast<int>(i);
  return 50;
}

void add(Report &r, std::string id, std::string question, Verdict v,
         std::string answer, std::string evidence = {}) {
  r.answers.push_back({std::move(id), std::move(question), v, std::move(answer),
                       std::move(evidence)});
}

std::string join(const std::vector<std::string> &v,
                 std::string_view sep = ", ") {
  std::string out;
  for (const auto &s : v)
    out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

bool sent(const TestCase &c) { return c.smtp_code >= 200 && c.smtp_code < 300; }

const TestCase *find_case(const Report &r, std::string_view id) {
  if (!r.active)
    return nullptr;
  for (const auto &c : r.active->cases)
    if (c.id == id && sent(c))
      return &c;
  return nullptr;
}

// The line `host` wrote in one copy (the topmost by it), or nullptr.
const ReceivedLine *line_by(const MessageObservation &m, std::string_view host) {
  for (const auto &l : m.received)
    if (l.by == host)
      return &l;
  return nullptr;
}

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
    if (!sent(c) || c.copies.empty() || c.rcpts.size() != 1)
      continue;
    const auto hosts = hosts_naming(c, c.rcpts.front());
    if (!common) {
      common = hosts;
      continue;
    }
    std::set<std::string> both;
    for (const auto &h : hosts)
      if (common->count(h))
        both.insert(h);
    common = both;
  }
  return common && !common->empty() ? *common->begin() : "";
}

// Copies of several-recipient test mails whose provider line has no for clause.
std::vector<std::string> for_absent_cases(const Report &r, std::string_view host) {
  std::vector<std::string> out;
  for (const auto &c : r.active->cases) {
    if (!sent(c) || c.rcpts.size() < 2)
      continue;
    for (const auto &copy : c.copies)
      if (const ReceivedLine *l = line_by(copy, host); l && !l->has_for) {
        out.push_back(c.id);
        break;
      }
  }
  return out;
}

// An internal hop above the MX's line in every copy (the same host each time), or "".
std::string inner_hop(const std::vector<const MessageObservation *> &all,
                      std::string_view host) {
  std::string inner;
  for (const auto *m : all) {
    if (!line_by(*m, host))
      continue;
    const std::string top = m->received.front().by;
    if (top == host || (!inner.empty() && top != inner))
      return "";
    inner = top;
  }
  return inner;
}

// No envelope header: does the provider's MX name the recipient in its Received line?
void infer_received_for(Report &r, const std::vector<const MessageObservation *> &all) {
  InferredProfile &p = r.profile;
  if (!r.active || !p.envelope_header.empty())
    return;
  const std::string host = received_for_host(r);
  if (host.empty())
    return;
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
      if (l.has_for && !l.by.empty())
        hosts.insert(l.by);
    for (const auto &h : hosts)
      ++with_for[h];
  }
  std::string best;
  for (const auto &[h, n] : with_for)
    if (static_cast<double>(n) >= kStampCoverage * static_cast<double>(all.size()) &&
        (best.empty() || n > with_for[best]))
      best = h;
  return best;
}

// The recipients a copy names: in `header`, or else in the for clause of `mx`'s line.
std::set<std::string> named_in(const MessageObservation &m, const std::string &header,
                               std::string_view mx) {
  if (!header.empty() || mx.empty())
    return named_by(m, header);
  const ReceivedLine *l = line_by(m, mx);
  return l ? std::set<std::string>(l->for_addrs.begin(), l->for_addrs.end())
           : std::set<std::string>{};
}

// Whether a BCC recipient is named where the advice reads: an envelope header or the MX's for.
bool names_bcc(const MessageObservation &copy, const std::string &b, std::string_view mx) {
  for (const auto &fl : copy.envelope_fields)
    for (const auto &a : addresses_in(fl.value))
      if (strip_qmail_prefix(a) == b)
        return true;
  const ReceivedLine *l = mx.empty() ? nullptr : line_by(copy, mx);
  return l && std::find(l->for_addrs.begin(), l->for_addrs.end(), b) != l->for_addrs.end();
}

} // namespace

void infer(Report &r) {
  r.answers.clear();
  InferredProfile &p = r.profile;
  p = InferredProfile{};
  const Pop3Facts &f = r.pop3;
  p.name = "observed";
  p.description =
      fmt::format("Inferred by dropcheck probe ({} mode) from {} on {}.",
                  r.mode, r.target, r.started_at);

  // ---------------------------------------------------------------- POP3
  // service
  const bool logged_in = f.login.result == LoginResult::ok;
  if (!f.connected) {
    add(r, "connect", "Can the POP3 service be reached?", Verdict::fail,
        r.error);
  }
  if (f.cert_valid.has_value()) {
    add(r, "certificate",
        "Does the server certificate verify (chain and host name)?",
        *f.cert_valid ? Verdict::pass : Verdict::fail,
        *f.cert_valid
            ? "yes"
            : "no" + std::string(r.insecure ? " (continued: --insecure)" : ""),
        f.cert_error);
  }
  if (f.connected) {
    if (f.tls) {
      add(r, "tls", "Is the session protected by TLS?", Verdict::pass,
          f.implicit_tls ? "yes, implicit TLS (POP3S)"
                         : "yes, STLS (RFC 2595)");
    } else if (f.stls_offered) {
      add(r, "tls", "Is the session protected by TLS?", Verdict::fail,
          "STLS offered but the TLS handshake failed", r.error);
    } else {
      add(r, "tls", "Is the session protected by TLS?", Verdict::fail,
          f.apop_offered ? "no TLS offered; APOP hides only the password"
                         : "no TLS offered: the password travels in clear");
    }
    std::vector<std::string> mechs;
    if (f.user_offered)
      mechs.emplace_back("USER/PASS");
    if (f.apop_offered)
      mechs.emplace_back("APOP");
    for (const auto &m : f.sasl)
      mechs.push_back("SASL " + m);
    add(r, "authentication", "Which login mechanisms are offered?",
        Verdict::info, mechs.empty() ? "none announced" : join(mechs),
        f.login.mechanism.empty() ? "" : "used: " + f.login.mechanism);
    add(r, "capabilities", "What does CAPA announce (RFC 2449)?", Verdict::info,
        f.capa_supported ? join(f.capa, "; ") : "CAPA not supported",
        f.capa_after_login.empty()
            ? ""
            : "after login: " + join(f.capa_after_login, "; "));
  }
  if (f.connected && !logged_in) {
    add(r, "login", "Does the login succeed?", Verdict::fail,
        std::string(to_string(f.login.result)), f.login.text);
  }
  p.apop = f.apop_offered;
  if (f.capa_supported) {
    p.user_pass = f.user_offered;
    p.sasl_plain =
        std::find(f.sasl.begin(), f.sasl.end(), "PLAIN") != f.sasl.end();
    p.resp_codes = f.resp_codes;
    p.pipelining = f.pipelining;
    p.expire = f.expire;
    p.observed.insert(p.observed.end(),
                      {"pop3.user_pass", "pop3.sasl_plain", "pop3.resp_codes",
                       "pop3.pipelining", "pop3.expire"});
  }
  p.observed.emplace_back("pop3.apop");
  if (!f.implicit_tls && f.connected) {
    p.stls = f.stls_offered;
    p.observed.emplace_back("pop3.stls");
  }
  if (f.stls_used && !f.capa_before_tls.empty()) {
    // RFC 2595 4: a server that refuses plaintext logins does not announce USER
    // before TLS.
    const protocol::Pop3Capabilities before{f.capa_before_tls};
    const auto sasl = before.sasl_mechanisms();
    p.plaintext_without_tls =
        before.has("USER") ||
        std::find(sasl.begin(), sasl.end(), "PLAIN") != sasl.end();
    p.observed.emplace_back("pop3.plaintext_without_tls");
  }
  if (!f.expire.empty()) {
    add(r, "expire", "Does the provider expire retrieved mail (CAPA EXPIRE)?",
        f.expire == "0" ? Verdict::warn : Verdict::info, f.expire,
        f.expire == "0" ? "EXPIRE 0: mail is removed once retrieved; a fetcher "
                          "cannot keep it"
                        : "");
  }

  // Locking: a second session while the first held the maildrop.
  switch (f.concurrent.result) {
  case LoginResult::in_use:
    p.locking = "exclusive";
    p.observed.emplace_back("pop3.locking");
    add(r, "locking",
        "Is the maildrop locked against a second concurrent session?",
        Verdict::pass, "yes: the second session got -ERR [IN-USE]",
        f.concurrent.text);
    break;
  case LoginResult::ok:
    p.locking = "none";
    p.observed.emplace_back("pop3.locking");
    add(r, "locking",
        "Is the maildrop locked against a second concurrent session?",
        Verdict::warn,
        "no: two sessions see the same mail; overlapping fetch cycles deliver "
        "duplicates "
        "unless the fetcher locks its own cycles");
    break;
  case LoginResult::not_tried:
    if (logged_in)
      add(r, "locking",
          "Is the maildrop locked against a second concurrent session?",
          Verdict::unknown, "not tested");
    break;
  default:
    add(r, "locking",
        "Is the maildrop locked against a second concurrent session?",
        Verdict::unknown,
        fmt::format("the second session was refused for another reason ({})",
                    to_string(f.concurrent.result)),
        f.concurrent.text);
  }

  // Login delay: advertised (RFC 2449 LOGIN-DELAY) and/or enforced on an
  // immediate re-login.
  const std::int64_t advertised = f.login_delay_advertised.value_or(0);
  const bool enforced = f.second_login.result == LoginResult::login_delay ||
                        (f.second_login.result == LoginResult::not_tried &&
                         f.concurrent.result == LoginResult::login_delay);
  if (f.second_login.result == LoginResult::ok) {
    p.login_delay_s = 0;
    p.observed.emplace_back("pop3.login_delay_s");
    add(r, "login-delay", "Is a minimum time between logins enforced?",
        advertised > 0 ? Verdict::info : Verdict::pass,
        advertised > 0
            ? fmt::format("advertised LOGIN-DELAY {} but an immediate re-login "
                          "succeeded",
                          advertised)
            : "no: an immediate second login succeeded");
  } else if (enforced) {
    p.login_delay_s = advertised > 0 ? advertised : 900;
    p.advertise_login_delay = advertised > 0;
    p.observed.emplace_back("pop3.login_delay_s");
    p.observed.emplace_back("pop3.advertise_login_delay");
    add(r, "login-delay", "Is a minimum time between logins enforced?",
        Verdict::warn,
        advertised > 0
            ? fmt::format("yes: LOGIN-DELAY {} s, enforced (-ERR "
                          "[LOGIN-DELAY]); poll no "
                          "more often",
                          advertised)
            : "yes, enforced but not announced in CAPA (profile assumes 900 s)",
        f.second_login.text);
  } else if (logged_in) {
    add(r, "login-delay", "Is a minimum time between logins enforced?",
        Verdict::unknown,
        fmt::format("second login: {}", to_string(f.second_login.result)),
        f.second_login.text);
  }

  // ---------------------------------------------------------------- stored
  // copies
  std::vector<const MessageObservation *> all;
  for (const auto &m : r.messages)
    all.push_back(&m);
  if (r.active)
    for (const auto &c : r.active->cases)
      for (const auto &m : c.copies)
        all.push_back(&m);

  std::map<std::string, HeaderStats> stats; // lower-case name
  for (const auto *m : all) {
    std::map<std::string, std::size_t> lines;
    for (const auto &fl : m->envelope_fields) {
      const std::string key = base::to_lower(fl.name);
      auto &s = stats[key];
      if (s.name.empty())
        s.name = fl.name;
      if (lines[key]++ == 0)
        s.top_values.insert(base::to_lower(fl.value));
      const auto addrs = addresses_in(fl.value);
      if (addrs.size() > 1)
        ++s.multi_address_values;
      for (const auto &a : addrs)
        if (has_qmail_prefix(a))
          ++s.qmail_prefixed;
    }
    for (const auto &[key, n] : lines) {
      ++stats[key].messages_with;
      if (n > 1)
        ++stats[key].messages_with_several;
    }
  }
  const std::size_t n = all.size();

  // Which header: with test mails, the one that names every envelope recipient;
  // else the best-ranked header present in (nearly) every message.
  std::string header;
  std::string header_basis;
  std::vector<std::string> mapping; // active: "rcpt: headers naming it"
  if (r.active) {
    std::map<std::string, std::size_t>
        hits; // lower-case header -> recipients named
    std::size_t total = 0;
    for (const auto &c : r.active->cases) {
      if (!sent(c) || c.copies.empty())
        continue;
      for (const auto &rcpt : c.rcpts) {
        ++total;
        std::vector<std::string> carriers;
        for (const auto &[key, s] : stats) {
          bool found = false;
          for (const auto &copy : c.copies)
            found = found || named_by(copy, s.name).count(rcpt);
          if (found) {
            ++hits[key];
            carriers.push_back(s.name);
          }
        }
        const bool bcc =
            std::find(c.bcc.begin(), c.bcc.end(), rcpt) != c.bcc.end();
        mapping.push_back(
            fmt::format("{} ({}{}): {}", rcpt, c.id, bcc ? ", bcc" : "",
                        carriers.empty() ? "no header" : join(carriers)));
      }
    }
    for (const auto &[key, count] : hits) {
      if (count != total || total == 0)
        continue;
      if (header.empty() || rank(stats[key].name) < rank(header))
        header = stats[key].name;
    }
    if (!header.empty())
      header_basis = fmt::format(
          "names all {} envelope recipients of the test mails", total);
    else if (total > 0)
      header_basis =
          fmt::format("no header names all {} envelope recipients", total);
  }
  if (header.empty() && (!r.active || header_basis.empty()) && n > 0) {
    for (const auto &[key, s] : stats) {
      const double share =
          static_cast<double>(s.messages_with) / static_cast<double>(n);
      if (share < kStampCoverage)
        continue;
      if (header.empty() || rank(s.name) < rank(header))
        header = s.name;
    }
    if (!header.empty())
      header_basis =
          fmt::format("present in {} of {} messages",
                      stats[base::to_lower(header)].messages_with, n);
  }
  const bool header_is_dt = base::iequals(header, "Delivered-To");
  p.envelope_header = header;
  if (n > 0 || r.active)
    p.observed.emplace_back("stamp.envelope_header");

  if (n == 0 && !r.active) {
    add(r, "envelope-header", "Which header carries the envelope recipients?",
        Verdict::unknown,
        logged_in
            ? "the mailbox is empty: nothing to examine (try --send-tests)"
            : "not examined");
  } else if (header.empty()) {
    add(r, "envelope-header", "Which header carries the envelope recipients?",
        Verdict::fail,
        "none: the provider keeps no envelope; BCC recipients cannot be "
        "recovered and the "
        "fetcher could only guess from To/Cc",
        header_basis);
  } else {
    add(r, "envelope-header", "Which header carries the envelope recipients?",
        Verdict::pass, header, header_basis);
  }
  if (!mapping.empty())
    add(r, "recipient-mapping", "Which header carries each envelope recipient?",
        Verdict::info, header.empty() ? "none carries all" : header,
        join(mapping, "; "));

  // Other look-alike headers: a fetcher configured for one of these would route
  // wrongly.
  std::vector<std::string> others;
  for (const auto &[key, s] : stats)
    if (!base::iequals(s.name, header))
      others.push_back(
          fmt::format("{} ({}/{} messages)", s.name, s.messages_with, n));
  if (!others.empty())
    add(r, "other-headers", "Which other envelope-style headers appear?",
        Verdict::info, join(others));

  // Copies: one per recipient or one for all.
  std::optional<bool> per_rcpt;
  std::string copies_basis;
  if (const TestCase *multi = find_case(r, "multi-local");
      multi && !multi->copies.empty()) {
    per_rcpt = multi->copies.size() >= multi->rcpts.size();
    copies_basis =
        fmt::format("the test mail to {} recipients was stored {} time(s)",
                    multi->rcpts.size(), multi->copies.size());
  } else if (n > 0) {
    std::map<std::string, std::vector<const MessageObservation *>> by_id;
    for (const auto *m : all)
      if (!m->message_id.empty())
        by_id[m->message_id].push_back(m);
    std::size_t split = 0, joint = 0, multi_addressed = 0;
    const std::string mx = header.empty() ? passive_received_host(all) : "";
    for (const auto &[id, ms] : by_id) {
      if (ms.size() < 2 || (header.empty() && mx.empty()))
        continue;
      std::set<std::set<std::string>> sets;
      for (const auto *m : ms)
        sets.insert(named_in(*m, header, mx));
      if (sets.size() > 1)
        ++split;
    }
    for (const auto *m : all) {
      if (!header.empty() && named_by(*m, header).size() > 1)
        ++joint;
      if (m->header_addresses > 1)
        ++multi_addressed;
    }
    if (split > 0 && joint == 0) {
      per_rcpt = true;
      copies_basis = fmt::format(
          "{} message(s) stored several times, each copy naming other "
          "recipients",
          split);
    } else if (joint > 0 && split == 0) {
      per_rcpt = false;
      copies_basis = fmt::format(
          "{} stored copy(ies) name several envelope recipients", joint);
    } else if (split == 0 && joint == 0 && header.empty() &&
               multi_addressed > 0 && by_id.size() == all.size()) {
      per_rcpt = false;
      copies_basis = "likely: mail to several recipients was stored once (no "
                     "envelope header "
                     "to confirm)";
    } else if (split > 0 && joint > 0) {
      copies_basis = "conflicting evidence";
    }
  }
  p.copy_per_recipient = per_rcpt.value_or(false);
  if (per_rcpt)
    p.observed.emplace_back("stamp.copy_per_recipient");
  add(r, "copies", "One stored copy per envelope recipient, or one for all?",
      per_rcpt ? Verdict::info : Verdict::unknown,
      per_rcpt ? (*per_rcpt ? "one copy per recipient"
                            : "one copy for all recipients")
               : "not determined (needs mail to several recipients; try "
                 "--send-tests)",
      copies_basis);

  infer_received_for(r, all);

  // Style of several recipients in one copy.
  if (!header.empty() && !header_is_dt) {
    const auto &s = stats[base::to_lower(header)];
    std::string style;
    if (s.multi_address_values > 0)
      style = "list";
    else if (s.messages_with_several > 0)
      style = "per-line";
    if (!style.empty()) {
      p.envelope_style = style;
      p.observed.emplace_back("stamp.envelope_style");
    }
    add(r, "envelope-style",
        "How are several recipients written into one copy?",
        style.empty() ? Verdict::unknown : Verdict::info,
        style == "list"       ? "list: one line naming all recipients"
        : style == "per-line" ? "per-line: one line per recipient"
                              : "not seen (every copy names one recipient)");
    if (!p.copy_per_recipient && !style.empty())
      add(r, "header-leak",
          "Does the stored copy reveal all recipients (BCC leak)?",
          Verdict::warn,
          "yes: one copy names every envelope recipient; the fetcher must "
          "remove " +
              header + " before delivery or every recipient sees the BCC list");
  }

  // qmail prefix and Delivered-To.
  if (!header.empty()) {
    const auto &s = stats[base::to_lower(header)];
    p.qmail_prefix = header_is_dt && s.qmail_prefixed > 0;
    p.observed.emplace_back("stamp.qmail_prefix");
    add(r, "qmail-prefix",
        "Do envelope addresses carry a qmail virtual-domain prefix?",
        s.qmail_prefixed > 0 ? Verdict::warn : Verdict::pass,
        s.qmail_prefixed > 0
            ? "yes (domain-user@domain): strip it (fetchmail qvirtual)"
            : "no");
    if (header_is_dt) {
      p.envelope_occurrence = 1;
      add(r, "delivered-to", "Which Delivered-To line is the provider's?",
          Verdict::info,
          s.messages_with_several > 0
              ? fmt::format("the top one; {} message(s) carry several "
                            "(forwarding chains)",
                            s.messages_with_several)
              : "the top one");
    }
  }
  if (!header_is_dt) {
    const auto it = stats.find("delivered-to");
    if (it != stats.end() && n > 0 &&
        static_cast<double>(it->second.messages_with) /
                static_cast<double>(n) >=
            kStampCoverage) {
      // Delivered-To on every copy: the mailbox (one value) or the recipient
      // (varies with it).
      bool same_as_rcpt = !header.empty();
      for (const auto *m : all) {
        const auto dt = named_by(*m, "Delivered-To");
        if (!header.empty() && dt != named_by(*m, header))
          same_as_rcpt = false;
      }
      if (same_as_rcpt) {
        p.delivered_to = "recipient";
      } else if (it->second.top_values.size() == 1) {
        p.delivered_to = "mailbox";
        const auto addrs = addresses_in(*it->second.top_values.begin());
        p.mailbox_address =
            addrs.empty() ? *it->second.top_values.begin() : addrs.front();
      }
      if (p.delivered_to != "none") {
        p.observed.emplace_back("stamp.delivered_to");
        add(r, "delivered-to", "What does Delivered-To name?", Verdict::info,
            p.delivered_to == "mailbox"
                ? "the catch-all mailbox (" + p.mailbox_address +
                      "), not the recipient: do "
                      "not use it as the envelope header"
                : "the envelope recipient (same as " + header + ")");
      }
    }
  }

  // Return-Path.
  std::size_t with_rp = 0, null_rp = 0, several_rp = 0;
  for (const auto *m : all) {
    if (m->has_return_path)
      ++with_rp;
    if (m->has_return_path && base::trim(m->return_path) == "<>")
      ++null_rp;
    if (m->return_paths > 1)
      ++several_rp;
  }
  if (n > 0) {
    p.return_path =
        static_cast<double>(with_rp) / static_cast<double>(n) >= kStampCoverage;
    p.observed.emplace_back("stamp.return_path");
    add(r, "return-path", "Is the envelope sender kept (Return-Path)?",
        p.return_path ? Verdict::pass : Verdict::warn,
        fmt::format(
            "Return-Path in {} of {} messages, <> in {}{}", with_rp, n, null_rp,
            several_rp ? fmt::format(", several in {}", several_rp) : ""));
  }

  // ---------------------------------------------------------------- active
  // questions
  if (r.active) {
    const ActiveResult &ar = *r.active;
    std::vector<std::string> lost;
    for (const auto &c : ar.cases) {
      if (!sent(c))
        lost.push_back(fmt::format("{}: not accepted by the MX ({} {})", c.id,
                                   c.smtp_code, c.smtp_text));
      else if (c.copies.empty())
        lost.push_back(c.id + ": not found in the mailbox");
    }
    if (!ar.error.empty())
      lost.push_back(ar.error);
    add(r, "test-delivery", "Did every test mail arrive in the mailbox?",
        lost.empty() ? Verdict::pass : Verdict::warn,
        lost.empty() ? fmt::format("yes, after {} poll(s)", ar.polls)
                     : join(lost, "; "),
        "tag " + ar.tag);

    // BCC: is the blind recipient named anywhere a fetcher can read it?
    std::vector<std::string> bcc_ok, bcc_lost;
    for (const auto &c : ar.cases) {
      if (!sent(c) || c.copies.empty())
        continue;
      for (const auto &b : c.bcc) {
        bool named = false;
        for (const auto &copy : c.copies)
          named = named || names_bcc(copy, b, p.received_by);
        (named ? bcc_ok : bcc_lost).push_back(c.id);
      }
    }
    if (bcc_ok.empty() && bcc_lost.empty()) {
      add(r, "bcc-recoverable", "Can BCC recipients be recovered?",
          Verdict::unknown, "no BCC test mail was found");
    } else {
      add(r, "bcc-recoverable", "Can BCC recipients be recovered?",
          bcc_lost.empty() ? Verdict::pass : Verdict::fail,
          bcc_lost.empty()
              ? "yes: every BCC recipient is named in " +
                    (header.empty() ? "the Received line by " + p.received_by : header)
              : "no: BCC recipients are lost (" + join(bcc_lost) + ")");
    }
    if (const TestCase *cc = find_case(r, "cc-foreign");
        cc && !cc->copies.empty()) {
      bool foreign_named = false;
      for (const auto &copy : cc->copies)
        if (!header.empty())
          for (const auto &a : named_by(copy, header))
            foreign_named = foreign_named ||
                            std::find(cc->rcpts.begin(), cc->rcpts.end(), a) ==
                                cc->rcpts.end();
      add(r, "foreign-cc",
          "Does the envelope header name only envelope recipients (not a "
          "foreign Cc)?",
          header.empty() ? Verdict::unknown
                         : (foreign_named ? Verdict::fail : Verdict::pass),
          header.empty() ? "no envelope header"
          : foreign_named
              ? "no: it names addresses that were not envelope recipients"
              : "yes: the foreign Cc is only in the Cc: header (the fetcher "
                "must "
                "not route by Cc)");
    }
    if (const TestCase *dsn = find_case(r, "null-sender");
        dsn && !dsn->copies.empty()) {
      const auto &copy = dsn->copies.front();
      const std::string rp(base::trim(copy.return_path));
      add(r, "null-sender", "Is the null sender (MAIL FROM:<>) preserved?",
          !copy.has_return_path ? Verdict::warn
                                : (rp == "<>" ? Verdict::pass : Verdict::fail),
          !copy.has_return_path
              ? "no Return-Path: the fetcher cannot tell a receipt from mail"
          : rp == "<>" ? "yes: Return-Path: <>"
                       : "no: rewritten to " + rp);
    }
    if (r.active->deleted > 0 || r.mode == "active")
      add(r, "cleanup", "Were the test mails removed?", Verdict::info,
          fmt::format("{} tagged copy(ies) deleted", ar.deleted));
  } else if (n > 0) {
    add(r, "bcc-recoverable", "Can BCC recipients be recovered?",
        header.empty() ? Verdict::fail : Verdict::info,
        header.empty()
            ? "no envelope header: BCC recipients are lost"
            : "likely, through " + header + " (confirm with --send-tests)");
  }

  // Local domains for the fetcher settings.
  if (!r.domain.empty()) {
    p.local_domains = {r.domain};
  } else if (!header.empty()) {
    std::map<std::string, std::size_t> domains;
    for (const auto *m : all)
      for (const auto &a : named_by(*m, header))
        ++domains[mail::domain_of(a)];
    std::vector<std::pair<std::size_t, std::string>> ranked;
    for (const auto &[d, c] : domains)
      if (!d.empty())
        ranked.emplace_back(c, d);
    std::sort(ranked.rbegin(), ranked.rend());
    for (std::size_t i = 0; i < ranked.size() && i < 3; ++i)
      p.local_domains.push_back(ranked[i].second);
  }
  if (!r.error.empty())
    add(r, "completed", "Did the probe run through?", Verdict::fail, r.error);
}

int exit_status(const Report &r) {
  if (!r.error.empty())
    return 1;
  for (const auto &a : r.answers)
    if (a.verdict == Verdict::fail)
      return 1;
  return 0;
}

} // namespace dropcheck::probe

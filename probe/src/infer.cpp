// From facts to answers: which header carries the envelope, how copies are
// stored, what the POP3 service enforces -- and the fake-pop3 profile that
// reproduces it. Pure. The POP3 service is answered in infer_service.cpp, the
// Received for clause in infer_received.cpp; the stored copies here.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "base/strings.hpp"
#include "infer_internal.hpp"
#include "mail/address.hpp"
#include "mail/envelope.hpp"
#include "probe/probe.hpp"

namespace dropcheck::probe {

namespace {

using detail::add;
using detail::find_case;
using detail::join;
using detail::kStampCoverage;
using detail::line_by;
using detail::named_by;
using detail::passive_received_host;
using detail::sent;

struct HeaderStats {
  std::string name;  // first spelling seen
  std::size_t messages_with = 0;
  std::size_t messages_with_several = 0;  // more than one line in one message
  std::size_t multi_address_values = 0;   // one line naming several addresses
  std::size_t qmail_prefixed = 0;
  std::set<std::string> top_values;  // value of the top line per message
};

// Rank for choosing among headers that cover the messages: the known envelope
// headers in their usual order, then look-alikes, Delivered-To last (it often
// names the mailbox).
int rank(std::string_view name) {
  if (base::iequals(name, "Delivered-To")) return 100;
  for (std::size_t i = 0; i < mail::kEnvelopeHeaders.size(); ++i)
    if (base::iequals(mail::kEnvelopeHeaders[i], name)) return static_cast<int>(i);
  return 50;
}

// The recipients a copy names: in `header`, or else in the for clause of `mx`'s line.
std::set<std::string> named_in(const MessageObservation &m, const std::string &header,
                               std::string_view mx) {
  if (!header.empty() || mx.empty()) return named_by(m, header);
  const ReceivedLine *l = line_by(m, mx);
  return l ? std::set<std::string>(l->for_addrs.begin(), l->for_addrs.end())
           : std::set<std::string>{};
}

using Stats = std::map<std::string, HeaderStats>;  // lower-case name

// The stored copies (read from the mailbox and, actively, the test mails'), their
// envelope-style headers, and the header chosen as the envelope's ("" none).
struct Stored {
  std::vector<const MessageObservation *> all;
  Stats stats;
  std::string header;
};

std::vector<const MessageObservation *> observations(const Report &r) {
  std::vector<const MessageObservation *> all;
  for (const auto &m : r.messages) all.push_back(&m);
  if (r.active)
    for (const auto &c : r.active->cases)
      for (const auto &m : c.copies) all.push_back(&m);
  return all;
}

Stats header_stats(const std::vector<const MessageObservation *> &all) {
  std::map<std::string, HeaderStats> stats;  // lower-case name
  for (const auto *m : all) {
    std::map<std::string, std::size_t> lines;
    for (const auto &fl : m->envelope_fields) {
      const std::string key = base::to_lower(fl.name);
      auto &s = stats[key];
      if (s.name.empty()) s.name = fl.name;
      if (lines[key]++ == 0) s.top_values.insert(base::to_lower(fl.value));
      const auto addrs = addresses_in(fl.value);
      if (addrs.size() > 1) ++s.multi_address_values;
      for (const auto &a : addrs)
        if (has_qmail_prefix(a)) ++s.qmail_prefixed;
    }
    for (const auto &[key, n] : lines) {
      ++stats[key].messages_with;
      if (n > 1) ++stats[key].messages_with_several;
    }
  }
  return stats;
}

// Which header: with test mails, the one that names every envelope recipient;
// else the best-ranked header present in (nearly) every message.
struct HeaderChoice {
  std::string header;
  std::string basis;
  std::vector<std::string> mapping;  // active: "rcpt: headers naming it"
};

void choose_by_test_mails(const Report &r, Stats &stats, HeaderChoice &h) {
  std::string &header = h.header;
  std::string &header_basis = h.basis;
  std::vector<std::string> &mapping = h.mapping;
  std::map<std::string, std::size_t> hits;  // lower-case header -> recipients named
  std::size_t total = 0;
  for (const auto &c : r.active->cases) {
    if (!sent(c) || c.copies.empty()) continue;
    for (const auto &rcpt : c.rcpts) {
      ++total;
      std::vector<std::string> carriers;
      for (const auto &[key, s] : stats) {
        bool found = false;
        for (const auto &copy : c.copies) found = found || named_by(copy, s.name).count(rcpt);
        if (found) {
          ++hits[key];
          carriers.push_back(s.name);
        }
      }
      const bool bcc = std::find(c.bcc.begin(), c.bcc.end(), rcpt) != c.bcc.end();
      mapping.push_back(fmt::format("{} ({}{}): {}", rcpt, c.id, bcc ? ", bcc" : "",
                                    carriers.empty() ? "no header" : join(carriers)));
    }
  }
  for (const auto &[key, count] : hits) {
    if (count != total || total == 0) continue;
    if (header.empty() || rank(stats[key].name) < rank(header)) header = stats[key].name;
  }
  if (!header.empty())
    header_basis = fmt::format("names all {} envelope recipients of the test mails", total);
  else if (total > 0)
    header_basis = fmt::format("no header names all {} envelope recipients", total);
}

HeaderChoice choose_header(const Report &r, Stored &stored) {
  Stats &stats = stored.stats;
  const std::size_t n = stored.all.size();
  HeaderChoice h;
  std::string &header = h.header;
  std::string &header_basis = h.basis;
  if (r.active) choose_by_test_mails(r, stats, h);
  if (header.empty() && (!r.active || header_basis.empty()) && n > 0) {
    for (const auto &[key, s] : stats) {
      const double share = static_cast<double>(s.messages_with) / static_cast<double>(n);
      if (share < kStampCoverage) continue;
      if (header.empty() || rank(s.name) < rank(header)) header = s.name;
    }
    if (!header.empty())
      header_basis = fmt::format("present in {} of {} messages",
                                 stats[base::to_lower(header)].messages_with, n);
  }
  return h;
}

void answer_header(Report &r, Stored &stored, const HeaderChoice &h) {
  InferredProfile &p = r.profile;
  Stats &stats = stored.stats;
  const std::size_t n = stored.all.size();
  const std::string &header = h.header;
  const std::string &header_basis = h.basis;
  const std::vector<std::string> &mapping = h.mapping;
  const bool logged_in = r.pop3.login.result == LoginResult::ok;
  p.envelope_header = header;
  if (n > 0 || r.active) p.observed.emplace_back("stamp.envelope_header");

  if (n == 0 && !r.active) {
    add(r, "envelope-header", "Which header carries the envelope recipients?", Verdict::unknown,
        logged_in ? "the mailbox is empty: nothing to examine (try --send-tests)" : "not examined");
  } else if (header.empty()) {
    add(r, "envelope-header", "Which header carries the envelope recipients?", Verdict::fail,
        "none: the provider keeps no envelope; BCC recipients cannot be "
        "recovered and the "
        "fetcher could only guess from To/Cc",
        header_basis);
  } else {
    add(r, "envelope-header", "Which header carries the envelope recipients?", Verdict::pass,
        header, header_basis);
  }
  if (!mapping.empty())
    add(r, "recipient-mapping", "Which header carries each envelope recipient?", Verdict::info,
        header.empty() ? "none carries all" : header, join(mapping, "; "));

  // Other look-alike headers: a fetcher configured for one of these would route
  // wrongly.
  std::vector<std::string> others;
  for (const auto &[key, s] : stats)
    if (!base::iequals(s.name, header))
      others.push_back(fmt::format("{} ({}/{} messages)", s.name, s.messages_with, n));
  if (!others.empty())
    add(r, "other-headers", "Which other envelope-style headers appear?", Verdict::info,
        join(others));
}

// Without the multi-local test mail: the same message stored several times,
// each naming other recipients, or one copy naming several.
void passive_copies(const Stored &stored, std::optional<bool> &per_rcpt,
                    std::string &copies_basis) {
  const auto &all = stored.all;
  const std::string &header = stored.header;
  std::map<std::string, std::vector<const MessageObservation *>> by_id;
  for (const auto *m : all)
    if (!m->message_id.empty()) by_id[m->message_id].push_back(m);
  std::size_t split = 0, joint = 0, multi_addressed = 0;
  const std::string mx = header.empty() ? passive_received_host(all) : "";
  for (const auto &[id, ms] : by_id) {
    if (ms.size() < 2 || (header.empty() && mx.empty())) continue;
    std::set<std::set<std::string>> sets;
    for (const auto *m : ms) sets.insert(named_in(*m, header, mx));
    if (sets.size() > 1) ++split;
  }
  for (const auto *m : all) {
    if (!header.empty() && named_by(*m, header).size() > 1) ++joint;
    if (m->header_addresses > 1) ++multi_addressed;
  }
  if (split > 0 && joint == 0) {
    per_rcpt = true;
    copies_basis = fmt::format(
        "{} message(s) stored several times, each copy naming other "
        "recipients",
        split);
  } else if (joint > 0 && split == 0) {
    per_rcpt = false;
    copies_basis = fmt::format("{} stored copy(ies) name several envelope recipients", joint);
  } else if (split == 0 && joint == 0 && header.empty() && multi_addressed > 0 &&
             by_id.size() == all.size()) {
    per_rcpt = false;
    copies_basis =
        "likely: mail to several recipients was stored once (no "
        "envelope header "
        "to confirm)";
  } else if (split > 0 && joint > 0) {
    copies_basis = "conflicting evidence";
  }
}

// Copies: one per recipient or one for all.
void infer_copies(Report &r, const Stored &stored) {
  InferredProfile &p = r.profile;
  const std::size_t n = stored.all.size();
  std::optional<bool> per_rcpt;
  std::string copies_basis;
  if (const TestCase *multi = find_case(r, "multi-local"); multi && !multi->copies.empty()) {
    per_rcpt = multi->copies.size() >= multi->rcpts.size();
    copies_basis = fmt::format("the test mail to {} recipients was stored {} time(s)",
                               multi->rcpts.size(), multi->copies.size());
  } else if (n > 0) {
    passive_copies(stored, per_rcpt, copies_basis);
  }
  p.copy_per_recipient = per_rcpt.value_or(false);
  if (per_rcpt) p.observed.emplace_back("stamp.copy_per_recipient");
  add(r, "copies", "One stored copy per envelope recipient, or one for all?",
      per_rcpt ? Verdict::info : Verdict::unknown,
      per_rcpt ? (*per_rcpt ? "one copy per recipient" : "one copy for all recipients")
               : "not determined (needs mail to several recipients; try "
                 "--send-tests)",
      copies_basis);
}

void infer_style(Report &r, Stored &stored) {
  InferredProfile &p = r.profile;
  Stats &stats = stored.stats;
  const std::string &header = stored.header;
  const bool header_is_dt = base::iequals(stored.header, "Delivered-To");
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
    add(r, "envelope-style", "How are several recipients written into one copy?",
        style.empty() ? Verdict::unknown : Verdict::info,
        style == "list"       ? "list: one line naming all recipients"
        : style == "per-line" ? "per-line: one line per recipient"
                              : "not seen (every copy names one recipient)");
    if (!p.copy_per_recipient && !style.empty())
      add(r, "header-leak", "Does the stored copy reveal all recipients (BCC leak)?", Verdict::warn,
          "yes: one copy names every envelope recipient; the fetcher must "
          "remove " +
              header + " before delivery or every recipient sees the BCC list");
  }
}

void infer_qmail_prefix(Report &r, Stored &stored) {
  InferredProfile &p = r.profile;
  Stats &stats = stored.stats;
  const std::string &header = stored.header;
  const bool header_is_dt = base::iequals(stored.header, "Delivered-To");
  // qmail prefix and Delivered-To.
  if (!header.empty()) {
    const auto &s = stats[base::to_lower(header)];
    p.qmail_prefix = header_is_dt && s.qmail_prefixed > 0;
    p.observed.emplace_back("stamp.qmail_prefix");
    add(r, "qmail-prefix", "Do envelope addresses carry a qmail virtual-domain prefix?",
        s.qmail_prefixed > 0 ? Verdict::warn : Verdict::pass,
        s.qmail_prefixed > 0 ? "yes (domain-user@domain): strip it (fetchmail qvirtual)" : "no");
    if (header_is_dt) {
      p.envelope_occurrence = 1;
      add(r, "delivered-to", "Which Delivered-To line is the provider's?", Verdict::info,
          s.messages_with_several > 0 ? fmt::format("the top one; {} message(s) carry several "
                                                    "(forwarding chains)",
                                                    s.messages_with_several)
                                      : "the top one");
    }
  }
}

void infer_delivered_to(Report &r, Stored &stored) {
  InferredProfile &p = r.profile;
  Stats &stats = stored.stats;
  const auto &all = stored.all;
  const std::size_t n = stored.all.size();
  const std::string &header = stored.header;
  const bool header_is_dt = base::iequals(stored.header, "Delivered-To");
  if (!header_is_dt) {
    const auto it = stats.find("delivered-to");
    if (it != stats.end() && n > 0 &&
        static_cast<double>(it->second.messages_with) / static_cast<double>(n) >= kStampCoverage) {
      // Delivered-To on every copy: the mailbox (one value) or the recipient
      // (varies with it).
      bool same_as_rcpt = !header.empty();
      for (const auto *m : all) {
        const auto dt = named_by(*m, "Delivered-To");
        if (!header.empty() && dt != named_by(*m, header)) same_as_rcpt = false;
      }
      if (same_as_rcpt) {
        p.delivered_to = "recipient";
      } else if (it->second.top_values.size() == 1) {
        p.delivered_to = "mailbox";
        const auto addrs = addresses_in(*it->second.top_values.begin());
        p.mailbox_address = addrs.empty() ? *it->second.top_values.begin() : addrs.front();
      }
      if (p.delivered_to != "none") {
        p.observed.emplace_back("stamp.delivered_to");
        add(r, "delivered-to", "What does Delivered-To name?", Verdict::info,
            p.delivered_to == "mailbox" ? "the catch-all mailbox (" + p.mailbox_address +
                                              "), not the recipient: do "
                                              "not use it as the envelope header"
                                        : "the envelope recipient (same as " + header + ")");
      }
    }
  }
}

void infer_return_path(Report &r, const Stored &stored) {
  InferredProfile &p = r.profile;
  const auto &all = stored.all;
  const std::size_t n = stored.all.size();
  // Return-Path.
  std::size_t with_rp = 0, null_rp = 0, several_rp = 0;
  for (const auto *m : all) {
    if (m->has_return_path) ++with_rp;
    if (m->has_return_path && base::trim(m->return_path) == "<>") ++null_rp;
    if (m->return_paths > 1) ++several_rp;
  }
  if (n > 0) {
    p.return_path = static_cast<double>(with_rp) / static_cast<double>(n) >= kStampCoverage;
    p.observed.emplace_back("stamp.return_path");
    add(r, "return-path", "Is the envelope sender kept (Return-Path)?",
        p.return_path ? Verdict::pass : Verdict::warn,
        fmt::format("Return-Path in {} of {} messages, <> in {}{}", with_rp, n, null_rp,
                    several_rp ? fmt::format(", several in {}", several_rp) : ""));
  }
}

// ---------------------------------------------------------------- active
// questions
void infer_active(Report &r, const Stored &stored) {
  const std::size_t n = stored.all.size();
  const std::string &header = stored.header;
  if (r.active) {
    detail::answer_test_mails(r, header);
  } else if (n > 0) {
    add(r, "bcc-recoverable", "Can BCC recipients be recovered?",
        header.empty() ? Verdict::fail : Verdict::info,
        header.empty() ? "no envelope header: BCC recipients are lost"
                       : "likely, through " + header + " (confirm with --send-tests)");
  }
}

void infer_local_domains(Report &r, const Stored &stored) {
  InferredProfile &p = r.profile;
  const auto &all = stored.all;
  const std::string &header = stored.header;
  // Local domains for the fetcher settings.
  if (!r.domain.empty()) {
    p.local_domains = {r.domain};
  } else if (!header.empty()) {
    std::map<std::string, std::size_t> domains;
    for (const auto *m : all)
      for (const auto &a : named_by(*m, header)) ++domains[mail::domain_of(a)];
    std::vector<std::pair<std::size_t, std::string>> ranked;
    for (const auto &[d, c] : domains)
      if (!d.empty()) ranked.emplace_back(c, d);
    std::sort(ranked.rbegin(), ranked.rend());
    for (std::size_t i = 0; i < ranked.size() && i < 3; ++i)
      p.local_domains.push_back(ranked[i].second);
  }
}

}  // namespace

void infer(Report &r) {
  r.answers.clear();
  InferredProfile &p = r.profile;
  p = InferredProfile{};
  p.name = "observed";
  p.description = fmt::format("Inferred by dropcheck probe ({} mode) from {} on {}.", r.mode,
                              r.target, r.started_at);
  detail::infer_service(r);

  Stored stored;
  stored.all = observations(r);
  stored.stats = header_stats(stored.all);
  const HeaderChoice h = choose_header(r, stored);
  stored.header = h.header;
  answer_header(r, stored, h);
  infer_copies(r, stored);
  detail::infer_received_for(r, stored.all);
  infer_style(r, stored);
  infer_qmail_prefix(r, stored);
  infer_delivered_to(r, stored);
  infer_return_path(r, stored);
  infer_active(r, stored);
  infer_local_domains(r, stored);
  if (!r.error.empty()) add(r, "completed", "Did the probe run through?", Verdict::fail, r.error);
}

int exit_status(const Report &r) {
  if (!r.error.empty()) return 1;
  for (const auto &a : r.answers)
    if (a.verdict == Verdict::fail) return 1;
  return 0;
}

}  // namespace dropcheck::probe

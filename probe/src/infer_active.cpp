// infer(), the questions only test mails answer (dropcheck probe --send-tests): did they
// arrive, is a BCC recipient named, a foreign Cc kept out, the null sender preserved.
#include <fmt/format.h>

#include <algorithm>

#include "base/strings.hpp"
#include "infer_internal.hpp"

namespace dropcheck::probe::detail {

namespace {

std::vector<std::string> field_values(const MessageObservation &m, std::string_view name) {
  std::vector<std::string> out;
  for (const auto &f : m.envelope_fields)
    if (base::iequals(f.name, name)) out.push_back(f.value);
  return out;
}

// Whether a BCC recipient is named where the advice reads: an envelope header or the MX's for.
bool names_bcc(const MessageObservation &copy, const std::string &b, std::string_view mx) {
  for (const auto &fl : copy.envelope_fields)
    for (const auto &a : addresses_in(fl.value))
      if (strip_qmail_prefix(a) == b) return true;
  const ReceivedLine *l = mx.empty() ? nullptr : line_by(copy, mx);
  return l && std::find(l->for_addrs.begin(), l->for_addrs.end(), b) != l->for_addrs.end();
}

void answer_test_delivery(Report &r, const ActiveResult &ar) {
  std::vector<std::string> lost;
  for (const auto &c : ar.cases) {
    if (!sent(c))
      lost.push_back(
          fmt::format("{}: not accepted by the MX ({} {})", c.id, c.smtp_code, c.smtp_text));
    else if (c.copies.empty())
      lost.push_back(c.id + ": not found in the mailbox");
  }
  if (!ar.error.empty()) lost.push_back(ar.error);
  add(r, "test-delivery", "Did every test mail arrive in the mailbox?",
      lost.empty() ? Verdict::pass : Verdict::warn,
      lost.empty() ? fmt::format("yes, after {} poll(s)", ar.polls) : join(lost, "; "),
      "tag " + ar.tag);
}

void answer_bcc(Report &r, const ActiveResult &ar, const std::string &header) {
  InferredProfile &p = r.profile;
  // BCC: is the blind recipient named anywhere a fetcher can read it?
  std::vector<std::string> bcc_ok, bcc_lost;
  for (const auto &c : ar.cases) {
    if (!sent(c) || c.copies.empty()) continue;
    for (const auto &b : c.bcc) {
      bool named = false;
      for (const auto &copy : c.copies) named = named || names_bcc(copy, b, p.received_by);
      (named ? bcc_ok : bcc_lost).push_back(c.id);
    }
  }
  if (bcc_ok.empty() && bcc_lost.empty()) {
    add(r, "bcc-recoverable", "Can BCC recipients be recovered?", Verdict::unknown,
        "no BCC test mail was found");
  } else {
    add(r, "bcc-recoverable", "Can BCC recipients be recovered?",
        bcc_lost.empty() ? Verdict::pass : Verdict::fail,
        bcc_lost.empty() ? "yes: every BCC recipient is named in " +
                               (header.empty() ? "the Received line by " + p.received_by : header)
                         : "no: BCC recipients are lost (" + join(bcc_lost) + ")");
  }
}

void answer_foreign_cc(Report &r, const std::string &header) {
  if (const TestCase *cc = find_case(r, "cc-foreign"); cc && !cc->copies.empty()) {
    bool foreign_named = false;
    for (const auto &copy : cc->copies)
      if (!header.empty())
        for (const auto &a : named_by(copy, header))
          foreign_named =
              foreign_named || std::find(cc->rcpts.begin(), cc->rcpts.end(), a) == cc->rcpts.end();
    add(r, "foreign-cc",
        "Does the envelope header name only envelope recipients (not a "
        "foreign Cc)?",
        header.empty() ? Verdict::unknown : (foreign_named ? Verdict::fail : Verdict::pass),
        header.empty()  ? "no envelope header"
        : foreign_named ? "no: it names addresses that were not envelope recipients"
                        : "yes: the foreign Cc is only in the Cc: header (the fetcher "
                          "must "
                          "not route by Cc)");
  }
}

void answer_null_sender(Report &r) {
  if (const TestCase *dsn = find_case(r, "null-sender"); dsn && !dsn->copies.empty()) {
    const auto &copy = dsn->copies.front();
    const std::string rp(base::trim(copy.return_path));
    add(r, "null-sender", "Is the null sender (MAIL FROM:<>) preserved?",
        !copy.has_return_path ? Verdict::warn : (rp == "<>" ? Verdict::pass : Verdict::fail),
        !copy.has_return_path ? "no Return-Path: the fetcher cannot tell a receipt from mail"
        : rp == "<>"          ? "yes: Return-Path: <>"
                              : "no: rewritten to " + rp);
  }
}

}  // namespace

// Addresses the header names in one message. Delivered-To: only the top line
// (the lines below it come from forwarding hops, not from this provider).
std::set<std::string> named_by(const MessageObservation &m, std::string_view name) {
  std::set<std::string> out;
  auto values = field_values(m, name);
  if (base::iequals(name, "Delivered-To") && values.size() > 1) values.resize(1);
  for (const auto &v : values)
    for (const auto &a : addresses_in(v)) out.insert(strip_qmail_prefix(a));
  return out;
}

const TestCase *find_case(const Report &r, std::string_view id) {
  if (!r.active) return nullptr;
  for (const auto &c : r.active->cases)
    if (c.id == id && sent(c)) return &c;
  return nullptr;
}

void answer_test_mails(Report &r, const std::string &header) {
  const ActiveResult &ar = *r.active;
  answer_test_delivery(r, ar);
  answer_bcc(r, ar, header);
  answer_foreign_cc(r, header);
  answer_null_sender(r);
  if (r.active->deleted > 0 || r.mode == "active")
    add(r, "cleanup", "Were the test mails removed?", Verdict::info,
        fmt::format("{} tagged copy(ies) deleted", ar.deleted));
}

}  // namespace dropcheck::probe::detail

#include "fetcher/route.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "base/date.hpp"
#include "base/strings.hpp"
#include "mail/address.hpp"
#include "mail/header.hpp"

namespace dropcheck::fetcher {

bool is_local(const Routing& routing, std::string_view addr) {
  const std::string d = mail::domain_of(addr);
  return !d.empty() && std::find(routing.local_domains.begin(), routing.local_domains.end(), d) !=
                           routing.local_domains.end();
}

namespace {

void add_unique(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

// No recipient left: the cycle must keep the message on the provider (Route::unroutable).
void mark_if_unroutable(Route& r) {
  if (!r.recipients.empty()) return;
  r.unroutable = true;
  r.alert = true;
  r.notes.emplace_back("nothing routable: kept on the provider");
}

// A delivery or disposition report (RFC 6522 multipart/report, any report-type): sent with
// the null sender (RFC 3461 6.2, RFC 8098 2), whatever its From says.
bool is_report(const mail::HeaderSection& h) {
  const mail::Field* ct = mail::find_first(h, "Content-Type");
  if (!ct) return false;
  const std::string v = base::to_lower(ct->unfolded());
  constexpr std::string_view kReport = "multipart/report";
  if (v.rfind(kReport, 0) != 0) return false;
  const std::string_view rest = std::string_view(v).substr(kReport.size());
  return rest.empty() || rest.front() == ';' || rest.front() == ' ' || rest.front() == '\t' ||
         rest.front() == '(';
}

// Return-Path as stamped by the provider; "" for "<>". Never invented: without one, <> (a
// report: as it should be; other mail: with an alert), or From where the config asks for it.
std::string sender_of(const mail::HeaderSection& h, const Routing& routing, Route& r) {
  if (const mail::Field* rp = mail::find_first(h, "Return-Path")) {
    const std::string v = rp->unfolded();
    const std::string_view t = base::trim(v);
    if (t == "<>" || t.empty()) return "";
    return mail::normalize_address(t);
  }
  if (is_report(h)) {
    r.notes.emplace_back("sender: no Return-Path, a report (multipart/report): <>");
    return "";
  }
  if (routing.sender_from_header) {
    if (const mail::Field* from = mail::find_first(h, "From")) {
      auto list = mail::parse_address_list(from->unfolded());
      if (list.ok() && !list->empty()) {
        r.notes.emplace_back("sender: no Return-Path, using From (routing.sender_from_header)");
        return list->front().addr_spec();
      }
    }
  }
  r.alert = true;
  r.notes.emplace_back("sender: no Return-Path, using <>");
  return "";
}

// A null sender whose message only the fallback gets: nobody can be told about a problem
// with it, and nobody asked for it by name.
void check_null_sender_to_fallback(const Routing& routing, Route& r) {
  if (!r.mail_from.empty() || routing.fallback.empty()) return;
  if (r.recipients != std::vector<std::string>{routing.fallback}) return;
  r.alert = true;
  r.notes.emplace_back("null sender, delivered only to the fallback");
}

// The addresses routing starts from, and where they came from.
struct Candidates {
  std::vector<std::string> addrs;  // as found, not yet filtered by local domain
  std::string source;              // the header read ("To/Cc"); empty: no envelope header
  bool damaged = false;            // the header may hide a recipient it failed to name
  std::string no_envelope_why;     // with source empty: why (default "no envelope header")
};

// The provider's Received line names no recipient: its MX writes FOR only for a transaction
// with one (RFC 5321 4.4). No envelope, as if the header were missing: the fallback, an alert.
Candidates no_for_clause(const mail::EnvelopeSpec& spec, Candidates& c,
                         std::vector<std::string>& notes) {
  c = Candidates{};
  c.no_envelope_why = "no envelope recipient: Received by " + spec.received_by +
                      " has no for clause (a copy for several recipients)";
  notes.push_back(c.no_envelope_why);
  return c;
}

void add_all_unique(std::vector<std::string>& v, const std::vector<std::string>& more) {
  for (const auto& s : more) add_unique(v, s);
}

// The first configured envelope header present wins, damaged or not: skipping a damaged one
// for a later spec could read an earlier hop's header instead.
Candidates envelope_candidates(const mail::HeaderSection& h, const Routing& routing,
                               std::vector<std::string>& notes) {
  Candidates c;
  for (const auto& spec : routing.envelope) {
    auto fields = mail::select_envelope_fields(h, spec);
    if (!fields.ok()) {
      if (fields.error().code != "no-envelope-header")
        notes.push_back(spec.header + ": " + fields.error().message);
      continue;
    }
    c.source = spec.header;
    for (const mail::Field* f : *fields) {
      const std::string value = f->unfolded();
      auto got = mail::parse_envelope_value(value, spec);
      if (!got.ok() && got.error().code == "no-for-clause") return no_for_clause(spec, c, notes);
      if (got.ok()) add_all_unique(c.addrs, *got);
      if (!got.ok() || mail::envelope_value_damaged(value, spec)) {
        c.damaged = true;
        notes.push_back(spec.header + " at offset " + std::to_string(f->offset) +
                        ": damaged, may hide a recipient" +
                        (got.ok() ? "" : " (" + got.error().message + ")"));
      }
    }
    return c;
  }
  // Provider drift or a message that bypassed the provider's stamping: never guess from To/Cc
  // (that loses BCC recipients silently).
  notes.emplace_back("no envelope header found");
  return c;
}

Candidates to_cc_candidates(const mail::HeaderSection& h) {
  Candidates c;
  c.source = "To/Cc";
  for (std::string_view name : {"To", "Cc"}) {
    for (const mail::Field* f : mail::find_all(h, name)) {
      auto list = mail::parse_address_list(f->unfolded());
      if (!list.ok()) continue;
      for (const auto& a : *list) c.addrs.push_back(a.addr_spec());
    }
  }
  return c;
}

// Adds `why` as a fallback delivery with an alert, or, with no fallback configured, records
// that nothing could be routed when no other recipient is left.
void to_fallback(const Routing& routing, std::string_view why, Route& r) {
  r.alert = true;
  if (routing.fallback.empty()) {
    r.notes.push_back(std::string(why) + ", no fallback configured");
    return;
  }
  add_unique(r.recipients, routing.fallback);
  r.notes.push_back(routing.fallback + ": fallback (" + std::string(why) + ")");
}

// A local part a real MTA may route onwards: "%" (the percent hack), "!" (UUCP bang path) or
// an "@" inside quotes (RFC 5321 3.6.1 source routes, RFC 1123 5.2.16).
bool is_source_routed(std::string_view addr) {
  const std::string_view local = addr.substr(0, addr.rfind('@'));
  return local.find_first_of("%!@") != std::string_view::npos;
}

// Local candidates become mailboxes: aliases resolved, unknown users to the fallback.
void resolve_recipients(const Routing& routing, const Candidates& candidates, Route& r) {
  for (const std::string& c : candidates.addrs) {
    const std::string addr = mail::normalize_address(c);
    if (!is_local(routing, addr)) {
      r.notes.push_back(addr + ": skipped (not a local domain)");
      continue;
    }
    if (is_source_routed(addr)) {
      to_fallback(routing, addr + ": source-routing local part, never a RCPT", r);
      continue;
    }
    // Mailbox lookups ignore case, as every real server's user tables do (RFC 5321 2.4 allows
    // case-sensitive local parts, but no in-house server is configured that way).
    std::string target = addr;
    for (const auto& [alias, box] : routing.aliases)
      if (base::iequals(alias, addr)) target = box;
    const bool known = routing.users.empty() ||
                       std::any_of(routing.users.begin(), routing.users.end(),
                                   [&](const std::string& u) { return base::iequals(u, target); });
    if (!known) {
      if (routing.fallback.empty()) {
        r.notes.push_back(addr + ": unknown local user, no fallback (left to the server)");
      } else {
        r.notes.push_back(addr + ": unknown local user -> " + routing.fallback);
        target = routing.fallback;
      }
    } else {
      r.notes.push_back(addr + ": " + candidates.source +
                        (target != addr ? " alias -> " + target : ""));
    }
    add_unique(r.recipients, target);
  }
}

// The fallback mailbox takes what no local mailbox would: no envelope header, a damaged one
// (beside the readable recipients), or no local recipient at all (every candidate foreign: a
// wrong header, a typo in local_domains, an earlier hop's line). Never dropped, never sent out.
void apply_fallback(const Routing& routing, const Candidates& candidates, Route& r) {
  if (candidates.source.empty()) {
    to_fallback(routing,
                candidates.no_envelope_why.empty() ? "no envelope header"
                                                   : std::string_view(candidates.no_envelope_why),
                r);
  } else if (candidates.damaged) {
    to_fallback(routing, "damaged envelope header", r);
  } else if (r.recipients.empty()) {
    to_fallback(routing, "no local recipient", r);
  }
  mark_if_unroutable(r);
}

// The loop guard's marker in our Received line. Unchanged since the first version, which wrote
// "Received: by <name> (dropcheck fetcher core)": such copies are still recognised.
std::string own_marker(std::string_view received_by) {
  return "by " + std::string(received_by) + " (dropcheck fetcher core)";
}

// Text for inside a Received line: control octets dropped (no header injection), and inside a
// comment "(", ")" and "\\" as quoted-pairs (RFC 5322 3.2.2).
std::string header_text(std::string_view s, bool in_comment) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (in_comment && (c == '(' || c == ')' || c == '\\')) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// The line ending mail::prepend_field uses for `message`: CRLF unless the first line ends in LF.
std::string_view line_ending_of(std::string_view message) {
  const auto lf = message.find('\n');
  return lf != std::string_view::npos && (lf == 0 || message[lf - 1] != '\r') ? "\n" : "\r\n";
}

// RFC 5321 4.4 time-stamp line (value only), folded with the message's own line ending:
//   from <provider> (account <user>) by <name> (dropcheck fetcher core) with POP3
//   [for <recipient>]; <date-time>
// "for" only with exactly one recipient: naming several would show each the others (Bcc).
std::string received_value(const RouteContext& ctx, const std::vector<std::string>& recipients,
                           std::string_view eol) {
  const bool one = recipients.size() == 1;
  std::string v = "from " + header_text(ctx.provider, false) + " (account " +
                  header_text(ctx.account, true) + ")" + std::string(eol) + "\t" +
                  header_text(own_marker(ctx.received_by), false) + " with POP3" +
                  (one ? "" : ";") + std::string(eol) + "\t";
  if (one) v += "for <" + header_text(recipients.front(), false) + ">; ";
  return v + rfc5322_date(ctx.now);
}

}  // namespace

std::string rfc5322_date(std::chrono::milliseconds since_epoch) {
  return base::rfc5322_date(since_epoch);
}

Route route_message(const Config& config, std::string_view raw, const RouteContext& context) {
  Route r;
  const Routing& routing = config.routing;
  auto parsed = mail::parse_header_section(raw);
  if (!parsed.ok()) {
    r.error = "unparsable header: " + parsed.error().message;
    r.message = std::string(raw);
    if (routing.mode == Mode::single) {  // the recipient is known without the header
      r.alert = true;
      r.recipients = {routing.deliver_to};
      r.notes.push_back(routing.deliver_to + ": single-drop account, unparsable header kept");
      return r;
    }
    to_fallback(routing, "unparsable header", r);
    mark_if_unroutable(r);
    return r;
  }
  const mail::HeaderSection& h = *parsed;
  r.mail_from = sender_of(h, routing, r);
  // Loop guard: our own Received marker means this copy went through us before (relayed out and
  // back into the catch-all). Never deliver it again (not even to the fallback, which may be
  // what forwards it out): unroutable, it stays on the provider with an alert for an admin.
  const std::string marker = own_marker(context.received_by);
  for (const mail::Field* f : mail::find_all(h, "Received")) {
    if (f->unfolded().find(marker) != std::string::npos) {
      r.alert = true;
      r.error = "mail loop: the message already carries this fetcher's Received line";
      r.notes.push_back(r.error);
      r.message = std::string(raw);
      mark_if_unroutable(r);
      return r;
    }
  }

  if (routing.mode == Mode::single) {
    // The provider mailbox belongs to one user: whatever its headers say, it is theirs.
    r.recipients = {routing.deliver_to};
    r.notes.push_back(routing.deliver_to + ": single-drop account");
  } else {
    const Candidates candidates = routing.source == RecipientSource::envelope_header
                                      ? envelope_candidates(h, routing, r.notes)
                                      : to_cc_candidates(h);
    resolve_recipients(routing, candidates, r);
    apply_fallback(routing, candidates, r);
    check_null_sender_to_fallback(routing, r);
  }

  // The provider's Return-Path goes too: the receiving MTA writes its own from MAIL FROM.
  std::vector<std::string_view> strip(routing.strip_headers.begin(), routing.strip_headers.end());
  strip.emplace_back("Return-Path");
  std::string stripped = mail::remove_fields(raw, h, strip);
  r.message = mail::prepend_field(stripped, "Received",
                                  received_value(context, r.recipients, line_ending_of(stripped)));
  return r;
}

}  // namespace dropcheck::fetcher

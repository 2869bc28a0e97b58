#include "fetcher/route.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "base/strings.hpp"
#include "mail/address.hpp"
#include "mail/header.hpp"

namespace dropcheck::fetcher {

bool is_local(const Routing& routing, std::string_view addr) {
  const std::string d = mail::domain_of(addr);
  return !d.empty() &&
         std::find(routing.local_domains.begin(), routing.local_domains.end(), d) !=
             routing.local_domains.end();
}

namespace {

void add_unique(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

// Return-Path as stamped by the provider; "" for "<>". Absent: the From address (logged).
std::string sender_of(const mail::HeaderSection& h, std::vector<std::string>& notes) {
  if (const mail::Field* rp = mail::find_first(h, "Return-Path")) {
    const std::string v = rp->unfolded();
    const std::string_view t = base::trim(v);
    if (t == "<>" || t.empty()) return "";
    return mail::normalize_address(t);
  }
  if (const mail::Field* from = mail::find_first(h, "From")) {
    auto list = mail::parse_address_list(from->unfolded());
    if (list.ok() && !list->empty()) {
      notes.emplace_back("sender: no Return-Path, using From");
      return list->front().addr_spec();
    }
  }
  notes.emplace_back("sender: no Return-Path or From, using <>");
  return "";
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
  using namespace std::chrono;
  static constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                            "Thu", "Fri", "Sat"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_days day = floor<days>(sys_time<milliseconds>(since_epoch));
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> t{floor<seconds>(since_epoch - day.time_since_epoch())};
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
                     kDays[weekday{day}.c_encoding()], static_cast<unsigned>(ymd.day()),
                     kMonths[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                     t.hours().count(), t.minutes().count(), t.seconds().count());
}

Route route_message(const Config& config, std::string_view raw, const RouteContext& context) {
  Route r;
  const Routing& routing = config.routing;
  auto parsed = mail::parse_header_section(raw);
  if (!parsed.ok()) {
    r.error = "unparsable header: " + parsed.error().message;
    r.alert = true;
    r.message = std::string(raw);
    if (!routing.fallback.empty()) {
      r.recipients.push_back(routing.fallback);
      r.notes.push_back(routing.fallback + ": fallback (unparsable header)");
    }
    return r;
  }
  const mail::HeaderSection& h = *parsed;
  r.mail_from = sender_of(h, r.notes);
  // Loop guard: our own Received marker means this copy went through us before (relayed out and
  // back into the catch-all). Never deliver it again; keep it visible with an alert.
  const std::string marker = own_marker(context.received_by);
  for (const mail::Field* f : mail::find_all(h, "Received")) {
    if (f->unfolded().find(marker) != std::string::npos) {
      r.alert = true;
      r.error = "mail loop: the message already carries this fetcher's Received line";
      r.notes.push_back(r.error);
      r.message = std::string(raw);
      return r;
    }
  }

  std::vector<std::string> candidates;
  std::string source;
  if (routing.source == RecipientSource::envelope_header) {
    for (const auto& spec : routing.envelope) {
      auto got = mail::extract_envelope_recipients(h, spec);
      if (got.ok()) {
        candidates = std::move(got).value();
        source = spec.header;
        break;
      }
      if (got.error().code != "no-envelope-header") {
        r.notes.push_back(spec.header + ": " + got.error().message);
      }
    }
    if (source.empty()) {
      // Provider drift or a message that bypassed the provider's stamping: never guess from
      // To/Cc (that loses BCC recipients silently); route to the fallback and alert.
      r.alert = true;
      r.notes.emplace_back("no envelope header found");
    }
  } else {
    source = "To/Cc";
    for (std::string_view name : {"To", "Cc"}) {
      for (const mail::Field* f : mail::find_all(h, name)) {
        auto list = mail::parse_address_list(f->unfolded());
        if (!list.ok()) continue;
        for (const auto& a : *list) candidates.push_back(a.addr_spec());
      }
    }
  }

  for (const std::string& c : candidates) {
    const std::string addr = mail::normalize_address(c);
    if (!is_local(routing, addr)) {
      r.notes.push_back(addr + ": skipped (not a local domain)");
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
      r.notes.push_back(addr + ": " + source + (target != addr ? " alias -> " + target : ""));
    }
    add_unique(r.recipients, target);
  }
  const bool all_foreign =
      !candidates.empty() && std::none_of(candidates.begin(), candidates.end(), [&](const std::string& c) {
        return is_local(routing, mail::normalize_address(c));
      });
  if (all_foreign) {
    // Mail the provider accepted for a domain this site does not serve: not ours to deliver
    // (and never to send out again: that is how mail loops start). Settled, with an alert.
    r.alert = true;
    r.notes.emplace_back("no local envelope recipient: not for this site");
  } else if (r.recipients.empty() && !routing.fallback.empty()) {
    r.recipients.push_back(routing.fallback);
    r.notes.push_back(routing.fallback + ": fallback (no local recipient)");
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

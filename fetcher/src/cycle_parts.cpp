// Helpers of the fetch cycle (fetcher.cpp): client options from the configuration, the
// listing's plausibility checks, the dedup key, and the log line of a message.
#include "cycle_parts.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "base/strings.hpp"
#include "fetcher/fetcher.hpp"
#include "mail/header.hpp"

namespace dropcheck::fetcher {

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::ok:
      return "ok";
    case Outcome::locked:
      return "locked";
    case Outcome::in_use:
      return "in-use";
    case Outcome::login_delay:
      return "login-delay";
    case Outcome::auth_failed:
      return "auth-failed";
    case Outcome::pop3_error:
      return "pop3-error";
    case Outcome::smtp_error:
      return "smtp-error";
    case Outcome::state_error:
      return "state-error";
    case Outcome::held:
      return "held";
  }
  return "?";
}

namespace detail {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

client::Auth auth_of(const Pop3Account& a) {
  if (a.apop || a.auth == "apop") return client::Auth::apop;
  if (a.auth == "plain") return client::Auth::plain;
  if (a.auth == "user") return client::Auth::user;
  return client::Auth::automatic;
}

client::Pop3Options pop3_options(const Pop3Account& a) {
  client::Pop3Options o;
  o.server = {a.host, a.port};
  o.tls = a.tls;
  o.tls_settings = {a.verify_certificate, a.ca_file};
  o.timeout = a.timeout;
  return o;
}

client::SmtpOptions smtp_options(const Delivery& d) {
  client::SmtpOptions o;
  o.server = {d.host, d.port};
  o.lmtp = d.lmtp;
  o.helo = d.helo;
  o.timeout = d.timeout;
  return o;
}

// RFC 1939 11: a server may count line endings as one octet; anything further off than one
// octet per line means the response is not the message LIST announced.
bool size_plausible(std::size_t listed, const std::string& body) {
  const auto lines = static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n'));
  const std::size_t got = body.size();
  return got <= listed + lines && listed <= got + lines;
}

// The dedup key of one provider copy: Message-ID plus a digest over the trace (Received) and the
// body. The same copy seen twice (re-presented under a new UIDL, fetched by an overlapping
// cycle) matches; two deliveries by the world of the same mail (forwarded twice, a digest
// re-sent) went through the provider in two transactions with two Received lines, and do not.
std::string dedup_key(const std::string& raw) {
  auto h = mail::parse_header_section(raw);
  if (!h.ok()) return "";
  const mail::Field* id = mail::find_first(*h, "Message-ID");
  if (!id) return "";
  std::string material;
  for (const mail::Field* f : mail::find_all(*h, "Received")) material += f->unfolded() + "\n";
  material += h->body;
  return std::string(base::trim(id->unfolded())) + " " + base::sha256_hex(material);
}

}  // namespace detail

std::string describe(const MessageLog& m) {
  using detail::join;
  std::string notes;
  for (const auto& n : m.notes) notes += (notes.empty() ? "" : "; ") + n;
  return fmt::format(
      "event=message n={} uidl={} size={} from=<{}> delivered={} deferred={} failed={} "
      "skipped={} held={} deleted={} alert={} why=\"{}\"",
      m.number, m.uidl.empty() ? "-" : m.uidl, m.size, m.mail_from, join(m.delivered),
      join(m.deferred), join(m.failed), m.skipped ? "yes" : "no", m.held ? "yes" : "no",
      m.deleted ? "yes" : "no", m.alert ? "yes" : "no", notes);
}

}  // namespace dropcheck::fetcher

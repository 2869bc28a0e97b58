#include "fetcher/defects.hpp"

#include <algorithm>

#include "base/strings.hpp"
#include "mail/address.hpp"
#include "mail/header.hpp"

namespace dropcheck::fetcher {

bool defect_skips_lock(Defect d) { return d == Defect::no_lock || d == Defect::no_dedup; }
bool defect_skips_dedup(Defect d) {
  // The SBS connector has no notion of "already delivered" beyond the server's UIDLs.
  return d == Defect::no_dedup || d == Defect::sbs_connector;
}

namespace {

// Every To/Cc address, whatever its domain.
void add_to_cc(const mail::HeaderSection& h, Route& r) {
  for (std::string_view name : {"To", "Cc"}) {
    for (const mail::Field* f : mail::find_all(h, name)) {
      auto list = mail::parse_address_list(f->unfolded());
      if (!list.ok()) continue;
      for (const auto& a : *list) {
        std::string addr = a.addr_spec();
        if (std::find(r.recipients.begin(), r.recipients.end(), addr) == r.recipients.end())
          r.recipients.push_back(addr);
      }
    }
  }
}

// The SBS POP3 connector: a global mailbox routed by To/Cc (every domain), a user mailbox to
// its one Exchange mailbox; no envelope header read, none removed.
Route sbs_connector_route(const Config& config, std::string_view raw) {
  Route r;
  r.message = std::string(raw);
  const bool user_mailbox = config.routing.mode == Mode::single;
  if (user_mailbox) {
    r.recipients = {config.routing.deliver_to};
    r.notes.emplace_back("sbs-connector: user mailbox");
  }
  auto parsed = mail::parse_header_section(raw);
  if (!parsed.ok()) return r;
  if (!user_mailbox) {
    add_to_cc(*parsed, r);
    r.notes.emplace_back("sbs-connector: To/Cc routing");
  }
  if (const mail::Field* rp = mail::find_first(*parsed, "Return-Path")) {
    const std::string v = rp->unfolded();
    r.mail_from = base::trim(v) == "<>" ? "" : mail::normalize_address(v);
  }
  return r;
}

}  // namespace

Route route_with_defect(const Config& config, std::string_view raw, const RouteContext& context) {
  Config c = config;
  switch (config.defect) {
    case Defect::none:
      break;
    case Defect::sbs_connector:
      return sbs_connector_route(config, raw);
    case Defect::pullmail:
      for (auto& spec : c.routing.envelope) spec.strip_qmail_prefix = false;
      break;
    case Defect::no_strip:
      c.routing.strip_headers.clear();
      break;
    case Defect::no_lock:
    case Defect::no_dedup:
      break;
    case Defect::fill_empty_sender: {
      Route r = route_message(c, raw, context);
      if (r.mail_from.empty()) {
        r.mail_from =
            "MAILER-DAEMON@" + (c.routing.local_domains.empty() ? std::string("localhost")
                                                                : c.routing.local_domains.front());
        r.notes.emplace_back("fill-empty-sender: <> replaced");
      }
      return r;
    }
  }
  return route_message(c, raw, context);
}

}  // namespace dropcheck::fetcher

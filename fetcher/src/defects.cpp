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

Route route_with_defect(const Config& config, std::string_view raw,
                        const RouteContext& context) {
  Config c = config;
  switch (config.defect) {
    case Defect::none:
      break;
    case Defect::sbs_connector: {
      // The SBS POP3 connector: recipients from To/Cc, every domain, no envelope header, no
      // removal of one.
      Route r;
      auto parsed = mail::parse_header_section(raw);
      r.message = std::string(raw);
      if (!parsed.ok()) return r;
      for (std::string_view name : {"To", "Cc"}) {
        for (const mail::Field* f : mail::find_all(*parsed, name)) {
          auto list = mail::parse_address_list(f->unfolded());
          if (!list.ok()) continue;
          for (const auto& a : *list) {
            std::string addr = a.addr_spec();
            if (std::find(r.recipients.begin(), r.recipients.end(), addr) == r.recipients.end())
              r.recipients.push_back(addr);
          }
        }
      }
      if (const mail::Field* rp = mail::find_first(*parsed, "Return-Path")) {
        const std::string v = rp->unfolded();
        r.mail_from = base::trim(v) == "<>" ? "" : mail::normalize_address(v);
      }
      r.notes.emplace_back("sbs-connector: To/Cc routing");
      return r;
    }
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
        r.mail_from = "MAILER-DAEMON@" + (c.routing.local_domains.empty()
                                              ? std::string("localhost")
                                              : c.routing.local_domains.front());
        r.notes.emplace_back("fill-empty-sender: <> replaced");
      }
      return r;
    }
  }
  return route_message(c, raw, context);
}

}  // namespace dropcheck::fetcher

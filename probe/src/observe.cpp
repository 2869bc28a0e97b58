#include "probe/observe.hpp"

#include "base/strings.hpp"
#include "mail/address.hpp"
#include "mail/envelope.hpp"
#include "mail/header.hpp"
#include "mail/received.hpp"

namespace dropcheck::probe {

bool is_known_envelope_header(std::string_view name) {
  for (const auto h : mail::kEnvelopeHeaders)
    if (base::iequals(h, name)) return true;
  return false;
}

bool is_envelope_candidate(std::string_view name) {
  if (is_known_envelope_header(name)) return true;
  const std::string n = base::to_lower(name);
  if (n.find("rcpt") != std::string::npos) return true;
  const bool x_to = n.size() > 5 && n.starts_with("x-") && n.ends_with("-to");
  return x_to && n.find("reply") == std::string::npos;
}

std::vector<std::string> addresses_in(std::string_view value) {
  mail::EnvelopeSpec spec;  // no prefix stripping: the probe wants to see the raw form
  auto r = mail::parse_envelope_value(value, spec);
  if (!r.ok()) return {};
  return std::move(r).value();
}

bool has_qmail_prefix(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0) return false;
  const std::string_view local = address.substr(0, at);
  const std::string_view domain = address.substr(at + 1);
  return !domain.empty() && local.size() > domain.size() + 1 && base::istarts_with(local, domain) &&
         local[domain.size()] == '-';
}

std::string strip_qmail_prefix(std::string_view address) {
  if (!has_qmail_prefix(address)) return std::string(address);
  const auto at = address.rfind('@');
  const std::string_view domain = address.substr(at + 1);
  return std::string(address.substr(domain.size() + 1));
}

ReceivedLine received_line(std::string_view value) {
  const mail::ReceivedTrace t = mail::parse_received(value);
  ReceivedLine l{t.by, t.has_for, {}};
  for (const auto &a : t.for_addrs) l.for_addrs.push_back(mail::normalize_address(a));
  return l;
}

MessageObservation observe_header(std::string_view header_section) {
  MessageObservation o;
  auto parsed = mail::parse_header_section(header_section);
  if (!parsed.ok()) {
    o.deviations.push_back("parse-error:" + parsed.error().code);
    return o;
  }
  const mail::HeaderSection &h = *parsed;
  bool seen_received = false;  // only the topmost one is the provider's
  if (h.deviations.bare_lf) o.deviations.emplace_back("bare-lf");
  if (h.deviations.eight_bit) o.deviations.emplace_back("8bit");
  if (h.deviations.nul) o.deviations.emplace_back("nul");
  for (const auto &f : h.fields) {
    if (f.name.empty()) continue;
    if (base::iequals(f.name, "Return-Path")) {
      if (o.return_paths++ == 0) {
        o.has_return_path = true;
        o.return_path = f.unfolded();
      }
    } else if (base::iequals(f.name, "Message-ID")) {
      if (o.message_id.empty()) o.message_id = f.unfolded();
    } else if (base::iequals(f.name, "Date")) {
      if (o.date.empty()) o.date = std::string(base::trim(f.unfolded()));
    } else if (base::iequals(f.name, "Received")) {
      o.received.push_back(received_line(f.unfolded()));
      if (!seen_received) {
        seen_received = true;
        const std::string v = f.unfolded();
        if (const auto semi = v.rfind(';'); semi != std::string::npos)
          o.received_date = std::string(base::trim(v.substr(semi + 1)));
      }
    } else if (base::iequals(f.name, "X-Dropcheck-Probe")) {
      if (o.probe_tag.empty()) o.probe_tag = f.unfolded();
    } else if (base::iequals(f.name, "To") || base::iequals(f.name, "Cc")) {
      auto list = mail::parse_address_list(f.unfolded());
      if (list.ok()) o.header_addresses += list->size();
    }
    if (is_envelope_candidate(f.name))
      o.envelope_fields.push_back({std::string(f.name), f.unfolded()});
  }
  return o;
}

}  // namespace dropcheck::probe

#include "probe/advice.hpp"

namespace dropcheck::probe {

std::string_view limit_name(ProviderLimit l) {
  switch (l) {
    case ProviderLimit::no_envelope_header:
      return "no-envelope-header";
    case ProviderLimit::login_delay:
      return "login-delay";
    case ProviderLimit::received_for_shared:
      return "received-for-shared";
  }
  return "?";
}

std::string_view limit_text(ProviderLimit l) {
  switch (l) {
    case ProviderLimit::no_envelope_header:
      return "the provider stamps no envelope header: blind-copy recipients cannot be recovered "
             "and every message goes to the fallback mailbox";
    case ProviderLimit::login_delay:
      return "the provider refuses logins closer than its LOGIN-DELAY: mail waits for the next "
             "allowed poll";
    case ProviderLimit::received_for_shared:
      return "only the MX's Received line names the recipient (for), and not when one stored "
             "copy serves several: mail to several local recipients goes to the fallback "
             "mailbox, blind-copy recipients of it are lost";
  }
  return "?";
}

Advice advise(const InferredProfile& p) {
  Advice a;
  a.envelope_header = p.envelope_header;
  a.occurrence = p.envelope_occurrence;
  a.qmail_prefix = p.qmail_prefix;
  a.min_poll_interval_s = p.login_delay_s;
  if (p.envelope_header.empty() && !p.received_by.empty()) {
    a.envelope_header = "Received";
    a.received_by = p.received_by;
    if (!p.copy_per_recipient) a.limits.push_back(ProviderLimit::received_for_shared);
  } else if (p.envelope_header.empty()) {
    a.limits.push_back(ProviderLimit::no_envelope_header);
  }
  if (p.login_delay_s > 0) a.limits.push_back(ProviderLimit::login_delay);
  a.fetchmail_misses_lines =
      !p.envelope_header.empty() && !p.copy_per_recipient && p.envelope_style == "per-line";
  return a;
}

}  // namespace dropcheck::probe

#include "probe/advice.hpp"

#include <array>

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

namespace {

struct Avoidance {
  std::string_view fetcher;
  std::string_view type;
  std::string_view text;
};

// Only where one configuration avoids it whatever the scenario (README.md, "Why the real
// fetchers get these findings").
constexpr std::array kAvoidances = {
    Avoidance{"fetchmail", "envelope-header-leak",
              "have the provider store one copy per recipient (fetchmail(1)), or strip the "
              "envelope header in the local MTA before delivery (Postfix header_checks)"},
    Avoidance{"getmail6", "envelope-header-leak",
              "strip the envelope header before delivery: a header-stripping step in the MDA "
              "(formail -I before msmtp) or the local MTA (header_checks); or one copy per "
              "recipient at the provider"},
    Avoidance{"getmail6", "cleartext-credentials",
              "use POP3S (a ...SSLRetriever): getmail6 has no STLS"},
    Avoidance{"getmail6", "duplicate",
              "when runs overlap: serialise them (flock -n around getmail), it has no lock of its "
              "own"},
    Avoidance{"fetchmail", "silent-login-failure",
              "watch its log for AUTHFAIL: it exits 0 when another account had mail"},
    Avoidance{"fetchmail", "over-polling",
              "poll no more often than the provider's LOGIN-DELAY (set daemon N)"},
    Avoidance{"getmail6", "over-polling",
              "poll no more often than the provider's LOGIN-DELAY (the cron interval)"},
};

}  // namespace

std::string_view avoidance(std::string_view fetcher, std::string_view finding_type) {
  for (const auto& a : kAvoidances)
    if (a.fetcher == fetcher && a.type == finding_type) return a.text;
  return {};
}

}  // namespace dropcheck::probe

#pragma once
// What to configure for a provider, decided once from its (inferred) profile: the probe's
// recommended configurations are written from it, and `dropcheck run --provider` plays the
// scenario library with every fetcher configured by it (one implementation for both).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "probe/probe.hpp"

namespace dropcheck::probe {

// What no fetcher can recover from a provider, however it is configured.
enum class ProviderLimit {
  no_envelope_header,   // envelope-only (BCC) recipients are lost; the rest is guessed or
                        // goes to the fallback
  login_delay,          // polls closer than LOGIN-DELAY are refused: mail waits longer
  received_for_shared,  // only the Received line's "for" names the recipient, and one copy
                        // serves several: mail to several local recipients (BCC) is lost
};

std::string_view limit_name(ProviderLimit l);  // "no-envelope-header"
std::string_view limit_text(ProviderLimit l);  // one sentence for reports

struct Advice {
  std::string envelope_header;           // "" = none: route everything to the fallback mailbox;
                                         // "Received": the for clause of received_by's line
  std::string received_by;               // the provider's MX (header Received only)
  int occurrence = 0;                    // 0: every line of it; N: the Nth line from the top
  bool qmail_prefix = false;             // strip "domain-" from the local part (fetchmail qvirtual)
  std::int64_t min_poll_interval_s = 0;  // LOGIN-DELAY
  std::vector<ProviderLimit> limits;
  // fetchmail reads one line of the envelope header: with one shared copy listing one
  // recipient per line it misses the others.
  bool fetchmail_misses_lines = false;
};

Advice advise(const InferredProfile& p);

// What avoids a finding type a fetcher kind ("fetchmail", "getmail6") shows with a correct
// configuration, where something does ("" where nothing does): the probe's recommended
// configurations and the matrix verdicts use these words.
std::string_view avoidance(std::string_view fetcher, std::string_view finding_type);

}  // namespace dropcheck::probe

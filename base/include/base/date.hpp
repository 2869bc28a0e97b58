#pragma once
// RFC 5322 3.3 date-time, as trace lines (Received) carry it. Shared by the fetcher core's
// Received line and the fake provider's MX stamp.
#include <chrono>
#include <string>

namespace dropcheck::base {

// "Sat, 21 Nov 2026 10:00:00 +0000" for milliseconds since the Unix epoch (UTC).
std::string rfc5322_date(std::chrono::milliseconds since_epoch);

}  // namespace dropcheck::base

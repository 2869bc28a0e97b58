#pragma once
// Recipient resolution and header rewriting for one retrieved message, free of I/O.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "fetcher/config.hpp"

namespace dropcheck::fetcher {

struct Route {
  std::string mail_from;                // reverse path without <>; "" is the null sender
  std::vector<std::string> recipients;  // local mailboxes, de-duplicated
  std::vector<std::string> notes;       // why: one entry per decision ("a@x: envelope", ...)
  std::string message;                  // bytes to deliver (headers stripped, Received added)
  bool alert = false;                   // something an admin must see (missing header, ...)
  std::string error;                    // non-empty: unparsable, deliver to fallback if any
  // Nothing could be routed: `recipients` is empty and `alert` is set (no local envelope
  // recipient, a missing or damaged envelope header or an unparsable header section with no
  // fallback configured, or a mail loop). The cycle must keep such a message on the provider
  // (never DELE it): a message leaves the provider only after a local mailbox has it.
  bool unroutable = false;
};

// Where and when a message is routed: what the Received line the core adds says.
struct RouteContext {
  // The account name (Config::name): "by <received_by> (dropcheck fetcher core)" is the marker
  // the loop guard looks for in existing Received lines. Its text never changes, so copies
  // stamped by older versions are still recognised.
  std::string_view received_by;
  std::string_view provider;        // the POP3 host the message was retrieved from
  std::string_view account;         // the POP3 user (the catch-all mailbox) at the provider
  std::chrono::milliseconds now{};  // since the Unix epoch (base::Clock::now()): the date
};

// The correct core's routing.
Route route_message(const Config& config, std::string_view raw, const RouteContext& context);

// RFC 5322 3.3 date-time in UTC, e.g. "Sat, 21 Nov 2026 10:00:00 +0000" (seconds truncated).
std::string rfc5322_date(std::chrono::milliseconds since_epoch);

// Whether `addr` is at one of the local domains.
bool is_local(const Routing& routing, std::string_view addr);

}  // namespace dropcheck::fetcher

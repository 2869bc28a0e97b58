#pragma once
// Recipient resolution and header rewriting for one retrieved message, free of I/O.
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
};

// The correct core's routing. `id` names the fetcher in the Received line it adds.
Route route_message(const Config& config, std::string_view raw, std::string_view received_by);

// Whether `addr` is at one of the local domains.
bool is_local(const Routing& routing, std::string_view addr);

}  // namespace dropcheck::fetcher

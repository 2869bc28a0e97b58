#pragma once
// Reaching a server by name: the resolver's addresses (IPv4 and IPv6) tried in order.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/connection.hpp"

namespace dropcheck::client {

struct Endpoint {
  std::string host;  // a DNS name or an address literal (IPv6 without brackets)
  std::uint16_t port = 0;
};

// Whether `host` is an IPv4 or IPv6 address literal or a DNS host name: dot-separated labels
// of letters, digits and inner hyphens, each 1-63 octets, 253 in all (RFC 1123 2.1, RFC 1035
// 2.3.4), the last not all digits; a trailing dot is allowed. What pop3.host and smtp.host
// accept.
bool valid_host(std::string_view host);

// Resolves `ep.host` (a literal needs no resolver) and connects to its addresses in order,
// at most kMaxConnectAddresses, each attempt under `timeout`. False with `error` saying which
// name or address failed and why.
net::awaitable<bool> connect(net::Connection& conn, const Endpoint& ep,
                             std::chrono::milliseconds timeout, std::string& error);

}  // namespace dropcheck::client

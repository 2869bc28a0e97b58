#pragma once
// RFC 5322 3.4 addresses: address-list / mailbox-list incl. groups, display names
// (quoted, unquoted, RFC 2047 encoded-words kept raw), comments, angle and obsolete
// route addresses, quoted local parts, domain literals, UTF-8 (RFC 6532).
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace dropcheck::mail {

struct Address {
  std::string display_name;  // decoded of quoting, RFC 2047 words left as written
  std::string local_part;    // as written, quotes removed only where not needed
  std::string domain;        // as written
  std::string group;         // name of the enclosing group, empty when none
  // "local@domain" with the domain lower-cased (local parts are case-sensitive, RFC 5321 2.4).
  std::string addr_spec() const;
};

// Parses an address-list (groups allowed). Empty groups ("undisclosed-recipients:;") yield
// no addresses. Errors name the offset and what was expected.
base::Result<std::vector<Address>> parse_address_list(std::string_view value);

// Lower-cases the domain of "local@domain" and strips surrounding <> and whitespace.
std::string normalize_address(std::string_view addr);

// The domain part of an address (after the last '@'), lower-cased; empty when none.
std::string domain_of(std::string_view addr);

}  // namespace dropcheck::mail

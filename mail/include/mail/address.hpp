#pragma once
// RFC 5322 3.4 addresses: address-list / mailbox-list incl. groups, display names
// (quoted, unquoted, RFC 2047 encoded-words kept raw), comments, angle and obsolete
// route addresses, quoted local parts, domain literals, UTF-8 (RFC 6532).
#include <span>
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

// mailbox-list (RFC 5322 3.4): as parse_address_list, but a group is an error
// ("group-not-allowed").
base::Result<std::vector<Address>> parse_mailbox_list(std::string_view value);

// Exactly one addr-spec, optionally in angle brackets (with obsolete route), CFWS around it
// allowed; anything else is an error.
base::Result<Address> parse_addr_spec(std::string_view value);

// Error codes of the parsers: "unterminated-quoted-string", "unterminated-comment",
// "unterminated-domain-literal", "unexpected-character", "expected-comma", "expected-at",
// "expected-address", "expected-local-part", "bad-local-part", "expected-domain",
// "expected-angle-close", "expected-colon", "empty-address", "expected-group-name",
// "nested-group", "group-not-allowed", "trailing-garbage". Messages end in "at offset N".

// `Display Name <local@domain>` (display name quoted when needed) or `local@domain`.
std::string format_address(const Address& address);
// Addresses joined by ", "; consecutive addresses of the same group as "group: a, b;".
std::string format_address_list(std::span<const Address> addresses);

// Lower-cases the domain of "local@domain" and strips surrounding <> and whitespace.
std::string normalize_address(std::string_view addr);

// The domain part of an address (after the last '@'), lower-cased; empty when none.
std::string domain_of(std::string_view addr);

// RFC 2047 encoded-words in a display name or unstructured text, decoded to UTF-8. B and Q
// encodings; charsets UTF-8, US-ASCII and ISO-8859-1 (converted), others are left as written,
// as is every malformed word. Whitespace between adjacent encoded-words is dropped (6.2).
// RFC 2231 language tags ("utf-8*de") are accepted and ignored.
std::string decode_encoded_words(std::string_view text);

// IDN (RFC 5890/3492): a domain with UTF-8 labels converted to its ASCII form ("xn--" labels,
// Punycode), ASCII letters lower-cased. No Unicode normalisation or case mapping (UTS 46)
// beyond ASCII. Error "bad-idn" for invalid UTF-8 or a label Punycode cannot encode.
base::Result<std::string> domain_to_ascii(std::string_view domain);

// Case-insensitive domain comparison that treats a UTF-8 domain and its "xn--" form as equal.
bool same_domain(std::string_view a, std::string_view b);

}  // namespace dropcheck::mail

#pragma once
// POP3 client side, sans I/O: what a client reads out of a greeting, a CAPA
// list (RFC 2449) and the scan listings of LIST/UIDL (RFC 1939 5, 7). Total on
// any input; never throws.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::protocol {

struct Pop3Capabilities {
  std::vector<std::string> lines;  // as received, trimmed, in order
  // RFC 2449 6: capability names are case-insensitive.
  bool has(std::string_view name) const;
  // The argument text after the name ("900" of "LOGIN-DELAY 900"); nullopt when
  // absent.
  std::optional<std::string> argument(std::string_view name) const;
  // SASL mechanisms (RFC 5034 5), upper-cased.
  std::vector<std::string> sasl_mechanisms() const;
};

// A CAPA body as decoded by DotDecoder (lines with CRLF or LF endings).
Pop3Capabilities parse_pop3_capa(std::string_view body);

// The APOP timestamp "<...@...>" of a greeting text (RFC 1939 7); "" when there
// is none.
std::string apop_timestamp(std::string_view greeting_text);

// One "n value" line of a multi-line LIST or UIDL response.
struct Pop3ScanLine {
  std::size_t number = 0;
  std::string value;  // size (LIST) or unique-id (UIDL), as written
};
// Lines that are not "<number> <value>" are skipped (counted in `malformed`
// when given).
std::vector<Pop3ScanLine> parse_scan_listing(std::string_view body,
                                             std::size_t *malformed = nullptr);

}  // namespace dropcheck::protocol

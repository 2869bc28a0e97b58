#pragma once
// POP3 client side (RFC 1939, RFC 2449): status lines with response codes. Multi-line bodies
// use protocol::DotDecoder.
#include <string>
#include <string_view>

namespace dropcheck::protocol {

struct Pop3Status {
  bool ok = false;        // "+OK"
  bool valid = false;     // the line started with +OK or -ERR
  std::string resp_code;  // RFC 2449 8: "IN-USE", "LOGIN-DELAY", "SYS/TEMP", ... (upper-case)
  std::string text;       // the rest of the line, without the response code and CRLF
};

Pop3Status parse_pop3_status(std::string_view line);

}  // namespace dropcheck::protocol

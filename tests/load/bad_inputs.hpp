#pragma once
// Generated bad input lines (deterministic, seeded): each must get exactly one error reply from
// a server in its first state after the greeting (SMTP: after EHLO; POP3: before login). None
// contains LF; CR, NUL, 8-bit octets and overlong lines are among them.
#include <cstdint>
#include <random>
#include <string>

namespace dropcheck::load {

inline std::string random_octets(std::mt19937& rng, std::size_t n, bool eight_bit) {
  std::string s;
  std::uniform_int_distribution<int> d(eight_bit ? 1 : 0x21, eight_bit ? 255 : 0x7e);
  while (s.size() < n) {
    const char c = static_cast<char>(d(rng));
    if (c != '\n' && c != '\r') s.push_back(c);
  }
  return s;
}

// Not UTF-8: a truncated sequence, an overlong form, a surrogate or a stray continuation.
inline std::string bad_utf8(std::mt19937& rng) {
  static const char* const kBad[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                     "\x80", "\xff",     "\xf4\x90\x80\x80"};
  return std::string("u") + kBad[rng() % 6] + "x";
}

// SMTP, state "ready" (after EHLO, no transaction).
inline std::string bad_smtp_line(std::mt19937& rng) {
  switch (rng() % 14) {
    case 0:
      return "X-" + random_octets(rng, 1 + rng() % 60, true);
    case 1:
      return "MAIL FROM:<" + bad_utf8(rng) + "@src.example> SMTPUTF8";
    case 2:
      return "RCPT TO:<" + bad_utf8(rng) + "@firma.example>";  // no MAIL: 503
    case 3:
      return "EHLO a\r" + random_octets(rng, 1 + rng() % 10, false);
    case 4:
      return "DATA";  // no MAIL: 503
    case 5:
      return "BDAT " + random_octets(rng, 1 + rng() % 5, false).replace(0, 1, "x");
    case 6:
      return std::string(1001 + rng() % 3000, 'A');
    case 7:
      return "MAIL FROM:<a@src.example> SIZE=" + random_octets(rng, 3, false).replace(0, 1, "z");
    case 8:
      return std::string("NOOP\0", 5) + random_octets(rng, 5, false);
    case 9:
      return "AUTH PLAIN " + random_octets(rng, 12, false);
    case 10:
      return "MAIL TO:<" + random_octets(rng, 8, false) + ">";
    case 11:
      return "VRFY";
    case 12:
      return "HELO";
    default:
      return "RSET " + random_octets(rng, 1 + rng() % 8, false);
  }
}

// POP3, AUTHORIZATION state (RFC 1939 4).
inline std::string bad_pop3_line(std::mt19937& rng) {
  switch (rng() % 9) {
    case 0:
      return "X-" + random_octets(rng, 1 + rng() % 60, true);
    case 1:
      return "USER";
    case 2:
      return "PASS " + random_octets(rng, 8, false);  // no USER first
    case 3:
      return "RETR " + std::to_string(rng() % 100);
    case 4:
      return "STAT";
    case 5:
      return std::string(300 + rng() % 3000, 'B');
    case 6:
      return std::string("CAPA\0", 5) + random_octets(rng, 3, false);
    case 7:
      return "DELE " + random_octets(rng, 4, true);
    default:
      return "AUTH X-" + random_octets(rng, 6, false);
  }
}

}  // namespace dropcheck::load

#pragma once
// Small string helpers shared by every component (ASCII only, no locale).
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::base {

// Inline: the analyzer folds every octet of millions of header lines through it.
constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
// RFC 4648 base64 (with padding) and its lenient decoder (skips characters outside the alphabet).
std::string base64_encode(std::string_view in);
std::string base64_decode(std::string_view in);
// The same for text that holds only alphabet characters and '=' (anywhere); nullopt on any
// other octet. One pass: truth.json's raw_base64 is checked and decoded at once.
std::optional<std::string> base64_decode_alphabet(std::string_view in);
// Strict RFC 4648 section 4: padding required, no whitespace; nullopt on any deviation.
std::optional<std::string> base64_decode_strict(std::string_view in);
// The value of one base64 alphabet character, -1 for anything else.
int base64_value(char c);
// Escapes & < > " ' for XML and HTML text and attributes; control characters that XML 1.0
// forbids (all below 0x20 except tab and newline) become spaces.
std::string xml_escape(std::string_view s);
// Offset of the first octet of `s` that is not well-formed UTF-8 (RFC 3629 3: no overlong
// forms, no surrogates, nothing past U+10FFFF), npos when all of it is.
std::size_t invalid_utf8_at(std::string_view s);
bool valid_utf8(std::string_view s);
// RFC 1123 2.1 host name: LDH labels of 1..63 octets, no '-' at either end, at most 253 octets
// (RFC 1035 2.3.4; a final dot allowed); the last label not all digits, so that a mistyped
// IPv4 address ("1.2.3.999") is not taken for a name.
bool is_dns_name(std::string_view s);
// Hex-encoded SHA-256 of `data` (OpenSSL EVP).
std::string sha256_hex(std::string_view data);
// The same, fed in pieces (a message streamed to disk): update() any number of times, then hex()
// or digest() once; reset() starts another hash in the same context (the analyzer hashes
// millions of small bodies with one).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex();
  // The 32 octets themselves (no hex string: the analyzer compares millions of them).
  std::array<unsigned char, 32> digest();
  void reset();

 private:
  void* ctx_;  // EVP_MD_CTX (OpenSSL stays out of this header)
};
}  // namespace dropcheck::base

#pragma once
// Small string helpers shared by every component (ASCII only, no locale).
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::base {

char ascii_lower(char c);
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
// RFC 4648 base64 (with padding) and its lenient decoder (skips characters outside the alphabet).
std::string base64_encode(std::string_view in);
std::string base64_decode(std::string_view in);
// Hex-encoded SHA-256 of `data` (OpenSSL EVP).
std::string sha256_hex(std::string_view data);

}  // namespace dropcheck::base

// RFC 2047 encoded-word decoding and IDN (Punycode, RFC 3492) for mail/address.hpp.
#include <cstdint>
#include <string>
#include <vector>

#include "base/strings.hpp"
#include "mail/address.hpp"

namespace dropcheck::mail {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_q(std::string_view in, std::string& out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '_') {
      out.push_back(' ');
    } else if (c == '=') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

bool decode_b(std::string_view in, std::string& out) {
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return false;
    const int v = base::base64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return pad <= 2;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Strict UTF-8 decoding (no overlongs, no surrogates); false on invalid input.
bool utf8_decode(std::string_view s, std::vector<std::uint32_t>& out) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::uint32_t cp;
    std::size_t len;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if ((b0 & 0xe0) == 0xc0) {
      cp = b0 & 0x1fu;
      len = 2;
    } else if ((b0 & 0xf0) == 0xe0) {
      cp = b0 & 0x0fu;
      len = 3;
    } else if ((b0 & 0xf8) == 0xf0) {
      cp = b0 & 0x07u;
      len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3fu);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    out.push_back(cp);
    i += len;
  }
  return true;
}

// One encoded-word "=?charset?enc?text?=" starting at s[0]; on success sets `len` and appends
// the decoded UTF-8 to `out`.
bool decode_word(std::string_view s, std::size_t& len, std::string& out) {
  if (s.size() < 8 || s[0] != '=' || s[1] != '?') return false;
  const auto q1 = s.find('?', 2);
  if (q1 == std::string_view::npos || q1 + 2 >= s.size() || s[q1 + 2] != '?') return false;
  const auto end = s.find("?=", q1 + 3);
  if (end == std::string_view::npos) return false;
  std::string_view charset = s.substr(2, q1 - 2);
  const char enc = base::ascii_lower(s[q1 + 1]);
  const std::string_view text = s.substr(q1 + 3, end - (q1 + 3));
  if (text.find_first_of(" \t\r\n") != std::string_view::npos) return false;
  if (const auto star = charset.find('*'); star != std::string_view::npos)
    charset = charset.substr(0, star);  // RFC 2231 language
  std::string raw;
  if (enc == 'q') {
    if (!decode_q(text, raw)) return false;
  } else if (enc == 'b') {
    if (!decode_b(text, raw)) return false;
  } else {
    return false;
  }
  if (base::iequals(charset, "utf-8") || base::iequals(charset, "us-ascii")) {
    std::vector<std::uint32_t> cps;
    if (!utf8_decode(raw, cps)) return false;
    out.append(raw);
  } else if (base::iequals(charset, "iso-8859-1") || base::iequals(charset, "latin1")) {
    for (char c : raw) append_utf8(out, static_cast<unsigned char>(c));
  } else {
    return false;  // unknown charset: keep the word as written
  }
  len = end + 2;
  return true;
}

// RFC 3492 Punycode encoder (bootstring parameters for IDNA).
bool punycode_encode(const std::vector<std::uint32_t>& in, std::string& out) {
  constexpr std::uint32_t kBase = 36, kTMin = 1, kTMax = 26, kSkew = 38, kDamp = 700;
  const auto adapt = [&](std::uint32_t delta, std::uint32_t points, bool first) {
    delta = first ? delta / kDamp : delta / 2;
    delta += delta / points;
    std::uint32_t k = 0;
    while (delta > ((kBase - kTMin) * kTMax) / 2) {
      delta /= kBase - kTMin;
      k += kBase;
    }
    return k + (kBase - kTMin + 1) * delta / (delta + kSkew);
  };
  const auto digit = [](std::uint32_t d) {
    return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
  };
  std::uint32_t n = 128, delta = 0, bias = 72;
  std::uint32_t h = 0;
  for (std::uint32_t c : in)
    if (c < 0x80) {
      out.push_back(base::ascii_lower(static_cast<char>(c)));
      ++h;
    }
  const std::uint32_t b = h;
  if (b > 0) out.push_back('-');
  const auto total = static_cast<std::uint32_t>(in.size());
  while (h < total) {
    std::uint32_t m = 0xffffffff;
    for (std::uint32_t c : in)
      if (c >= n && c < m) m = c;
    if ((m - n) > (0xffffffffu - delta) / (h + 1)) return false;  // overflow
    delta += (m - n) * (h + 1);
    n = m;
    for (std::uint32_t c : in) {
      if (c < n && ++delta == 0) return false;
      if (c == n) {
        std::uint32_t q = delta;
        for (std::uint32_t k = kBase;; k += kBase) {
          const std::uint32_t t = k <= bias ? kTMin : (k >= bias + kTMax ? kTMax : k - bias);
          if (q < t) break;
          out.push_back(digit(t + (q - t) % (kBase - t)));
          q = (q - t) / (kBase - t);
        }
        out.push_back(digit(q));
        bias = adapt(delta, h + 1, h == b);
        delta = 0;
        ++h;
      }
    }
    ++delta;
    ++n;
  }
  return true;
}

}  // namespace

std::string decode_encoded_words(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  bool prev_word = false;      // the last thing appended was a decoded encoded-word
  std::size_t pending_ws = 0;  // whitespace after it, held back until we know what follows
  while (i < text.size()) {
    std::size_t len = 0;
    std::string decoded;
    if (text[i] == '=' && decode_word(text.substr(i), len, decoded)) {
      if (!prev_word) out.append(text.substr(i - pending_ws, pending_ws));
      pending_ws = 0;
      out.append(decoded);
      i += len;
      prev_word = true;
      continue;
    }
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++pending_ws;
      ++i;
      continue;
    }
    out.append(text.substr(i - pending_ws, pending_ws));
    pending_ws = 0;
    out.push_back(c);
    prev_word = false;
    ++i;
  }
  out.append(text.substr(text.size() - pending_ws, pending_ws));
  return out;
}

base::Result<std::string> domain_to_ascii(std::string_view domain) {
  std::string out;
  out.reserve(domain.size() + 8);
  std::size_t start = 0;
  while (start <= domain.size()) {
    auto dot = domain.find('.', start);
    if (dot == std::string_view::npos) dot = domain.size();
    const std::string_view label = domain.substr(start, dot - start);
    if (start > 0) out.push_back('.');
    bool ascii = true;
    for (char c : label) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) {
      out.append(base::to_lower(label));
    } else {
      std::vector<std::uint32_t> cps;
      if (!utf8_decode(label, cps))
        return base::make_error("bad-idn",
                                "invalid UTF-8 in domain label at offset " + std::to_string(start));
      out.append("xn--");
      if (!punycode_encode(cps, out))
        return base::make_error("bad-idn",
                                "label cannot be encoded at offset " + std::to_string(start));
    }
    start = dot + 1;
  }
  return out;
}

bool same_domain(std::string_view a, std::string_view b) {
  if (base::iequals(a, b)) return true;
  auto x = domain_to_ascii(a);
  auto y = domain_to_ascii(b);
  return x.ok() && y.ok() && *x == *y;
}

}  // namespace dropcheck::mail

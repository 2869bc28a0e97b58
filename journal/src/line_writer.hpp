#pragma once
// The journal's JSON line printer (private to journal/).
#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/strings.hpp"

namespace dropcheck::journal::detail {

// Writes one JSON line. The journal is on the hot path of every transaction: building a
// nlohmann::json object per record (a std::map per object) and dumping it was a third of the
// server's CPU time in bench/fake-smtp (see bench/README.md). What is written here is read back
// without a tree by line_scanner.hpp; tests check it parses back to the same record.
class LineWriter {
  static constexpr auto kEscape = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = true;
    t['"'] = t['\\'] = true;
    return t;
  }();

 public:
  explicit LineWriter(std::string& out) : out_(out) {}

  // A bit set in the top bit of each of the eight octets at p that is a control, '"' or '\\'
  // (SWAR: a zero octet in w ^ c marks an octet equal to c; an octet below 0x20 borrows in
  // w - 0x20..). A borrow can only mark octets above a true one, so the lowest bit is exact.
  // kStop8bit: octets from 0x80 on are marked too (the reader checks their UTF-8 there).
  template <bool kStop8bit = false>
  static std::uint64_t escape_mask8(const char* p) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ull;
    constexpr std::uint64_t kHigh = 0x8080808080808080ull;
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    const auto zero_in = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    return ((w - kOnes * 0x20) & ~w & kHigh) | zero_in(w ^ (kOnes * '"')) |
           zero_in(w ^ (kOnes * '\\')) | (kStop8bit ? w & kHigh : 0);
  }
  // The index of the first octet from `i` on that needs escaping (kStop8bit: or is 0x80 or
  // above), or s.size().
  template <bool kStop8bit = false>
  static std::size_t next_escape(std::string_view s, std::size_t i) {
    static_assert(std::endian::native == std::endian::little, "escape_mask8 reads octets LE");
    for (; i + 8 <= s.size(); i += 8) {
      if (const std::uint64_t m = escape_mask8<kStop8bit>(s.data() + i))
        return i + static_cast<std::size_t>(std::countr_zero(m)) / 8;
    }
    const auto stops = [](unsigned char c) { return kEscape[c] || (kStop8bit && c >= 0x80); };
    while (i < s.size() && !stops(static_cast<unsigned char>(s[i]))) ++i;
    return i;
  }

  LineWriter& key(std::string_view k) {  // k: a plain ASCII constant, at most 60 octets
    char buf[64];
    std::size_t n = 0;
    if (!first_) buf[n++] = ',';
    buf[n++] = '"';
    std::memcpy(buf + n, k.data(), k.size());
    n += k.size();
    buf[n++] = '"';
    buf[n++] = ':';
    out_.append(buf, n);
    first_ = true;
    return *this;
  }
  void open(char c) {
    separate();
    out_.push_back(c);
    first_ = true;
  }
  void close(char c) {
    out_.push_back(c);
    first_ = false;
  }
  void boolean(bool v) {
    separate();
    out_.append(v ? "true" : "false");
  }
  template <typename T>
  void number(T v) {
    separate();
    char buf[24];
    const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    out_.append(buf, static_cast<std::size_t>(end - buf));
  }
  // A string that is valid UTF-8 (RFC 8259 7: escape quote, backslash and controls).
  void string(std::string_view s) {
    separate();
    out_.push_back('"');
    std::size_t run = 0;
    for (std::size_t i = next_escape(s, 0); i < s.size(); i = next_escape(s, run)) {
      const auto c = static_cast<unsigned char>(s[i]);
      out_.append(s.data() + run, i - run);
      run = i + 1;
      switch (c) {
        case '"':
          out_.append("\\\"");
          break;
        case '\\':
          out_.append("\\\\");
          break;
        case '\n':
          out_.append("\\n");
          break;
        case '\r':
          if (run < s.size() && s[run] == '\n') {  // CRLF, the common case, in one append
            out_.append("\\r\\n", 4);
            ++run;
          } else {
            out_.append("\\r");
          }
          break;
        case '\t':
          out_.append("\\t");
          break;
        default: {
          static constexpr char kHex[] = "0123456789abcdef";
          const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out_.append(u, 6);
        }
      }
    }
    out_.append(s.data() + run, s.size() - run);
    out_.push_back('"');
  }
  // Octets: a string when valid UTF-8, else {"hex": "..."}.
  void bytes(std::string_view s) {
    if (base::valid_utf8(s)) {
      string(s);
      return;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    open('{');
    key("hex");
    separate();
    out_.push_back('"');
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      out_.push_back(kHex[c >> 4]);
      out_.push_back(kHex[c & 0xF]);
    }
    out_.push_back('"');
    close('}');
  }

 private:
  void separate() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace dropcheck::journal::detail

#include "line_scanner.hpp"

#include <charconv>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

#include "base/strings.hpp"
#include "journal/fields.hpp"
#include "line_writer.hpp"

namespace dropcheck::journal::detail {
namespace {

// Equality of n octets, n a constant: a few word loads inlined (GCC calls memcmp for a constant
// length that is not a power of two, once per member of every line).
template <std::size_t k>
auto load(const char* p) {
  using Word = std::conditional_t<k == 8, std::uint64_t,
                                  std::conditional_t<k == 4, std::uint32_t, std::uint16_t>>;
  Word w;
  std::memcpy(&w, p, k);
  return w;
}
template <std::size_t n>
bool same(const char* a, const char* b) {
  if constexpr (n >= 8) {
    for (std::size_t k = 0; k + 8 < n; k += 8)
      if (load<8>(a + k) != load<8>(b + k)) return false;
    return load<8>(a + n - 8) == load<8>(b + n - 8);
  } else if constexpr (n >= 4) {
    return load<4>(a) == load<4>(b) && load<4>(a + n - 4) == load<4>(b + n - 4);
  } else if constexpr (n >= 2) {
    return load<2>(a) == load<2>(b) && load<2>(a + n - 2) == load<2>(b + n - 2);
  } else {
    return n == 0 || *a == *b;
  }
}

// A position in a line and the few forms LineWriter writes. Every method returns false (and
// the whole scan is abandoned) on anything it does not expect.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}

  bool done() const { return i_ == s_.size(); }
  bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool take(char c) {
    if (!peek(c)) return false;
    ++i_;
    return true;
  }
  // ',' unless first, then "name": (names are plain ASCII literals). The length is a constant,
  // so the comparison is a few inlined loads, not a libc memcmp call per member.
  template <std::size_t N>
  bool key(const char (&name)[N], bool first) {
    constexpr std::size_t n = N - 1;
    if (!first && !take(',')) return false;
    if (s_.size() - i_ < n + 3 || s_[i_] != '"' || !same<n>(s_.data() + i_ + 1, name) ||
        s_[i_ + 1 + n] != '"' || s_[i_ + 2 + n] != ':')
      return false;
    i_ += n + 3;
    return true;
  }
  bool boolean(bool& b) {
    const bool t = word("true");
    if (!t && !word("false")) return false;
    b = t;
    return true;
  }
  // The literal `w` next (then skipped).
  template <std::size_t N>
  bool word(const char (&w)[N]) {
    if (s_.size() - i_ < N - 1 || !same<N - 1>(s_.data() + i_, w)) return false;
    i_ += N - 1;
    return true;
  }
  // An integer as JSON writes it (no leading zeros, no fraction or exponent) in T's range.
  template <std::integral T>
  bool integer(T& n) {
    const char* const first = s_.data() + i_;
    const char* const last = s_.data() + s_.size();
    const char* digits = first + (first < last && *first == '-' ? 1 : 0);
    if (digits < last && *digits == '0' && digits + 1 < last && is_digit(digits[1])) return false;
    const auto [end, ec] = std::from_chars(first, last, n);
    if (ec != std::errc() || (end < last && (*end == '.' || *end == 'e' || *end == 'E')))
      return false;
    i_ = static_cast<std::size_t>(end - s_.data());
    return true;
  }
  // A JSON string, its non-ASCII octets checked to be well-formed UTF-8 where they are met (the
  // only place a line in the writer's form has any: an 8-bit octet anywhere else fails the
  // scan), so no separate pass over the line is needed.
  bool string(std::string& out) {
    out.clear();
    if (!take('"')) return false;
    for (bool reserved = false;;) {
      const std::size_t stop = LineWriter::next_escape<true>(s_, i_);
      if (!reserved && (stop >= s_.size() || s_[stop] != '"')) {
        // More than one piece: room for the rest of the line, which escapes only shorten (the
        // message, last on the line, would otherwise grow five times).
        out.reserve(s_.size() - i_);
        reserved = true;
      }
      out.append(s_.data() + i_, stop - i_);
      i_ = stop;
      if (i_ >= s_.size()) return false;
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (word("\\r\\n")) {  // CRLF, the common escape (every line of a message)
        out.append("\r\n", 2);
      } else if (static_cast<unsigned char>(c) >= 0x80) {
        if (!utf8_sequence(out)) return false;
      } else if (c == '\\') {
        ++i_;
        if (!escape(out)) return false;
      } else {
        return false;  // a control character
      }
    }
  }
  // Octets as LineWriter::bytes writes them: a string, or {"hex":"..."} (lower-case digits).
  bool bytes(std::string& out, std::string& scratch) {
    if (!peek('{')) return string(out);
    if (!take('{') || !key("hex", true) || !string(scratch) || !take('}') || scratch.size() % 2)
      return false;
    out.clear();
    for (std::size_t k = 0; k < scratch.size(); k += 2) {
      const int hi = hex_digit(scratch[k]), lo = hex_digit(scratch[k + 1]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return true;
  }

 private:
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static int hex_digit(char c) {
    if (is_digit(c)) return c - '0';
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  }
  // The UTF-8 sequence at i_ (its lead octet at least 0x80), if well-formed, appended.
  bool utf8_sequence(std::string& out) {
    const auto lead = static_cast<unsigned char>(s_[i_]);
    const std::size_t n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (s_.size() - i_ < n || base::invalid_utf8_at(s_.substr(i_, n)) != std::string_view::npos)
      return false;
    out.append(s_, i_, n);
    i_ += n;
    return true;
  }
  bool escape(std::string& out) {
    if (i_ >= s_.size()) return false;
    switch (s_[i_++]) {
      case '"':
        out.push_back('"');
        return true;
      case '\\':
        out.push_back('\\');
        return true;
      case '/':
        out.push_back('/');
        return true;
      case 'b':
        out.push_back('\b');
        return true;
      case 'f':
        out.push_back('\f');
        return true;
      case 'n':
        out.push_back('\n');
        return true;
      case 'r':
        out.push_back('\r');
        return true;
      case 't':
        out.push_back('\t');
        return true;
      case 'u':
        return unicode(out);
      default:
        return false;
    }
  }
  std::optional<unsigned> hex4() {
    if (s_.size() - i_ < 4) return std::nullopt;
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = base::ascii_lower(s_[i_++]);
      const int d = hex_digit(c);
      if (d < 0) return std::nullopt;
      v = v * 16 + static_cast<unsigned>(d);
    }
    return v;
  }
  // \uXXXX (after "\u"), a surrogate pair as one code point; a lone surrogate gives up.
  bool unicode(std::string& out) {
    auto cp = hex4();
    if (!cp || (*cp >= 0xDC00 && *cp <= 0xDFFF)) return false;
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
      if (!take('\\') || !take('u')) return false;
      const auto lo = hex4();
      if (!lo || *lo < 0xDC00 || *lo > 0xDFFF) return false;
      cp = 0x10000 + ((*cp - 0xD800) << 10) + (*lo - 0xDC00);
    }
    append_utf8(*cp, out);
    return true;
  }
  static void append_utf8(unsigned cp, std::string& out) {
    const auto put = [&](unsigned v) { out.push_back(static_cast<char>(v)); };
    if (cp < 0x80) {
      put(cp);
    } else if (cp < 0x800) {
      put(0xC0 | (cp >> 6));
      put(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      put(0xE0 | (cp >> 12));
      put(0x80 | ((cp >> 6) & 0x3F));
      put(0x80 | (cp & 0x3F));
    } else {
      put(0xF0 | (cp >> 18));
      put(0x80 | ((cp >> 12) & 0x3F));
      put(0x80 | ((cp >> 6) & 0x3F));
      put(0x80 | (cp & 0x3F));
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// Members delivery_of does not read: scanned (so a line is accepted exactly when the tree
// reader accepts it) but not stored under Fields::analysis.
// The name's length is a constant: only names of that length are compared, each inline
// (twelve strcmp calls per member were a tenth of the reader thread's time at 1M records).
template <std::size_t N>
bool skipped(const char (&name)[N], Fields keep) {
  if (keep == Fields::all) return false;
  static constexpr std::string_view kSkipped[] = {
      "client", "helo_verb", "helo",    "mail_params", "mail_reply", "body_type",
      "reply",  "params",    "mailbox", "data_reply",  "end_reason", "faults"};
  for (const std::string_view s : kSkipped)
    if (s.size() == N - 1 && same<N - 1>(s.data(), name)) return true;
  return false;
}

// journal/fields.hpp's description, scanned: each member in its order, "name":value.
struct Scan {
  Cursor& c;
  bool& ok;
  Fields keep;
  std::string& scratch;  // a hex or base64 text before decoding
  std::string& skip;     // a member not stored
  bool first = true;

  template <std::size_t N>
  bool next(const char (&name)[N]) {
    ok = ok && c.key(name, first);
    first = false;
    return ok;
  }
  template <std::size_t N>
  void operator()(const char (&name)[N], std::string& s) {
    if (next(name)) ok = c.bytes(skipped(name, keep) ? skip : s, scratch);
  }
  template <std::size_t N>
  void operator()(const char (&name)[N], bool& b) {
    if (next(name)) ok = c.boolean(b);
  }
  template <std::size_t N, std::integral T>
  void operator()(const char (&name)[N], T& n) {
    if (next(name)) ok = c.integer(n);
  }
  template <std::size_t N>
  void operator()(const char (&name)[N], std::vector<std::string>& xs) {
    if (!next(name) || !c.take('[')) return void(ok = false);
    const bool store = !skipped(name, keep);
    for (bool first_elem = true; ok && !c.take(']'); first_elem = false) {
      if (!first_elem && !c.take(',')) return void(ok = false);
      if (!store) {
        ok = c.bytes(skip, scratch);
        continue;
      }
      xs.emplace_back();
      ok = c.bytes(xs.back(), scratch);
    }
  }
  template <std::size_t N, typename R>
  void operator()(const char (&name)[N], std::vector<R>& xs) {
    if (!next(name) || !c.take('[')) return void(ok = false);
    for (bool first_elem = true; ok && !c.take(']'); first_elem = false) {
      if ((!first_elem && !c.take(',')) || !c.take('{')) return void(ok = false);
      if (xs.empty()) xs.reserve(4);  // a transaction's commands: MAIL, RCPT, DATA, ...
      describe(xs.emplace_back(), Scan{c, ok, keep, scratch, skip});
      ok = ok && c.take('}');
    }
  }
};

// The optional inline message after the described members: a string, or {"base64":"..."}.
bool scan_message(Cursor& c, TransactionRecord& rec, std::string& scratch) {
  if (c.peek('}')) return true;
  if (!c.key("message", false)) return false;
  if (c.peek('{')) {
    if (!c.take('{') || !c.key("base64", true) || !c.string(scratch) || !c.take('}')) return false;
    auto decoded = base::base64_decode_strict(scratch);
    if (!decoded) return false;
    rec.message = std::move(*decoded);
  } else if (!c.string(rec.message)) {
    return false;
  }
  rec.message_inline = true;
  return true;
}

template <typename R, typename Tail>
bool scan_record(std::string_view line, R& rec, Fields keep, Tail&& tail) {
  Cursor c(line);
  if (!c.take('{')) return false;
  bool ok = true;
  std::string scratch, skip;
  describe(rec, Scan{c, ok, keep, scratch, skip});
  // The tree reader reports an unknown version as such: leave it to it.
  ok = ok && rec.version == kJournalVersion && tail(c, scratch);
  return ok && c.take('}') && c.done();
}

}  // namespace

bool scan_transaction(std::string_view line, TransactionRecord& rec, Fields keep) {
  return scan_record(line, rec, keep, [&](Cursor& c, std::string& scratch) {
    return scan_message(c, rec, scratch);
  });
}

bool scan_session(std::string_view line, SessionRecord& rec) {
  return scan_record(line, rec, Fields::all, [](Cursor&, std::string&) { return true; });
}

}  // namespace dropcheck::journal::detail

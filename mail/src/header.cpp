#include "mail/header.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <string>

#include "base/strings.hpp"

namespace dropcheck::mail {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// RFC 5322 3.6.8 ftext: printable US-ASCII except ':'.
bool is_ftext(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 33 && u <= 126 && u != ':';
}

std::string offset_message(std::string_view what, std::size_t offset) {
  return std::string(what) + " at offset " + std::to_string(offset);
}

// Word-at-a-time scan of the section for octets that only need a yes/no answer:
// any octet >= 0x80, any NUL, and the number of CR octets (compared with the number of
// CRLF line endings to find bare CRs).
struct ByteStats {
  bool high = false;
  bool nul = false;
  std::size_t cr = 0;
};

ByteStats scan_bytes(std::string_view s) {
  constexpr std::uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  constexpr std::uint64_t kCr = 0x0d0d0d0d0d0d0d0dULL;
  // Exact per-byte zero test: 0x80 in every byte of w that is zero.
  const auto zero_bytes = [](std::uint64_t w) { return ~(((w & kLow7) + kLow7) | w | kLow7); };
  ByteStats st;
  std::uint64_t ored = 0;
  std::uint64_t zeros = 0;
  std::size_t i = 0;
  const char* p = s.data();
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    ored |= w;
    zeros |= zero_bytes(w);
    st.cr += static_cast<std::size_t>(__builtin_popcountll(zero_bytes(w ^ kCr)));
  }
  for (; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(p[i]);
    ored |= u;
    if (u == 0) zeros = 1;
    if (u == '\r') ++st.cr;
  }
  st.high = (ored & kHigh) != 0;
  st.nul = zeros != 0;
  return st;
}

// The field starting at `pos` whose line content ends at `content_end` and whose line ending
// ends at `next`; a line that is no field is kept as a nameless one.
Field field_at(std::string_view message, std::size_t pos, std::size_t content_end, std::size_t next,
               Deviations& deviations) {
  Field f;
  f.offset = pos;
  f.raw = message.substr(pos, next - pos);
  // field-name = 1*ftext, then obsolete WSP before the colon (RFC 5322 4.5.8).
  std::size_t i = pos;
  while (i < content_end && is_ftext(message[i])) ++i;
  const std::size_t name_end = i;
  while (i < content_end && is_wsp(message[i])) ++i;
  if (name_end > pos && i < content_end && message[i] == ':') {
    if (i != name_end) deviations.ws_before_colon = true;
    f.name = message.substr(pos, name_end - pos);
    f.value = message.substr(i + 1, content_end - (i + 1));
  } else {
    // Not a field and not a continuation: kept as a nameless field so every byte of
    // the section stays reachable through `fields`.
    deviations.garbage_line = true;
    f.value = message.substr(pos, content_end - pos);
  }
  return f;
}

// Sets the section's raw text, separator and body once the section ends at `section_end`,
// and the deviations found by scanning its bytes.
void finish_section(HeaderSection& hs, std::string_view message, std::size_t section_end,
                    bool separator_found, std::size_t crlf_lines) {
  hs.raw = message.substr(0, section_end);
  if (!separator_found) {
    hs.deviations.no_separator = true;
    hs.separator = message.substr(section_end, 0);
  }
  hs.body = message.substr(section_end + hs.separator.size());

  const ByteStats st = scan_bytes(hs.raw);
  hs.deviations.eight_bit = st.high;
  hs.deviations.nul = st.nul;
  hs.deviations.bare_cr = st.cr != crlf_lines;
}

}  // namespace

std::string Field::unfolded() const {
  std::string out;
  out.reserve(value.size());
  std::size_t i = 0;
  const std::size_t n = value.size();
  while (i < n) {
    const char* nl = static_cast<const char*>(std::memchr(value.data() + i, '\n', n - i));
    const std::size_t pos = nl ? static_cast<std::size_t>(nl - value.data()) : n;
    std::size_t end = pos;
    if (nl && end > i && value[end - 1] == '\r') --end;
    out.append(value.data() + i, end - i);
    if (!nl) break;
    // A line break not followed by WSP is not a fold (only possible in hand-made Fields):
    // keep it as written.
    if (pos + 1 < n && !is_wsp(value[pos + 1])) out.append(value.data() + end, pos + 1 - end);
    i = pos + 1;
  }
  return std::string(base::trim(out));
}

base::Result<HeaderSection> parse_header_section(std::string_view message, const Limits& limits) {
  HeaderSection hs;
  const char* const base_ptr = message.data();
  const std::size_t n = message.size();
  std::size_t pos = 0;         // start of the current physical line
  std::size_t crlf_lines = 0;  // lines ending in CRLF (for the bare-CR check)
  Field* current = nullptr;    // the field continuation lines attach to
  bool separator_found = false;

  // A line ending must appear within the line limit plus CRLF (saturating: the limit may be
  // SIZE_MAX).
  const std::size_t max_scan =
      limits.max_line_octets > SIZE_MAX - 2 ? SIZE_MAX : limits.max_line_octets + 2;
  // Reserve a plausible number of fields once to avoid repeated growth.
  hs.fields.reserve(32);

  while (pos < n) {
    // Find the end of this physical line, scanning at most the line limit (+ CRLF) so a
    // missing line ending in a huge input is detected without reading all of it.
    const std::size_t remaining = n - pos;
    const std::size_t scan = std::min(remaining, max_scan);
    const char* nl = static_cast<const char*>(std::memchr(base_ptr + pos, '\n', scan));
    std::size_t content_end;  // end of the line without its line ending
    std::size_t next;         // start of the next line
    if (nl) {
      const auto lf = static_cast<std::size_t>(nl - base_ptr);
      next = lf + 1;
      if (lf > pos && message[lf - 1] == '\r') {
        content_end = lf - 1;
        ++crlf_lines;
      } else {
        content_end = lf;
        hs.deviations.bare_lf = true;
      }
    } else {
      if (remaining > limits.max_line_octets)
        return base::make_error(
            "line-too-long", offset_message("header line longer than " +
                                                std::to_string(limits.max_line_octets) + " octets",
                                            pos));
      content_end = n;
      next = n;
    }
    if (content_end - pos > limits.max_line_octets)
      return base::make_error("line-too-long",
                              offset_message("header line longer than " +
                                                 std::to_string(limits.max_line_octets) + " octets",
                                             pos));

    if (content_end == pos && nl) {
      // Empty line: the separator between header section and body.
      hs.separator = message.substr(pos, next - pos);
      if (hs.separator.size() == 2) --crlf_lines;  // the separator is not part of the section
      separator_found = true;
      break;
    }
    if (next > limits.max_section_octets)
      return base::make_error(
          "header-too-large",
          offset_message(
              "header section larger than " + std::to_string(limits.max_section_octets) + " octets",
              pos));

    const char first = message[pos];
    if (is_wsp(first) && current != nullptr) {
      // Continuation line (folding, RFC 5322 2.2.3); whitespace-only lines are obs-FWS.
      current->raw = message.substr(current->offset, next - current->offset);
      const std::size_t value_start = static_cast<std::size_t>(current->value.data() - base_ptr);
      current->value = message.substr(value_start, content_end - value_start);
    } else {
      if (hs.fields.size() >= limits.max_fields)
        return base::make_error(
            "too-many-fields",
            offset_message("more than " + std::to_string(limits.max_fields) + " header fields",
                           pos));
      hs.fields.push_back(field_at(message, pos, content_end, next, hs.deviations));
      current = &hs.fields.back();
    }
    pos = next;
  }

  const std::size_t section_end =
      separator_found ? static_cast<std::size_t>(hs.separator.data() - base_ptr) : pos;
  finish_section(hs, message, section_end, separator_found, crlf_lines);
  return hs;
}

namespace {
bool name_equals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && base::iequals(a, b);
}
}  // namespace

std::vector<const Field*> find_all(const HeaderSection& section, std::string_view name) {
  std::vector<const Field*> out;
  if (name.empty()) return out;
  for (const Field& f : section.fields)
    if (name_equals(f.name, name)) out.push_back(&f);
  return out;
}

const Field* find_first(const HeaderSection& section, std::string_view name) {
  if (name.empty()) return nullptr;
  for (const Field& f : section.fields)
    if (name_equals(f.name, name)) return &f;
  return nullptr;
}

std::size_t count_fields(const HeaderSection& section, std::string_view name) {
  if (name.empty()) return 0;
  std::size_t count = 0;
  for (const Field& f : section.fields)
    if (name_equals(f.name, name)) ++count;
  return count;
}

std::string remove_fields(std::string_view message, const HeaderSection& section,
                          std::span<const std::string_view> names) {
  std::string out;
  out.reserve(message.size());
  std::size_t copied = 0;  // bytes of `message` handled so far
  for (const Field& f : section.fields) {
    bool drop = false;
    if (!f.name.empty())
      for (std::string_view n : names)
        if (name_equals(f.name, n)) {
          drop = true;
          break;
        }
    if (!drop) continue;
    assert(f.offset >= copied && f.offset + f.raw.size() <= message.size());
    out.append(message.data() + copied, f.offset - copied);
    copied = f.offset + f.raw.size();
  }
  out.append(message.data() + copied, message.size() - copied);
  return out;
}

std::string prepend_field(std::string_view message, std::string_view name, std::string_view value) {
  const auto nl = message.find('\n');
  const bool bare_lf = nl != std::string_view::npos && (nl == 0 || message[nl - 1] != '\r');
  const std::string_view eol = bare_lf ? "\n" : "\r\n";
  std::string out;
  out.reserve(name.size() + value.size() + 4 + message.size());
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append(eol);
  out.append(message);
  return out;
}

}  // namespace dropcheck::mail

#include "text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

#include "analyzer/analyzer.hpp"
#include "base/strings.hpp"

namespace dropcheck::analyzer {
namespace detail {
namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string decode_q(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '_') {
      out.push_back(' ');
    } else if (in[i] == '=' && i + 2 < in.size() + 0 && hexval(in[i + 1]) >= 0 &&
               hexval(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexval(in[i + 1]) * 16 + hexval(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// Every RFC 2047 encoded-word "=?charset?B|Q?text?=" decoded, concatenated with spaces.
std::string decode_encoded_words(std::string_view s) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = s.find("=?", pos)) != std::string_view::npos) {
    const auto q1 = s.find('?', pos + 2);
    if (q1 == std::string_view::npos || q1 + 2 >= s.size() || s[q1 + 2] != '?') {
      pos += 2;
      continue;
    }
    const char enc = lower(s[q1 + 1]);
    const auto end = s.find("?=", q1 + 3);
    if (end == std::string_view::npos) break;
    const std::string_view text = s.substr(q1 + 3, end - (q1 + 3));
    out += enc == 'b' ? base::base64_decode(text) : decode_q(text);
    out.push_back(' ');
    pos = end + 2;
  }
  return out;
}

bool is_addr_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '+' || c == '%' || c == '\'' || c == '=' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_domain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

// Whole-address occurrences, case-insensitive. '-' before the address counts as a boundary
// so qmail's "domain-user@domain" form is found too. The boundary classes hold both cases of
// every letter, so the original octets are tested as their lower-case forms would be.
std::size_t count_address(std::string_view hay, std::string_view addr_lower) {
  std::size_t count = 0;
  std::size_t pos = 0;
  while ((pos = find_lower(hay, addr_lower, pos)) != std::string_view::npos) {
    const bool left_ok = pos == 0 || !is_addr_char(hay[pos - 1]);
    const std::size_t end = pos + addr_lower.size();
    const bool right_ok =
        end >= hay.size() || !is_domain_char(hay[end]) ||
        (hay[end] == '.' && (end + 1 >= hay.size() || !is_domain_char(hay[end + 1])));
    if (left_ok && right_ok) ++count;
    ++pos;
  }
  return count;
}

}  // namespace

// ASCII case folding only (base/, not mail/: the analyzer keeps its own simple parsing).
std::string lower(std::string_view s) { return base::to_lower(s); }

// Candidates for the first octet come from memchr (each case's next hit kept until passed, so
// no octet is searched twice): lower-casing a whole message per search was the judge's largest
// cost at 1M records.
std::size_t find_lower(std::string_view hay, std::string_view needle, std::size_t from) {
  if (needle.empty()) return from <= hay.size() ? from : std::string_view::npos;
  if (hay.size() < needle.size()) return std::string_view::npos;
  const char first = needle[0];
  if (first >= 'A' && first <= 'Z') return std::string_view::npos;  // never a lower-cased octet
  const bool letter = first >= 'a' && first <= 'z';
  const char cases[2] = {first, letter ? static_cast<char>(first - 32) : first};
  const std::size_t end = hay.size() - needle.size() + 1;  // past the last possible start
  std::size_t next[2] = {from, from};  // each case's next hit at or after `from` (end: none)
  bool known[2] = {false, !letter};
  if (!letter) next[1] = end;
  const auto hit = [&](int k, std::size_t at) {
    if (at >= end) return end;
    const void* p = std::memchr(hay.data() + at, cases[k], end - at);
    return p ? static_cast<std::size_t>(static_cast<const char*>(p) - hay.data()) : end;
  };
  for (std::size_t i = from; i < end;) {
    for (int k = 0; k < 2; ++k)
      if (!known[k] || next[k] < i) {
        next[k] = hit(k, i);
        known[k] = true;
      }
    i = std::min(next[0], next[1]);
    if (i >= end) break;
    std::size_t k = 1;
    while (k < needle.size() && lower(hay[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
    ++i;
  }
  return std::string_view::npos;
}
std::string domain_of(std::string_view addr) {
  const auto at = addr.rfind('@');
  return at == std::string::npos ? std::string() : lower(addr.substr(at + 1));
}
// Local part case is kept by the servers; for matching recipients we compare case-insensitively,
// as every mailbox in practice is.
std::string norm(std::string a) {
  while (!a.empty() && (a.front() == '<' || a.front() == ' ')) a.erase(0, 1);
  while (!a.empty() && (a.back() == '>' || a.back() == ' ')) a.pop_back();
  for (char& c : a) c = lower(c);  // in place: called for every RCPT of every copy
  return a;
}

// Splits raw into header section and body at the first empty line (CRLF or LF).
std::pair<std::string_view, std::string_view> split_message(std::string_view raw) {
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const auto nl = raw.find('\n', pos);
    if (nl == std::string_view::npos) return {raw, {}};
    const std::string_view line = raw.substr(pos, nl - pos);
    if (line.empty() || line == "\r") return {raw.substr(0, pos), raw.substr(nl + 1)};
    pos = nl + 1;
  }
  return {raw, {}};
}

std::string crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 32);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out.push_back('\r');
    out.push_back(s[i]);
  }
  return out;
}

// Whether unfold(s) differs from s: an LF followed by space or tab.
bool has_fold(std::string_view s) {
  for (auto nl = s.find('\n'); nl != std::string_view::npos; nl = s.find('\n', nl + 1))
    if (nl + 1 < s.size() && (s[nl + 1] == ' ' || s[nl + 1] == '\t')) return true;
  return false;
}

// Removes folding: CRLF or LF followed by space or tab.
std::string unfold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t run = 0;  // start of the octets not yet copied
  for (auto nl = s.find('\n'); nl != std::string_view::npos; nl = s.find('\n', nl + 1)) {
    if (nl + 1 >= s.size() || (s[nl + 1] != ' ' && s[nl + 1] != '\t')) continue;
    const std::size_t end = nl > run && s[nl - 1] == '\r' ? nl - 1 : nl;  // CRLF or bare LF
    out.append(s.data() + run, end - run);
    run = nl + 1;
  }
  out.append(s.data() + run, s.size() - run);
  return out;
}

// How often an address occurs in three views of a message: its raw bytes, its unfolded header
// section, and the decoded RFC 2047 encoded-words of that header section.
using MentionCounts = std::array<std::size_t, 3>;
MentionCounts mention_counts(const std::string& raw, const std::string& addr) {
  const std::string a = lower(addr);
  const std::string_view section = split_message(raw).first;
  // Unfolded into a copy only when folded (the judge counts for every copy of a message with
  // envelope-only recipients); no encoded-word: nothing to decode.
  std::string copy;
  std::string_view head = section;
  if (has_fold(section)) head = copy = unfold(section);
  const bool encoded = head.find("=?") != std::string_view::npos;
  return {count_address(raw, a), count_address(head, a),
          count_address(encoded ? decode_encoded_words(head) : std::string(), a)};
}

// Whether `copy` shows `addr` somewhere `sent` did not: more occurrences in any view. An
// address the sender wrote (a signature, a quoted reply, a display name) is not a disclosure.
bool mentions_more(const MentionCounts& copy, const MentionCounts& sent) {
  for (std::size_t v = 0; v < copy.size(); ++v)
    if (copy[v] > sent[v]) return true;
  return false;
}

constexpr const char* kEnvelopeHeaders[] = {"Envelope-To", "X-Envelope-To", "X-Original-To",
                                            "X-Rcpt-To",   "X-MDRcpt-To",   "X-Recipient-To",
                                            "Delivered-To"};

}  // namespace detail

using namespace detail;

namespace {

bool same_name(std::string_view n, std::string_view name) {
  if (n.size() != name.size()) return false;
  for (std::size_t i = 0; i < n.size(); ++i)
    if (lower(n[i]) != lower(name[i])) return false;
  return true;
}

// Every line of header section `head` whose name (before ':', trailing blanks removed) satisfies
// `want`, handed to `each` as unfold() makes it, without its final CR.
template <typename Want, typename Each>
void each_header_line(std::string_view head, Want&& want, Each&& each) {
  std::string scratch;
  each_unfolded_line(head, scratch, [&](std::string_view line) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string_view n = line.substr(0, colon);
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
    if (want(n)) each(line);
  });
}

}  // namespace

namespace detail {

namespace {

// Where the logical line starting at `pos` ends: at an LF that no space or tab follows, or at
// the end of `head`; `folded` tells whether it has a fold (an LF that one does follow).
std::size_t logical_line_end(std::string_view head, std::size_t pos, bool& folded) {
  folded = false;
  for (;;) {
    const auto nl = head.find('\n', pos);
    if (nl == std::string_view::npos) return head.size();
    if (nl + 1 >= head.size() || (head[nl + 1] != ' ' && head[nl + 1] != '\t')) return nl;
    folded = true;
    pos = nl + 1;
  }
}

// The logical line head[pos, end) as unfold() makes it (into `scratch` only when folded),
// without its final CR.
std::string_view unfolded(std::string_view head, std::size_t pos, std::size_t end, bool folded,
                          std::string& scratch) {
  std::string_view line = head.substr(pos, end - pos);
  if (folded) {
    scratch = unfold(line);
    line = scratch;
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// After a header name at `at`: blanks and folds (CRLF or LF before a space or tab), then ':'.
bool colon_follows(std::string_view head, std::size_t at) {
  for (; at < head.size(); ++at) {
    const char c = head[at];
    if (c == ':') return true;
    if (c == ' ' || c == '\t') continue;
    const bool fold_lf =
        c == '\n' && at + 1 < head.size() && (head[at + 1] == ' ' || head[at + 1] == '\t');
    const bool fold_crlf = c == '\r' && at + 2 < head.size() && head[at + 1] == '\n' &&
                           (head[at + 2] == ' ' || head[at + 2] == '\t');
    if (fold_crlf) {
      ++at;
      continue;
    }
    if (!fold_lf) return false;
  }
  return false;
}

// A name the search in each_header_named can find: printable, no blank, no ':' (RFC 5322
// 2.2 field names are these; others go line by line).
bool searchable(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(),
                                      [](char c) { return c > ' ' && c < 0x7f && c != ':'; });
}

}  // namespace

// The lines of unfold(head) split at LF, found in `head` itself: a logical line ends at an LF
// that no space or tab follows. Only a folded line is unfolded (into `scratch`); the rest are
// views into `head` (unfolding whole header sections was a large part of the judge's time).
void each_unfolded_line(std::string_view head, std::string& scratch,
                        const std::function<void(std::string_view)>& each) {
  for (std::size_t pos = 0; pos < head.size();) {
    bool folded = false;
    const std::size_t end = logical_line_end(head, pos, folded);
    each(unfolded(head, pos, end, folded, scratch));
    pos = end + 1;
  }
}

// The name is searched for (case ignored) instead of visiting every line: a hit at the start
// of a line (after an LF: the name's first octet is no blank, so that LF ends a logical line)
// with only blanks and folds before its ':' is a line of that name.
void each_header_named(std::string_view head, std::string_view name,
                       const std::function<void(std::string_view)>& each) {
  if (!searchable(name)) {
    each_header_line(
        head, [&](std::string_view n) { return same_name(n, name); }, each);
    return;
  }
  const std::string needle = lower(name);
  std::string scratch;
  for (auto at = find_lower(head, needle, 0); at != std::string_view::npos;
       at = find_lower(head, needle, at + 1)) {
    if ((at > 0 && head[at - 1] != '\n') || !colon_follows(head, at + needle.size())) continue;
    bool folded = false;
    const std::size_t end = logical_line_end(head, at, folded);
    each(unfolded(head, at, end, folded, scratch));
    at = end;
  }
}

}  // namespace detail

std::vector<std::string> header_lines(const std::string& raw, const std::string& name) {
  std::vector<std::string> out;
  each_header_named(split_message(raw).first, name,
                    [&](std::string_view line) { out.emplace_back(line); });
  return out;
}

std::vector<std::string> visible_addresses(const std::string& raw) {
  std::vector<std::string> found;
  const auto shown = [](std::string_view n) {
    for (const char* name : {"To", "Cc", "From", "Reply-To", "Sender"})
      if (same_name(n, name)) return true;
    return false;
  };
  // The character classes hold both cases, so the line is scanned as it is and only the
  // addresses found are lower-cased.
  each_header_line(split_message(raw).first, shown, [&](std::string_view line) {
    const std::string_view l = line.substr(line.find(':') + 1);
    for (auto i = l.find('@'); i != std::string_view::npos; i = l.find('@', i + 1)) {
      std::size_t b = i;
      while (b > 0 && (is_addr_char(l[b - 1]) || l[b - 1] == '-')) --b;
      std::size_t e = i + 1;
      while (e < l.size() && is_domain_char(l[e])) ++e;
      while (e > i + 1 && l[e - 1] == '.') --e;
      if (b < i && e > i + 1) found.push_back(lower(l.substr(b, e - b)));
    }
  });
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

bool mentions_address(const std::string& raw, const std::string& addr) {
  return mentions_more(mention_counts(raw, addr), MentionCounts{});
}

namespace detail {

// Evidence quotes at most this many octets of a line, around the hit, with its offsets: a
// 214 KB envelope header quoted whole made a no-strip run's report hundreds of MB.
constexpr std::size_t kMaxQuote = 240;

std::string excerpt(const std::string& line, const std::string& needle) {
  if (line.size() <= kMaxQuote) return line;
  std::string lower_line = line, lower_needle = needle;
  for (auto* t : {&lower_line, &lower_needle})
    for (char& c : *t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::size_t at = needle.empty() ? 0 : lower_line.find(lower_needle);
  if (at == std::string::npos) at = 0;
  const std::size_t start = at > kMaxQuote / 2 ? at - kMaxQuote / 2 : 0;
  const std::size_t end = std::min(line.size(), start + kMaxQuote);
  return fmt::format("{}{}{} [octets {}-{} of {}]", start > 0 ? "..." : "",
                     line.substr(start, end - start), end < line.size() ? "..." : "", start, end,
                     line.size());
}

// The header line of `copy` that discloses `addr`: a known envelope header naming it, else the
// first header line naming it that the sender did not write (that is part of no line of the
// sent header section); "" when none (body only).
std::string leaking_line(const std::string& copy, const std::vector<std::string>& quoting,
                         const std::string& addr) {
  for (const char* h : kEnvelopeHeaders)
    for (const auto& l : header_lines(copy, h))
      if (mentions_address(l, addr)) return l;
  const std::string head = unfold(split_message(copy).first);
  std::istringstream in(head);
  std::string l;
  const auto quoted = [&](const std::string& q) { return q.find(l) != std::string::npos; };
  while (std::getline(in, l)) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (mentions_address(l, addr) && std::none_of(quoting.begin(), quoting.end(), quoted)) return l;
  }
  return {};
}

}  // namespace detail
}  // namespace dropcheck::analyzer

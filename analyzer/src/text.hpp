#pragma once
// The analyzer's own raw-byte text checks (private to analyzer/). Deliberately simple and
// independent of mail/: ASCII case folding, line scans, plain searches.
#include <array>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/strings.hpp"

namespace dropcheck::analyzer::detail {

inline char lower(char c) { return base::ascii_lower(c); }
std::string lower(std::string_view s);
// Where `needle` first occurs in `hay` at or after `from`, ASCII case ignored in `hay` (what
// lower(hay).find(needle, from) gives, without the copy); `needle` is lower-case.
std::size_t find_lower(std::string_view hay, std::string_view needle, std::size_t from);
// The domain of an address, lower-cased ("" without '@').
std::string domain_of(std::string_view addr);
// An address as recipients are matched: without <> and spaces, lower-cased.
std::string norm(std::string a);
// Header section and body, split at the first empty line (CRLF or LF).
std::pair<std::string_view, std::string_view> split_message(std::string_view raw);
// Every bare LF made CRLF.
std::string crlf(std::string_view s);
// Folding removed: CRLF or LF followed by space or tab.
std::string unfold(std::string_view s);
// Whether there is any: unfold(s) != s.
bool has_fold(std::string_view s);
// Each line of unfold(head) (split at LF, CR kept), unfolding only folded lines (into `scratch`).
void each_unfolded_line(std::string_view head, std::string& scratch,
                        const std::function<void(std::string_view)>& each);
// Each line of header section `head` (split_message's first) named `name` (ASCII case ignored),
// unfolded, without its final CR: header_lines() without the split or a vector of copies.
void each_header_named(std::string_view head, std::string_view name,
                       const std::function<void(std::string_view)>& each);

// How often an address occurs in three views of a message: its raw bytes, its unfolded header
// section, and the decoded RFC 2047 encoded-words of that header section.
using MentionCounts = std::array<std::size_t, 3>;
MentionCounts mention_counts(const std::string& raw, const std::string& addr);
// Whether `copy` shows the address somewhere `sent` did not: more occurrences in any view.
bool mentions_more(const MentionCounts& copy, const MentionCounts& sent);

// At most kMaxQuote octets of `line` around `needle`, with their offsets.
std::string excerpt(const std::string& line, const std::string& needle);
// The header line of `copy` that discloses `addr` (see text.cpp); "" when none. `quoting`: the
// sent message's SentSummary::quoting_lines.
std::string leaking_line(const std::string& copy, const std::vector<std::string>& quoting,
                         const std::string& addr);
// SHA-256 of a message's body, every bare LF made CRLF (sent.cpp).
std::array<unsigned char, 32> body_sha256(std::string_view message);
// The same of a body already split off (split_message's second).
std::array<unsigned char, 32> crlf_sha256(std::string_view body);

}  // namespace dropcheck::analyzer::detail

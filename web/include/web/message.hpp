#pragma once
// A plain look at one message for people: its header fields as they are (no decoding, no
// normalising), which of them are envelope headers a provider stamps, and text that is safe to
// put in a page. Independent of mail/ (the fetcher's parser): a viewer must show what arrived,
// not what the fetcher's parser makes of it.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::web {

struct HeaderField {
  std::string name;            // as written, without the colon
  std::string value;           // unfolded (CRLF/LF before white space removed), trimmed
  std::size_t first_line = 0;  // index of its first line in the message (0-based)
  std::size_t lines = 1;       // its physical lines (continuations included)
};

// At most this many header fields are returned (a hostile header section of millions of lines
// must not make a page of millions of rows); the rest are still in the raw view.
inline constexpr std::size_t kMaxHeaderFields = 1000;

// The header section's fields, up to the first empty line (or the end). Lines without a colon
// are skipped (they are still in the raw view).
std::vector<HeaderField> header_fields(std::string_view message);

// Headers that carry the envelope recipient as a provider stamps it (Envelope-To, X-Envelope-To,
// X-Original-To, X-Rcpt-To, X-MDRcpt-To, X-Recipient-To, Delivered-To): a multidrop fetcher
// must strip them, since they name blind-copy recipients.
const std::vector<std::string>& envelope_header_names();
bool is_envelope_header(std::string_view name);
// An envelope header or Bcc: what must not reach a recipient.
bool is_disclosing_header(std::string_view name);

// The first field named `name` (case-insensitive); "" when none.
std::string field_value(const std::vector<HeaderField>& fields, std::string_view name);

// `bytes` as valid UTF-8: valid sequences kept, every other octet read as Latin-1.
std::string display_text(std::string_view bytes);
// HTML text and attribute escaping (& < > " ' and control characters) of display_text(bytes).
std::string html(std::string_view bytes);

// Lower-cased: does `hay` contain `needle` (ASCII case-insensitive)?
bool icontains(std::string_view hay, std::string_view needle);

}  // namespace dropcheck::web

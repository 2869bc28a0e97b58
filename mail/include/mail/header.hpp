#pragma once
// RFC 5322 header section: parse, look up, remove and add fields.
// Total on any input: never throws, never crashes; limits return typed errors.
// Views point into the caller's buffer, which must outlive the HeaderSection.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace dropcheck::mail {

// Limits, each with its reason. RFC 5322 2.1.1 caps a line at 998 octets, but real
// mail exceeds it; we accept up to max_line_octets and report longer lines as errors.
// Envelope headers are the long ones: a provider listing 10,000 recipients in one unfolded
// Envelope-To line writes about 220 KB, one X-Envelope-To line per recipient 10,000 fields.
struct Limits {
  std::size_t max_line_octets = 1024 * 1024;         // one physical header line
  std::size_t max_fields = 100'000;                  // fields in one section
  std::size_t max_section_octets = 4 * 1024 * 1024;  // whole header section
};

// Deviations from RFC 5322 that were accepted and recorded (never silently normalised).
struct Deviations {
  bool bare_lf = false;          // a line ended in LF without CR
  bool eight_bit = false;        // octets >= 0x80 in the header (RFC 6532 or raw 8-bit)
  bool nul = false;              // a NUL octet in the header
  bool ws_before_colon = false;  // obsolete "Name :" (RFC 5322 4.5.8)
  bool no_separator = false;     // header ended at end of input without a blank line
  bool garbage_line = false;     // a line without a colon that is not a continuation (kept)
  bool bare_cr = false;          // a CR not followed by LF inside the header
};

// A line that is neither a field nor a continuation (garbage_line) is kept as a Field with
// an empty name and the whole line (without its line ending) as value, so that the fields'
// raw views always tile the section: concatenating every Field::raw gives HeaderSection::raw.
struct Field {
  std::string_view name;  // as written, without any whitespace before the colon
  std::string_view
      value;  // bytes after the colon up to (not incl.) the final line ending; folds kept
  std::string_view
      raw;  // every byte of the field, continuation lines and final line ending included
  std::size_t offset = 0;  // offset of raw in the parsed buffer
  // The value with folding removed (CRLF/LF before WSP dropped) and outer whitespace trimmed.
  std::string unfolded() const;
};

struct HeaderSection {
  std::vector<Field> fields;   // in order, repeated fields kept
  std::string_view raw;        // the header section bytes (all fields, without the separator line)
  std::string_view separator;  // the blank line: "\r\n", "\n", or empty when absent
  std::string_view body;       // everything after the separator
  Deviations deviations;
};

// Error codes: "line-too-long", "too-many-fields", "header-too-large"; messages name the offset.
// Parses the header section at the start of `message`. Serialising raw + separator + body
// reproduces `message` byte for byte.
base::Result<HeaderSection> parse_header_section(std::string_view message,
                                                 const Limits& limits = {});

// Case-insensitive lookups.
std::vector<const Field*> find_all(const HeaderSection& section, std::string_view name);
const Field* find_first(const HeaderSection& section, std::string_view name);
std::size_t count_fields(const HeaderSection& section, std::string_view name);

// `message` with every occurrence of every named field removed (continuation lines included);
// every other byte unchanged. `section` must have been parsed from `message`.
std::string remove_fields(std::string_view message, const HeaderSection& section,
                          std::span<const std::string_view> names);

// `message` with "name: value" added as the first line, using the message's own line ending
// (CRLF unless its first line ends in a bare LF).
std::string prepend_field(std::string_view message, std::string_view name, std::string_view value);

}  // namespace dropcheck::mail

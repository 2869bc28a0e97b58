#pragma once
// What the probe reads out of one stored message's header section (TOP n 0):
// the envelope-style fields a provider stamps, Return-Path, Message-ID and the
// probe's own tag. Pure: no I/O, total on any input.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::probe {

struct HeaderLine {
  std::string name;   // as written
  std::string value;  // unfolded, trimmed
};

// One Received line's trace (mail::parse_received): the host that wrote it and its for clause.
struct ReceivedLine {
  std::string by;  // lower-case, "" when absent
  bool has_for = false;
  std::vector<std::string> for_addrs;  // normalised
};

struct MessageObservation {
  std::size_t number = 0;                   // message number in the session it was seen in
  std::string uidl;                         // "" when the server has no UIDL
  std::vector<HeaderLine> envelope_fields;  // envelope-style candidates, top-down
  bool has_return_path = false;
  std::string return_path;  // first Return-Path value, unfolded ("<>" for the
                            // null sender)
  std::size_t return_paths = 0;
  std::string message_id;               // first Message-ID, unfolded
  std::string date;                     // first Date:, unfolded ("" when absent)
  std::string received_date;            // date of the topmost Received: (after its last
                                        // ';'), the provider's own stamp; "" when absent
  std::string probe_tag;                // X-Dropcheck-Probe value ("<tag> <case>"), "" when absent
  std::size_t header_addresses = 0;     // addresses named in To and Cc
  std::vector<ReceivedLine> received;   // every Received line, top-down
  std::vector<std::string> deviations;  // "bare-lf", "8bit", "nul", "parse-error:<code>"
};

// The headers providers are known to stamp envelope recipients into
// (mail::kEnvelopeHeaders).
bool is_known_envelope_header(std::string_view name);
// Known ones plus look-alikes: X-*-To (not *Reply-To) and any name containing
// "Rcpt".
bool is_envelope_candidate(std::string_view name);

MessageObservation observe_header(std::string_view header_section);

// Addresses named in an envelope-style value, normalised (domain lower-cased),
// no prefix stripping; empty for "<>", unparsable or empty values.
std::vector<std::string> addresses_in(std::string_view value);

// qmail virtualdomains form: the local part starts with "<domain>-" of its own
// domain
// ("example.com-hans@example.com").
bool has_qmail_prefix(std::string_view address);
// "hans@example.com" for "example.com-hans@example.com"; unchanged otherwise.
std::string strip_qmail_prefix(std::string_view address);

}  // namespace dropcheck::probe

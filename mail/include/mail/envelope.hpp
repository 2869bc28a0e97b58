#pragma once
// Envelope-recipient extraction from the header a provider stamps into the stored copy:
// Envelope-To, X-Envelope-To, X-Original-To, X-Rcpt-To, X-MDRcpt-To, X-Recipient-To,
// Delivered-To. No standard exists; the spec says which header and which occurrence.
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mail/header.hpp"

namespace dropcheck::mail {

inline constexpr std::array<std::string_view, 7> kEnvelopeHeaders = {
    "Envelope-To", "X-Envelope-To",  "X-Original-To", "X-Rcpt-To",
    "X-MDRcpt-To", "X-Recipient-To", "Delivered-To"};

struct EnvelopeSpec {
  std::string header = "X-Envelope-To";
  // 0: every occurrence; N >= 1: only the Nth from the top (fetchmail's skip count + 1).
  // Configs and scenarios that name none get fetcher::default_occurrence(header): 1 for
  // Delivered-To (the provider's own, topmost line), 0 for the others.
  int occurrence = 0;
  // qmail virtual-domain prefix: when true, "example.com-hans@example.com" becomes
  // "hans@example.com" (local part starts with "<domain>-" of the same address).
  bool strip_qmail_prefix = false;
  // fetchmail "qvirtual": when non-empty, this literal prefix is removed from the start of
  // every local part that begins with it (and is longer than it).
  std::string qvirtual;
};

// The recipients named in one envelope-header value (folds allowed). Tries the RFC 5322
// address-list grammar first; when that fails, falls back to a lenient scan that takes every
// whitespace/comma/semicolon separated token that is a valid addr-spec (with or without <>)
// once comments are removed. Never invents: text that is not an address is dropped.
// `<>` and empty values yield no recipients. "bad-envelope-header" when the value is not
// empty but names no address at all. Recipients are normalised and prefix-stripped per `spec`.
base::Result<std::vector<std::string>> parse_envelope_value(std::string_view value,
                                                            const EnvelopeSpec& spec);

// Whether `value` may hide a recipient the lenient scan could not read: it holds an octet no
// header value carries (NUL, another control but HTAB, DEL), or it is no RFC 5322 address
// list and one of its tokens has an '@' but is no addr-spec ("b@@x", "b@x\x01").
bool envelope_value_damaged(std::string_view value);

// The fields `spec` selects: every occurrence (0) or only the Nth from the top. Errors as
// extract_envelope_recipients ("no-envelope-header", also when fewer than N are present).
base::Result<std::vector<const Field*>> select_envelope_fields(const HeaderSection& section,
                                                               const EnvelopeSpec& spec);

// Recipients found (normalised with normalize_address, in header order, duplicates removed).
// Error "no-envelope-header" when the header is absent, "bad-envelope-header" when unparsable.
base::Result<std::vector<std::string>> extract_envelope_recipients(const HeaderSection& section,
                                                                   const EnvelopeSpec& spec);

}  // namespace dropcheck::mail

#pragma once
// Envelope-recipient extraction from the header a provider stamps into the stored copy:
// Envelope-To, X-Envelope-To, X-Original-To, X-Rcpt-To, X-MDRcpt-To, X-Recipient-To,
// Delivered-To. No standard exists; the spec says which header and which occurrence.
// Or from the FOR clause of the provider's own Received line (header "Received"): the line
// whose BY clause names the provider's MX (`received_by`), never just the topmost one, whose
// FOR clause an MTA writes only when the transaction had one recipient (RFC 5321 4.4).
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
  // header "Received" only: the provider's MX host name, as its BY clause writes it. The
  // topmost Received line by that host is the provider's (occurrence 0), or the Nth Received
  // line when it is by that host. Lines by other hosts (forwarding hops, the provider's own
  // internal relays) are never read: their FOR clauses name earlier hops' recipients.
  std::string received_by;
};

// Whether `spec` reads the FOR clause of a Received line rather than an envelope header.
bool reads_received(const EnvelopeSpec& spec);

// The recipients named in one envelope-header value (folds allowed). Tries the RFC 5322
// address-list grammar first; when that fails, falls back to a lenient scan that takes every
// whitespace/comma/semicolon separated token that is a valid addr-spec (with or without <>)
// once comments are removed. Never invents: text that is not an address is dropped.
// `<>` and empty values yield no recipients. "bad-envelope-header" when the value is not
// empty but names no address at all. Recipients are normalised and prefix-stripped per `spec`.
base::Result<std::vector<std::string>> parse_envelope_value(std::string_view value,
                                                            const EnvelopeSpec& spec);

// Received (reads_received): the FOR clause's address; error "no-for-clause" when the line has
// none (a copy for several recipients), "bad-envelope-header" when it names no address.
//
// Whether `value` may hide a recipient the lenient scan could not read: it holds an octet no
// header value carries (NUL, another control but HTAB, DEL), or it is no RFC 5322 address
// list and one of its tokens has an '@' but is no addr-spec ("b@@x", "b@x\x01").
bool envelope_value_damaged(std::string_view value);
// The same for a value read per `spec` (a Received line: a forbidden octet, or a FOR clause
// that names no address).
bool envelope_value_damaged(std::string_view value, const EnvelopeSpec& spec);

// The fields `spec` selects: every occurrence (0) or only the Nth from the top. Errors as
// extract_envelope_recipients ("no-envelope-header", also when fewer than N are present, or no
// Received line is by `received_by`; "bad-envelope-spec": Received without `received_by`).
base::Result<std::vector<const Field*>> select_envelope_fields(const HeaderSection& section,
                                                               const EnvelopeSpec& spec);

// Recipients found (normalised with normalize_address, in header order, duplicates removed).
// Error "no-envelope-header" when the header is absent, "bad-envelope-header" when unparsable,
// "no-for-clause" when the provider's Received line names no recipient.
base::Result<std::vector<std::string>> extract_envelope_recipients(const HeaderSection& section,
                                                                   const EnvelopeSpec& spec);

}  // namespace dropcheck::mail

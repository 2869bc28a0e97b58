// libFuzzer target: envelope-recipient extraction. Input: one option byte, then a message.
//   bits 0-2: header (index into kEnvelopeHeaders, 7 = "Delivered-To" again)
//   bits 3-4: occurrence 0..3
//   bit 5:    strip_qmail_prefix
//   bit 6:    qvirtual = "mbox-"
//   bit 7:    header "Received", received_by "mx.provider.example" (the FOR clause of the
//             provider's own line; bits 0-2 then unused)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "mail/address.hpp"
#include "mail/envelope.hpp"
#include "mail/received.hpp"

namespace mail = dropcheck::mail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t opt = data[0];
  const std::string_view msg(reinterpret_cast<const char*>(data + 1), size - 1);
  mail::EnvelopeSpec spec;
  spec.header = std::string(mail::kEnvelopeHeaders[std::min<std::size_t>(opt & 7u, 6)]);
  spec.occurrence = (opt >> 3) & 3;
  spec.strip_qmail_prefix = (opt & 0x20) != 0;
  if (opt & 0x40) spec.qvirtual = "mbox-";
  if (opt & 0x80) {
    spec.header = "Received";
    spec.received_by = "mx.provider.example";
  }

  auto hs = mail::parse_header_section(msg);
  if (!hs.ok()) return 0;
  const std::size_t present = mail::count_fields(*hs, spec.header);
  auto r = mail::extract_envelope_recipients(*hs, spec);
  const bool received = mail::reads_received(spec);
  if (!r.ok()) {
    const std::string& c = r.error().code;
    FUZZ_CHECK(c == "no-envelope-header" || c == "bad-envelope-header" ||
               (received && c == "no-for-clause"));
    if (!received)
      FUZZ_CHECK((c == "no-envelope-header") ==
                 (present == 0 || static_cast<std::size_t>(spec.occurrence) > present));
    return 0;
  }
  FUZZ_CHECK(present > 0);
  if (received) {
    // Only the provider's own line: the topmost by its host (occurrence 0) or the Nth Received
    // line, which must be by it, names every recipient found in its FOR clause; the FOR
    // clauses of other hops never count.
    const auto lines = mail::find_all(*hs, "Received");
    const auto by_host = [&](const mail::Field* f) {
      return mail::same_host(mail::parse_received(f->unfolded()).by, spec.received_by);
    };
    const mail::Field* own = nullptr;
    if (spec.occurrence > 0) {
      FUZZ_CHECK(static_cast<std::size_t>(spec.occurrence) <= lines.size());
      own = lines[static_cast<std::size_t>(spec.occurrence) - 1];
    } else {
      for (const mail::Field* f : lines)
        if (!own && by_host(f)) own = f;
    }
    FUZZ_CHECK(own != nullptr && by_host(own));
    const auto trace = mail::parse_received(own->unfolded());
    FUZZ_CHECK(trace.has_for && !trace.for_addrs.empty());
    FUZZ_CHECK(r->size() <= trace.for_addrs.size());
  }
  for (std::size_t i = 0; i < r->size(); ++i) {
    const std::string& a = (*r)[i];
    FUZZ_CHECK(a.find('@') != std::string::npos);
    FUZZ_CHECK(mail::normalize_address(a) == a);
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK((*r)[j] != a);
    // Never invented: every label of the domain appears in the message (case-insensitively;
    // CFWS inside obsolete domains and literals is dropped and quoted-pairs in literals are
    // unescaped by the parser, so message and label are compared without whitespace and
    // backslashes: "[a b.c]" yields the labels "ab" and "c", "[x\\y]" the label "x\y").
    auto squeeze = [](std::string_view in) {
      std::string out;
      for (char ch : in) {
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\\') continue;
        out.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch);
      }
      return out;
    };
    const std::string lower = squeeze(msg);
    std::string dom = mail::domain_of(a);
    for (char& ch : dom)
      if (ch == '[' || ch == ']') ch = '.';
    std::size_t start = 0;
    while (start <= dom.size()) {
      const std::size_t dot = std::min(dom.find('.', start), dom.size());
      const std::string label = squeeze(std::string_view(dom).substr(start, dot - start));
      FUZZ_CHECK(lower.find(label) != std::string::npos);
      start = dot + 1;
    }
  }
  // Removing the header leaves nothing to extract.
  const std::string_view names[] = {spec.header};
  const std::string stripped = mail::remove_fields(msg, *hs, names);
  auto hs2 = mail::parse_header_section(stripped);
  FUZZ_CHECK(hs2.ok());
  auto r2 = mail::extract_envelope_recipients(*hs2, spec);
  FUZZ_CHECK(!r2.ok() && r2.error().code == "no-envelope-header");
  return 0;
}

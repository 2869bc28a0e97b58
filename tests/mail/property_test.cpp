// RapidCheck properties for mail/: totality and byte-exact round trip, removal, address
// round trip, envelope extraction.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "mail/address.hpp"
#include "mail/envelope.hpp"
#include "mail/header.hpp"

namespace dropcheck::mail {
namespace {

bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string serialize(const HeaderSection& hs) {
  std::string s(hs.raw);
  s.append(hs.separator);
  s.append(hs.body);
  return s;
}

// Messages built from header-ish fragments reach far more parser states than uniform bytes.
rc::Gen<std::string> gen_headerish() {
  static const std::vector<std::string> kFragments = {"From",
                                                      "To",
                                                      "X-Envelope-To",
                                                      "Received",
                                                      ":",
                                                      " : ",
                                                      ": ",
                                                      " ",
                                                      "\t",
                                                      "\r\n",
                                                      "\n",
                                                      "\r",
                                                      "a@b.c",
                                                      "value",
                                                      "\x80\xff",
                                                      std::string(1, '\0'),
                                                      "(",
                                                      ")",
                                                      "\"",
                                                      "<",
                                                      ">",
                                                      ",",
                                                      "\r\n ",
                                                      "\n\t",
                                                      "\r\n\r\n",
                                                      "\n\n"};
  return rc::gen::map(rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(kFragments)),
                      [](const std::vector<std::string>& parts) {
                        std::string s;
                        for (const auto& p : parts) s += p;
                        return s;
                      });
}

void check_round_trip(const std::string& input) {
  auto r = parse_header_section(input);
  RC_ASSERT(r.ok());
  RC_ASSERT(serialize(*r) == input);
  std::string tiled;
  for (const Field& f : r->fields) {
    RC_ASSERT(input.compare(f.offset, f.raw.size(), f.raw) == 0);
    tiled.append(f.raw);
  }
  RC_ASSERT(tiled == std::string(r->raw));
}

RC_GTEST_PROP(MailProperty, RoundTripArbitraryBytes, (const std::string& input)) {
  check_round_trip(input);
}

RC_GTEST_PROP(MailProperty, RoundTripHeaderish, ()) { check_round_trip(*gen_headerish()); }

// A well-formed field: name from a small pool (so repeats happen), value maybe folded.
struct GenField {
  std::string name;
  std::string text;  // the whole field incl. line ending
};

rc::Gen<GenField> gen_field(const std::string& eol) {
  static const std::vector<std::string> kNames = {
      "Received",       "To",           "Cc", "Subject", "X-Envelope-To", "Delivered-To",
      "DKIM-Signature", "x-envelope-to"};
  return rc::gen::apply(
      [eol](const std::string& name, const std::vector<std::string>& lines, bool ws_colon) {
        GenField f;
        f.name = name;
        f.text = name + (ws_colon ? " :" : ":");
        for (std::size_t i = 0; i < lines.size(); ++i) {
          if (i > 0) f.text += eol + "\t";
          f.text += " " + lines[i];
        }
        f.text += eol;
        return f;
      },
      rc::gen::elementOf(kNames),
      rc::gen::resize(8, rc::gen::container<std::vector<std::string>>(
                             rc::gen::container<std::string>(rc::gen::inRange<char>('!', '~')))),
      rc::gen::arbitrary<bool>());
}

RC_GTEST_PROP(MailProperty, RemovalLeavesOtherFieldsIdentical, ()) {
  const std::string eol = *rc::gen::element<std::string>("\r\n", "\n");
  const auto fields =
      *rc::gen::resize(30, rc::gen::container<std::vector<GenField>>(gen_field(eol)));
  const std::string body = *rc::gen::arbitrary<std::string>();
  std::string msg;
  for (const auto& f : fields) msg += f.text;
  msg += eol + body;
  const auto names = *rc::gen::container<std::vector<std::string>>(
      rc::gen::element<std::string>("received", "To", "X-ENVELOPE-TO", "Subject", "Nope"));

  auto hs = parse_header_section(msg);
  RC_ASSERT(hs.ok());
  RC_ASSERT(hs->fields.size() == fields.size());
  std::vector<std::string_view> views(names.begin(), names.end());
  const std::string out = remove_fields(msg, *hs, views);

  std::string want;
  for (const auto& f : fields) {
    bool drop = false;
    for (const auto& n : names) drop = drop || ieq(f.name, n);
    if (!drop) want += f.text;
  }
  want += eol + body;
  RC_ASSERT(out == want);
  auto again = parse_header_section(out);
  RC_ASSERT(again.ok());
  RC_ASSERT(again->body == hs->body);
}

RC_GTEST_PROP(MailProperty, RemovalOnArbitraryInputKeepsUnnamedBytes, ()) {
  const std::string msg = *gen_headerish();
  auto hs = parse_header_section(msg);
  RC_ASSERT(hs.ok());
  const std::vector<std::string_view> names = {"To", "X-Envelope-To"};
  const std::string out = remove_fields(msg, *hs, names);
  std::string want;
  for (const Field& f : hs->fields) {
    const bool drop = ieq(f.name, "to") || ieq(f.name, "x-envelope-to");
    if (!drop) want.append(f.raw);
  }
  want.append(hs->separator);
  want.append(hs->body);
  RC_ASSERT(out == want);
}

// --- addresses -----------------------------------------------------------------------------

rc::Gen<std::string> gen_atom() {
  return rc::gen::resize(
      12,
      rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::elementOf(std::string(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")))));
}

rc::Gen<std::string> gen_dot_atom() {
  return rc::gen::map(
      rc::gen::resize(4,
                      rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(gen_atom()))),
      [](const std::vector<std::string>& atoms) {
        std::string s;
        for (const auto& a : atoms) s += (s.empty() ? "" : ".") + a;
        return s;
      });
}

// Free text for display names and quoted local parts: printable ASCII (incl. specials, quotes
// and backslashes), tabs and a few UTF-8 sequences; no CR/LF (folding is not content).
rc::Gen<std::string> gen_text() {
  return rc::gen::map(
      rc::gen::resize(20, rc::gen::container<std::vector<std::string>>(rc::gen::oneOf(
                              rc::gen::map(rc::gen::inRange<char>(' ', '~'),
                                           [](char c) { return std::string(1, c); }),
                              rc::gen::element<std::string>("\t", "\xc3\xbc", "\xe2\x82\xac",
                                                            "=?utf-8?q?a_b?=")))),
      [](const std::vector<std::string>& parts) {
        std::string s;
        for (const auto& p : parts) s += p;
        return s;
      });
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

rc::Gen<std::string> gen_local_part() {
  return rc::gen::oneOf(
      gen_dot_atom(),
      // Quoted form is canonical only when the content is not a dot-atom.
      rc::gen::map(gen_text(), [](const std::string& t) { return quote(t + " x"); }));
}

rc::Gen<std::string> gen_domain() {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::resize(
                       4, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(
                              rc::gen::element<std::string>("example", "com", "xn--mller-kva",
                                                            "MAIL", "m\xc3\xbcller", "a-b", "0")))),
                   [](const std::vector<std::string>& labels) {
                     std::string s;
                     for (const auto& l : labels) s += (s.empty() ? "" : ".") + l;
                     return s;
                   }),
      rc::gen::element<std::string>("[192.0.2.1]", "[IPv6:2001:db8::1]"));
}

rc::Gen<Address> gen_mailbox() {
  return rc::gen::apply(
      [](const std::string& name, const std::string& local, const std::string& domain) {
        return Address{name, local, domain, ""};
      },
      rc::gen::oneOf(rc::gen::just(std::string()), gen_text()), gen_local_part(), gen_domain());
}

RC_GTEST_PROP(MailProperty, AddressListRoundTrip, ()) {
  // Items: a mailbox, or a group of mailboxes (possibly empty).
  const auto items = *rc::gen::resize(
      10,
      rc::gen::container<std::vector<std::pair<std::string, std::vector<Address>>>>(rc::gen::oneOf(
          rc::gen::map(gen_mailbox(),
                       [](Address a) {
                         return std::make_pair(std::string(), std::vector<Address>{std::move(a)});
                       }),
          rc::gen::pair(rc::gen::nonEmpty(gen_text()),
                        rc::gen::container<std::vector<Address>>(gen_mailbox())))));
  std::vector<Address> want;
  std::string text;
  for (const auto& [group, boxes] : items) {
    if (!text.empty()) text += *rc::gen::element<std::string>(", ", ",", " ,\r\n\t", ",,");
    std::vector<Address> part = boxes;
    for (auto& a : part) a.group = group;
    if (group.empty()) {
      text += format_address_list(part);
    } else {
      // Written by hand so empty groups are covered too.
      std::vector<Address> fake = {Address{"", "x", "y", group}};
      std::string head = format_address_list(fake);
      text += head.substr(0, head.size() - std::string(" x@y;").size()) + " ";
      for (std::size_t i = 0; i < part.size(); ++i)
        text += (i ? ", " : "") + format_address(part[i]);
      text += ";";
    }
    want.insert(want.end(), part.begin(), part.end());
  }
  auto r = parse_address_list(text);
  RC_ASSERT(r.ok());
  RC_ASSERT(r->size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    RC_ASSERT((*r)[i].display_name == want[i].display_name);
    RC_ASSERT((*r)[i].local_part == want[i].local_part);
    RC_ASSERT((*r)[i].domain == want[i].domain);
    RC_ASSERT((*r)[i].group == want[i].group);
  }
}

RC_GTEST_PROP(MailProperty, AddressParserTotal, (const std::string& input)) {
  auto r = parse_address_list(input);
  if (!r.ok()) RC_ASSERT(r.error().message.find("at offset") != std::string::npos);
}

// --- envelope ------------------------------------------------------------------------------

rc::Gen<std::string> gen_recipient() {
  return rc::gen::apply(
      [](const std::string& local, const std::string& domain) { return local + "@" + domain; },
      gen_dot_atom(),
      rc::gen::element<std::string>("firma1.example", "firma2.example", "xn--mller-kva.example",
                                    "example.com"));
}

RC_GTEST_PROP(MailProperty, EnvelopeExtractionYieldsExactlyTheRecipients, ()) {
  const auto header = *rc::gen::elementOf(kEnvelopeHeaders);
  const auto recipients = *rc::gen::resize(
      20, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(gen_recipient())));
  const std::string eol = *rc::gen::element<std::string>("\r\n", "\n");
  const std::string sep = *rc::gen::element<std::string>(", ", ",", " ", "; ", "," + eol + "\t");
  const bool angle = *rc::gen::arbitrary<bool>();
  const bool comment = *rc::gen::arbitrary<bool>();
  std::string value;
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    if (i) value += sep;
    value += angle ? "<" + recipients[i] + ">" : recipients[i];
  }
  if (comment) value += " (from mx.provider.example [192.0.2.7])";

  // Decoys: other occurrences of the same header above/below, To/Cc with other addresses.
  const int above = *rc::gen::inRange(0, 3);
  const int below = *rc::gen::inRange(0, 3);
  std::string msg = "Received: from a by b for <decoy0@other.example>;" + eol;
  for (int i = 0; i < above; ++i)
    msg += std::string(header) + ": above" + std::to_string(i) + "@decoy.example" + eol;
  msg += std::string(header) + ": " + value + eol;
  for (int i = 0; i < below; ++i)
    msg += std::string(header) + ": below" + std::to_string(i) + "@decoy.example" + eol;
  msg += "To: cc@decoy.example" + eol + "Cc: x@decoy.example" + eol + eol + "body" + eol;

  auto hs = parse_header_section(msg);
  RC_ASSERT(hs.ok());
  EnvelopeSpec spec;
  spec.header = std::string(header);
  spec.occurrence = above + 1;
  auto r = extract_envelope_recipients(*hs, spec);
  RC_ASSERT(r.ok());
  std::vector<std::string> want;
  for (const auto& rcpt : recipients)
    if (std::find(want.begin(), want.end(), rcpt) == want.end()) want.push_back(rcpt);
  RC_ASSERT(*r == want);
}

RC_GTEST_PROP(MailProperty, EnvelopeNeverInventsOnArbitraryValues, (const std::string& value)) {
  EnvelopeSpec spec;
  auto r = parse_envelope_value(value, spec);
  if (!r.ok()) return;
  for (const auto& a : *r) {
    RC_ASSERT(a.find('@') != std::string::npos);
    // The local part as written appears in the input.
    const std::string local = a.substr(0, a.rfind('@'));
    if (local.front() != '"') RC_ASSERT(value.find(local) != std::string::npos);
  }
}

}  // namespace
}  // namespace dropcheck::mail

#include "mail/envelope.hpp"

#include <algorithm>
#include <string>

#include "base/strings.hpp"
#include "envelope_lex.hpp"
#include "mail/address.hpp"
#include "mail/received.hpp"

namespace dropcheck::mail {
namespace {

using lex::for_each_token;
using lex::is_sep;
using lex::strip_comments;
using lex::token_address;

// Lenient fallback: every token that is an address.
std::vector<std::string> lenient_scan(std::string_view value) {
  const std::string text = strip_comments(value);
  std::vector<std::string> out;
  for_each_token(text, [&](std::string_view tok) {
    auto parsed = token_address(tok);
    if (parsed.ok()) out.push_back(parsed->addr_spec());
  });
  return out;
}

// An octet no header field value carries (RFC 5322 2.2: printable US-ASCII, WSP; folds are
// CRLF + WSP; >= 0x80 is RFC 6532 UTF-8 and allowed here).
bool is_forbidden_octet(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t' && c != '\r' && c != '\n') || u == 0x7f;
}

bool only_empty_markers(std::string_view value) {
  // Nothing but whitespace, separators, comments and "<>" — no recipient named.
  const std::string text = strip_comments(value);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_sep(c)) continue;
    if (c == '<' && i + 1 < text.size() && text[i + 1] == '>') {
      ++i;
      continue;
    }
    return false;
  }
  return true;
}

std::string finish(std::string addr, const EnvelopeSpec& spec) {
  std::string a = normalize_address(addr);
  const auto at = a.rfind('@');
  if (at == std::string::npos) return a;
  if (!spec.qvirtual.empty() && at > spec.qvirtual.size() &&
      a.compare(0, spec.qvirtual.size(), spec.qvirtual) == 0)
    a.erase(0, spec.qvirtual.size());
  if (spec.strip_qmail_prefix) {
    const std::size_t at2 = a.rfind('@');
    const std::string_view local(a.data(), at2);
    const std::string_view domain(a.data() + at2 + 1, a.size() - at2 - 1);
    // qmail virtual domains deliver "domain-user@domain" (qmail-send(8), virtualdomains).
    if (!domain.empty() && local.size() > domain.size() + 1 && base::istarts_with(local, domain) &&
        local[domain.size()] == '-')
      a.erase(0, domain.size() + 1);
  }
  return a;
}

std::vector<std::string> finish_all(std::vector<std::string> found, const EnvelopeSpec& spec) {
  std::vector<std::string> out;
  out.reserve(found.size());
  for (auto& f : found) {
    std::string a = finish(std::move(f), spec);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
  }
  return out;
}

base::Result<std::vector<std::string>> received_for(std::string_view value,
                                                    const EnvelopeSpec& spec) {
  ReceivedTrace t = parse_received(value);
  if (!t.has_for)
    return base::make_error("no-for-clause",
                            "Received by " + t.by + " has no for clause (several recipients?)");
  if (t.for_addrs.empty())
    return base::make_error("bad-envelope-header",
                            "Received by " + t.by + ": the for clause names no address");
  return finish_all(std::move(t.for_addrs), spec);
}

// The topmost Received line by `spec.received_by`, or the Nth Received line if it is by it.
base::Result<std::vector<const Field*>> select_received(const std::vector<const Field*>& fields,
                                                        const EnvelopeSpec& spec) {
  if (spec.received_by.empty())
    return base::make_error("bad-envelope-spec", "Received needs the provider's host name (by)");
  const auto by_host = [&](const Field* f) {
    return same_host(parse_received(f->unfolded()).by, spec.received_by);
  };
  if (spec.occurrence <= 0) {
    for (const Field* f : fields)
      if (by_host(f)) return std::vector<const Field*>{f};
    return base::make_error("no-envelope-header", "no Received line by " + spec.received_by);
  }
  const auto n = static_cast<std::size_t>(spec.occurrence);
  if (n > fields.size() || !by_host(fields[n - 1]))
    return base::make_error("no-envelope-header", "Received line " + std::to_string(n) +
                                                      " is not by " + spec.received_by);
  return std::vector<const Field*>{fields[n - 1]};
}

}  // namespace

bool reads_received(const EnvelopeSpec& spec) { return base::iequals(spec.header, "Received"); }

base::Result<std::vector<std::string>> parse_envelope_value(std::string_view value,
                                                            const EnvelopeSpec& spec) {
  if (reads_received(spec)) return received_for(value, spec);
  std::vector<std::string> found;
  auto strict = parse_address_list(value);
  if (strict.ok()) {
    for (const Address& a : *strict) found.push_back(a.addr_spec());
  } else {
    found = lenient_scan(value);
    if (found.empty() && !only_empty_markers(value))
      return base::make_error("bad-envelope-header",
                              "no address in envelope header value: " + strict.error().message);
  }
  return finish_all(std::move(found), spec);
}

bool envelope_value_damaged(std::string_view value, const EnvelopeSpec& spec) {
  if (!reads_received(spec)) return envelope_value_damaged(value);
  return std::any_of(value.begin(), value.end(), is_forbidden_octet) ||
         parse_received(value).for_damaged;
}

bool envelope_value_damaged(std::string_view value) {
  if (std::any_of(value.begin(), value.end(), is_forbidden_octet)) return true;
  if (parse_address_list(value).ok()) return false;
  bool damaged = false;
  for_each_token(strip_comments(value), [&](std::string_view tok) {
    if (tok.find('@') != std::string_view::npos && !token_address(tok).ok()) damaged = true;
  });
  return damaged;
}

base::Result<std::vector<const Field*>> select_envelope_fields(const HeaderSection& section,
                                                               const EnvelopeSpec& spec) {
  const auto fields = find_all(section, spec.header);
  if (fields.empty())
    return base::make_error("no-envelope-header", "no " + spec.header + " header");
  if (reads_received(spec)) return select_received(fields, spec);
  if (spec.occurrence <= 0) return fields;
  const auto n = static_cast<std::size_t>(spec.occurrence);
  if (n > fields.size())
    return base::make_error("no-envelope-header", "occurrence " + std::to_string(n) + " of " +
                                                      spec.header + " requested, only " +
                                                      std::to_string(fields.size()) + " present");
  return std::vector<const Field*>{fields[n - 1]};
}

base::Result<std::vector<std::string>> extract_envelope_recipients(const HeaderSection& section,
                                                                   const EnvelopeSpec& spec) {
  auto chosen = select_envelope_fields(section, spec);
  if (!chosen.ok()) return chosen.error();
  std::vector<std::string> out;
  for (const Field* f : *chosen) {
    auto r = parse_envelope_value(f->unfolded(), spec);
    if (!r.ok() && r.error().code == "no-for-clause") return r.error();
    if (!r.ok())
      return base::make_error(
          "bad-envelope-header",
          spec.header + " at offset " + std::to_string(f->offset) + ": " + r.error().message);
    for (auto& a : *r)
      if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
  }
  return out;
}

}  // namespace dropcheck::mail

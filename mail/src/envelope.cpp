#include "mail/envelope.hpp"

#include <algorithm>
#include <string>

#include "base/strings.hpp"
#include "mail/address.hpp"

namespace dropcheck::mail {
namespace {

// Removes comments (nested, with quoted-pairs; quoted strings respected) and replaces each
// with a space. An unterminated comment swallows the rest, like a parser would.
std::string strip_comments(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  std::size_t depth = 0;
  bool in_quote = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '\\' && i + 1 < v.size() && (depth > 0 || in_quote)) {
      if (depth == 0) {
        out.push_back(c);
        out.push_back(v[i + 1]);
      }
      ++i;
      continue;
    }
    if (depth == 0 && c == '"') in_quote = !in_quote;
    if (!in_quote && c == '(') {
      ++depth;
      continue;
    }
    if (!in_quote && c == ')' && depth > 0) {
      if (--depth == 0) out.push_back(' ');
      continue;
    }
    if (depth == 0) out.push_back(c);
  }
  return out;
}

bool is_sep(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';';
}

// Calls fn(token) for every token of comment-free `text` separated by whitespace, ',' or ';'
// outside quotes and <>.
template <class Fn>
void for_each_token(std::string_view text, Fn fn) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    while (i < n && is_sep(text[i])) ++i;
    if (i >= n) break;
    const std::size_t start = i;
    bool in_quote = false;
    bool in_angle = false;
    while (i < n) {
      const char c = text[i];
      if (c == '\\' && in_quote && i + 1 < n) {
        i += 2;
        continue;
      }
      if (c == '"') in_quote = !in_quote;
      if (!in_quote && c == '<') in_angle = true;
      if (!in_quote && c == '>') in_angle = false;
      if (!in_quote && !in_angle && is_sep(c)) break;
      ++i;
    }
    fn(text.substr(start, i - start));
  }
}

// The address a lenient token names, if any: "Name<a@b>" glued keeps only the bracketed part.
base::Result<Address> token_address(std::string_view tok) {
  const auto lt = tok.find('<');
  if (lt != std::string_view::npos && lt > 0 && tok.find('"') == std::string_view::npos)
    tok.remove_prefix(lt);
  return parse_addr_spec(tok);
}

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

}  // namespace

base::Result<std::vector<std::string>> parse_envelope_value(std::string_view value,
                                                            const EnvelopeSpec& spec) {
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
  std::vector<std::string> out;
  out.reserve(found.size());
  for (auto& f : found) {
    std::string a = finish(std::move(f), spec);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
  }
  return out;
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

#pragma once
// Lexing shared by the envelope-header and Received-line readers (private to mail/): comments
// removed, tokens split, a token read as an address. Total on any input.
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "mail/address.hpp"

namespace dropcheck::mail::lex {

// Removes comments (nested, with quoted-pairs; quoted strings respected) and replaces each
// with a space. An unterminated comment swallows the rest, like a parser would.
inline std::string strip_comments(std::string_view v) {
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

inline bool is_sep(char c) {
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
inline base::Result<Address> token_address(std::string_view tok) {
  const auto lt = tok.find('<');
  if (lt != std::string_view::npos && lt > 0 && tok.find('"') == std::string_view::npos)
    tok.remove_prefix(lt);
  return parse_addr_spec(tok);
}

}  // namespace dropcheck::mail::lex

#include "mail/received.hpp"

#include <array>

#include "base/strings.hpp"
#include "envelope_lex.hpp"

namespace dropcheck::mail {
namespace {

// RFC 5321 4.4: the clause keywords of a Stamp (Opt-info: via, with, id, for).
enum class Clause { none, from, by, via, with, id, for_, unknown };

Clause keyword(std::string_view tok) {
  constexpr std::array<std::pair<std::string_view, Clause>, 6> kWords = {{{"from", Clause::from},
                                                                          {"by", Clause::by},
                                                                          {"via", Clause::via},
                                                                          {"with", Clause::with},
                                                                          {"id", Clause::id},
                                                                          {"for", Clause::for_}}};
  for (const auto& [w, c] : kWords)
    if (base::iequals(tok, w)) return c;
  return Clause::none;
}

// The clauses before the date: up to the last ';' outside quotes and angle brackets (a
// quoted local part may hold one).
std::size_t date_separator(std::string_view text) {
  std::size_t last = std::string_view::npos;
  bool in_quote = false;
  bool in_angle = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && in_quote) {
      ++i;
      continue;
    }
    if (c == '"') in_quote = !in_quote;
    if (!in_quote && c == '<') in_angle = true;
    if (!in_quote && c == '>') in_angle = false;
    if (!in_quote && !in_angle && c == ';') last = i;
  }
  return last;
}

std::string host_key(std::string_view h) {
  std::string s = base::to_lower(h);
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

void take_value(ReceivedTrace& t, Clause c, std::string_view tok) {
  switch (c) {
    case Clause::from:
      if (t.from.empty()) t.from = std::string(tok);
      break;
    case Clause::by:
      if (t.by.empty()) t.by = host_key(tok);
      break;
    case Clause::with:
      if (t.with.empty()) t.with = std::string(tok);
      break;
    case Clause::id:
      if (t.id.empty()) t.id = std::string(tok);
      break;
    case Clause::for_: {
      auto a = lex::token_address(tok);
      if (a.ok())
        t.for_addrs.push_back(a->addr_spec());
      else
        t.for_damaged = true;
      break;
    }
    default:
      break;
  }
}

}  // namespace

bool same_host(std::string_view a, std::string_view b) {
  return !a.empty() && host_key(a) == host_key(b);
}

ReceivedTrace parse_received(std::string_view value) {
  ReceivedTrace t;
  std::string text = lex::strip_comments(value);
  const std::size_t semi = date_separator(text);
  if (semi != std::string_view::npos) {
    t.has_date = !base::trim(std::string_view(text).substr(semi + 1)).empty();
    text.resize(semi);
  }
  Clause current = Clause::none;
  bool has_value = true;  // whether `current` already took its value
  lex::for_each_token(text, [&](std::string_view tok) {
    const Clause k = keyword(tok);
    if (k != Clause::none && has_value) {
      current = k;
      has_value = false;
      if (k == Clause::for_) t.has_for = true;
      return;
    }
    if (!has_value) take_value(t, current, tok);
    has_value = true;  // words after a clause's value (Exim's "tls ...") are not values
  });
  if (t.has_for && t.for_addrs.empty()) t.for_damaged = true;
  return t;
}

}  // namespace dropcheck::mail

#include "mail/address.hpp"

#include <cstdint>
#include <string>

#include "base/strings.hpp"

namespace dropcheck::mail {
namespace {

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 5322 3.2.3 atext, plus every octet >= 0x80 (RFC 6532 3.2: UTF8-non-ascii).
bool is_atext(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return true;
  if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_dot_atom_text(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (s[i + 1] == '.') return false;
    } else if (!is_atext(s[i])) {
      return false;
    }
  }
  return true;
}

enum class Tok { kEnd, kAtom, kQuoted, kLiteral, kSpecial };

struct Token {
  Tok kind = Tok::kEnd;
  std::string_view text;  // atom / special / literal as written; quoted: raw inside quotes
  std::size_t offset = 0;
  bool space_before = false;  // CFWS preceded the token
  char special() const { return kind == Tok::kSpecial ? text[0] : '\0'; }
};

base::Error err(std::string code, std::string_view what, std::size_t offset) {
  return base::make_error(std::move(code),
                          std::string(what) + " at offset " + std::to_string(offset));
}

// Lexer for RFC 5322 3.2 structured values: skips CFWS (nested comments with quoted-pairs)
// and yields atoms, quoted strings, domain literals and specials.
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  // Fills `tok`; returns an error for unterminated constructs and stray characters.
  bool next(Token& tok, base::Error& error) {
    bool space = false;
    for (;;) {
      while (pos_ < s_.size() && is_fws(s_[pos_])) {
        ++pos_;
        space = true;
      }
      if (pos_ < s_.size() && s_[pos_] == '(') {
        if (!skip_comment(error)) return false;
        space = true;
        continue;
      }
      break;
    }
    tok.space_before = space;
    tok.offset = pos_;
    if (pos_ >= s_.size()) {
      tok.kind = Tok::kEnd;
      tok.text = {};
      return true;
    }
    const char c = s_[pos_];
    if (is_atext(c)) {
      std::size_t e = pos_ + 1;
      while (e < s_.size() && is_atext(s_[e])) ++e;
      tok.kind = Tok::kAtom;
      tok.text = s_.substr(pos_, e - pos_);
      pos_ = e;
      return true;
    }
    if (c == '"') {
      std::size_t e = pos_ + 1;
      while (e < s_.size() && s_[e] != '"') e += (s_[e] == '\\' && e + 1 < s_.size()) ? 2 : 1;
      if (e >= s_.size()) {
        error = err("unterminated-quoted-string", "quoted string opened", pos_);
        return false;
      }
      tok.kind = Tok::kQuoted;
      tok.text = s_.substr(pos_ + 1, e - pos_ - 1);
      pos_ = e + 1;
      return true;
    }
    if (c == '[') {
      std::size_t e = pos_ + 1;
      while (e < s_.size() && s_[e] != ']' && s_[e] != '[')
        e += (s_[e] == '\\' && e + 1 < s_.size()) ? 2 : 1;
      if (e >= s_.size() || s_[e] != ']') {
        error = err("unterminated-domain-literal", "domain literal opened", pos_);
        return false;
      }
      tok.kind = Tok::kLiteral;
      tok.text = s_.substr(pos_, e + 1 - pos_);
      pos_ = e + 1;
      return true;
    }
    switch (c) {
      case '<':
      case '>':
      case ':':
      case ';':
      case '@':
      case ',':
      case '.':
        tok.kind = Tok::kSpecial;
        tok.text = s_.substr(pos_, 1);
        ++pos_;
        return true;
      default:
        break;
    }
    error = err("unexpected-character",
                "unexpected character 0x" + hex(static_cast<unsigned char>(c)), pos_);
    return false;
  }

 private:
  static std::string hex(unsigned char u) {
    static constexpr char kHex[] = "0123456789abcdef";
    return {kHex[u >> 4], kHex[u & 0xf]};
  }

  bool skip_comment(base::Error& error) {
    const std::size_t start = pos_;
    std::size_t depth = 0;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '\\') {
        pos_ += 2;
        continue;
      }
      ++pos_;
      if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (--depth == 0) return true;
      }
    }
    pos_ = s_.size();
    error = err("unterminated-comment", "comment opened", start);
    return false;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// Content of a quoted string: quoted-pairs unescaped, folding line breaks removed
// (RFC 5322 3.2.4: the CRLF of FWS inside a quoted string is not part of it).
void append_quoted(std::string& out, std::string_view q) {
  for (std::size_t i = 0; i < q.size(); ++i) {
    char c = q[i];
    if (c == '\\' && i + 1 < q.size()) {
      out.push_back(q[++i]);
      continue;
    }
    if (c == '\r' || c == '\n') continue;
    out.push_back(c);
  }
}

// One quoted-string holding `s`: '"' and '\\' escaped, and CR/LF too (as quoted-pairs,
// RFC 5322 4.1 obs-qp) because an unescaped CR/LF inside quotes is folding, not content.
std::string quote_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\' || c == '\r' || c == '\n') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

class Parser {
 public:
  Parser(std::string_view s, bool allow_groups) : lex_(s), allow_groups_(allow_groups) {}

  base::Result<std::vector<Address>> address_list() {
    if (!advance()) return error_;
    // obs-addr-list: empty elements between commas are allowed (RFC 5322 4.4).
    for (;;) {
      while (tok_.special() == ',')
        if (!advance()) return error_;
      if (tok_.kind == Tok::kEnd) break;
      if (!address()) return error_;
      if (tok_.kind == Tok::kEnd) break;
      if (tok_.special() != ',')
        return err("expected-comma", "expected ',' between addresses", tok_.offset);
    }
    return std::move(out_);
  }

  base::Result<Address> single_addr_spec() {
    if (!advance()) return error_;
    std::vector<Token> words;
    if (!collect_words(words)) return error_;
    Address a;
    if (tok_.special() == '<' && words.empty()) {
      if (!advance()) return error_;
      if (!angle_addr(a)) return error_;
    } else {
      if (tok_.special() != '@') return err("expected-at", "expected '@'", tok_.offset);
      if (!local_part(words, a.local_part)) return error_;
      if (!advance() || !domain(a.domain)) return error_;
    }
    if (tok_.kind != Tok::kEnd)
      return err("trailing-garbage", "unexpected text after address", tok_.offset);
    return a;
  }

 private:
  bool advance() { return lex_.next(tok_, error_); }

  bool fail(std::string code, std::string_view what, std::size_t offset) {
    error_ = err(std::move(code), what, offset);
    return false;
  }

  bool collect_words(std::vector<Token>& words) {
    while (tok_.kind == Tok::kAtom || tok_.kind == Tok::kQuoted || tok_.special() == '.') {
      words.push_back(tok_);
      if (!advance()) return false;
    }
    return true;
  }

  // address = mailbox / group; on return tok_ is the token after it.
  bool address(const std::string* group = nullptr) {
    const std::size_t start = tok_.offset;
    std::vector<Token> words;
    if (!collect_words(words)) return false;
    const char sp = tok_.special();
    if (sp == '<') {
      Address a;
      a.display_name = phrase(words);
      if (group) a.group = *group;
      if (!advance() || !angle_addr(a)) return false;
      out_.push_back(std::move(a));
      return true;
    }
    if (sp == '@') {
      Address a;
      if (group) a.group = *group;
      if (!local_part(words, a.local_part)) return false;
      if (!advance() || !domain(a.domain)) return false;
      out_.push_back(std::move(a));
      return true;
    }
    if (sp == ':') {
      if (group) return fail("nested-group", "group inside a group", tok_.offset);
      if (!allow_groups_) return fail("group-not-allowed", "group in a mailbox list", tok_.offset);
      if (words.empty()) return fail("expected-group-name", "expected a group name", tok_.offset);
      const std::string name = phrase(words);
      if (!advance()) return false;
      for (;;) {
        while (tok_.special() == ',')
          if (!advance()) return false;
        // A missing ';' at the end of the value is a common slip ("undisclosed-recipients:").
        if (tok_.kind == Tok::kEnd) return true;
        if (tok_.special() == ';') return advance();
        if (!address(&name)) return false;
        if (tok_.kind == Tok::kEnd) return true;
        if (tok_.special() != ',' && tok_.special() != ';')
          return fail("expected-comma", "expected ',' or ';' in group", tok_.offset);
      }
    }
    if (words.empty()) return fail("expected-address", "expected an address", tok_.offset);
    if (tok_.kind == Tok::kEnd || sp == ',' || sp == ';')
      return fail("expected-at", "address without '@' starting", start);
    return fail("expected-at", "expected '@', '<' or ':'", tok_.offset);
  }

  // After '<': [obs-route] addr-spec '>'.
  bool angle_addr(Address& a) {
    if (tok_.special() == '>') return fail("empty-address", "empty address '<>'", tok_.offset);
    if (tok_.special() == '@' || tok_.special() == ',') {
      // obs-route = obs-domain-list ":" (RFC 5322 4.4); the route is dropped.
      for (;;) {
        while (tok_.special() == ',')
          if (!advance()) return false;
        if (tok_.special() != '@') break;
        std::string ignored;
        if (!advance() || !domain(ignored)) return false;
      }
      if (tok_.special() != ':')
        return fail("expected-colon", "expected ':' after route", tok_.offset);
      if (!advance()) return false;
    }
    std::vector<Token> words;
    if (!collect_words(words)) return false;
    if (tok_.special() != '@') return fail("expected-at", "expected '@'", tok_.offset);
    if (!local_part(words, a.local_part)) return false;
    if (!advance() || !domain(a.domain)) return false;
    if (tok_.special() != '>') return fail("expected-angle-close", "expected '>'", tok_.offset);
    return advance();
  }

  // local-part = dot-atom / quoted-string / obs-local-part (word *("." word)). Leniently
  // accepts empty labels ("a..b", seen in the wild); the result is written unquoted when it
  // is a dot-atom and as one quoted string otherwise (RFC 5321 4.1.2 canonical form).
  bool local_part(const std::vector<Token>& words, std::string& out) {
    if (words.empty()) return fail("expected-local-part", "expected a local part", tok_.offset);
    std::string value;
    bool prev_word = false;
    for (const Token& w : words) {
      const bool is_word = w.kind != Tok::kSpecial;
      if (is_word && prev_word)
        return fail("bad-local-part", "two words without '.' in local part", w.offset);
      if (w.kind == Tok::kQuoted) {
        append_quoted(value, w.text);
      } else {
        value.append(w.text);
      }
      prev_word = is_word;
    }
    if (is_dot_atom_text(value)) {
      out = std::move(value);
      return true;
    }
    out = quote_string(value);
    return true;
  }

  // domain = dot-atom / domain-literal / obs-domain (atom *("." atom)), CFWS dropped.
  bool domain(std::string& out) {
    out.clear();
    if (tok_.kind == Tok::kLiteral) {
      // FWS inside the brackets is dropped; quoted-pairs (obs-dtext) are kept whole.
      const std::string_view t = tok_.text;
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '\\' && i + 1 < t.size()) {
          out.push_back(t[i]);
          out.push_back(t[++i]);
        } else if (!is_fws(t[i])) {
          out.push_back(t[i]);
        }
      }
      return advance();
    }
    if (tok_.kind != Tok::kAtom) return fail("expected-domain", "expected a domain", tok_.offset);
    out.append(tok_.text);
    if (!advance()) return false;
    while (tok_.special() == '.') {
      if (!advance()) return false;
      if (tok_.kind != Tok::kAtom)
        return fail("expected-domain", "expected a domain label after '.'", tok_.offset);
      out.push_back('.');
      out.append(tok_.text);
      if (!advance()) return false;
    }
    return true;
  }

  // phrase = 1*word / obs-phrase; CFWS between words becomes one space.
  static std::string phrase(const std::vector<Token>& words) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (i > 0 && words[i].space_before) out.push_back(' ');
      if (words[i].kind == Tok::kQuoted)
        append_quoted(out, words[i].text);
      else
        out.append(words[i].text);
    }
    return out;
  }

  Lexer lex_;
  bool allow_groups_;
  Token tok_;
  base::Error error_;
  std::vector<Address> out_;
};

std::string lower_ascii(std::string_view s) { return base::to_lower(s); }

bool display_needs_quotes(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ' ') {
      if (s[i + 1] == ' ') return true;
      continue;
    }
    if (!is_atext(c)) return true;
  }
  return false;
}

// A display name or group name as a phrase: bare when it is atoms separated by single
// spaces, else one quoted string.
std::string format_phrase(std::string_view s) {
  if (!display_needs_quotes(s)) return std::string(s);
  return quote_string(s);
}

}  // namespace

std::string Address::addr_spec() const {
  std::string out;
  out.reserve(local_part.size() + 1 + domain.size());
  out.append(local_part);
  out.push_back('@');
  out.append(lower_ascii(domain));
  return out;
}

base::Result<std::vector<Address>> parse_address_list(std::string_view value) {
  return Parser(value, true).address_list();
}

base::Result<std::vector<Address>> parse_mailbox_list(std::string_view value) {
  return Parser(value, false).address_list();
}

base::Result<Address> parse_addr_spec(std::string_view value) {
  return Parser(value, false).single_addr_spec();
}

std::string normalize_address(std::string_view addr) {
  std::string_view s = base::trim(addr);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>')
    s = base::trim(s.substr(1, s.size() - 2));
  const auto at = s.rfind('@');
  if (at == std::string_view::npos) return std::string(s);
  std::string out(s.substr(0, at + 1));
  out.append(lower_ascii(s.substr(at + 1)));
  return out;
}

std::string domain_of(std::string_view addr) {
  std::string_view s = base::trim(addr);
  if (!s.empty() && s.back() == '>') s.remove_suffix(1);
  const auto at = s.rfind('@');
  if (at == std::string_view::npos) return {};
  return lower_ascii(base::trim(s.substr(at + 1)));
}

std::string format_address(const Address& a) {
  std::string spec = a.local_part + "@" + a.domain;
  if (a.display_name.empty()) return spec;
  std::string out = format_phrase(a.display_name);
  out.append(" <");
  out.append(spec);
  out.push_back('>');
  return out;
}

std::string format_address_list(std::span<const Address> addresses) {
  std::string out;
  std::size_t i = 0;
  while (i < addresses.size()) {
    if (!out.empty()) out.append(", ");
    const std::string& group = addresses[i].group;
    if (group.empty()) {
      out.append(format_address(addresses[i++]));
      continue;
    }
    out.append(format_phrase(group));
    out.append(": ");
    bool first = true;
    while (i < addresses.size() && addresses[i].group == group) {
      if (!first) out.append(", ");
      first = false;
      out.append(format_address(addresses[i++]));
    }
    out.push_back(';');
  }
  return out;
}

}  // namespace dropcheck::mail

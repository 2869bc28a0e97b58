#include "journal/codec.hpp"

#include <concepts>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base/strings.hpp"
#include "journal/fields.hpp"
#include "line_scanner.hpp"
#include "line_writer.hpp"

namespace dropcheck::journal {
namespace {

using detail::LineWriter;
using nlohmann::json;

// The writer: journal/fields.hpp's description, printed.
struct Printer {
  LineWriter& w;

  void operator()(const char* name, const std::string& s) const { w.key(name).bytes(s); }
  void operator()(const char* name, bool b) const { w.key(name).boolean(b); }
  template <std::integral T>
  void operator()(const char* name, T n) const {
    w.key(name).number(n);
  }
  void operator()(const char* name, const std::vector<std::string>& xs) const {
    w.key(name).open('[');
    for (const auto& x : xs) w.bytes(x);
    w.close(']');
  }
  template <typename R>
  void operator()(const char* name, const std::vector<R>& xs) const {
    w.key(name).open('[');
    for (const auto& x : xs) {
      w.open('{');
      describe(x, *this);
      w.close('}');
    }
    w.close(']');
  }
};

// A journal line as JSON. The writer puts only integers in it: a floating-point number (also
// what the parser makes of an integer past 2^64) is refused here, so that reading it into an
// integer field (a float-to-integer overflow, undefined behaviour) can never happen.
json parse_record(std::string_view line) {
  const auto no_floats = [](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::value && parsed.is_number_float())
      throw std::invalid_argument("a number that is not an integer in range");
    return true;
  };
  return json::parse(line, no_floats);
}

// Octets written by LineWriter::bytes: a string, or {"hex": "..."}.
std::string unbytes(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  const std::string hex = j.at("hex").get<std::string>();
  if (hex.size() % 2) throw std::invalid_argument("odd hex length");
  const auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::invalid_argument("bad hex digit");
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2)
    out.push_back(static_cast<char>(val(hex[i]) * 16 + val(hex[i + 1])));
  return out;
}

const json& array_at(const json& j, const char* name) {
  const json& a = j.at(name);
  if (!a.is_array()) throw std::invalid_argument(std::string(name) + ": not an array");
  return a;
}

// The reader: journal/fields.hpp's description, filled from a parsed line. Every member is
// required; a wrong type throws (caught by the callers: "journal-bad-line").
struct Filler {
  const json& j;

  void operator()(const char* name, std::string& s) const { s = unbytes(j.at(name)); }
  void operator()(const char* name, bool& b) const { b = j.at(name).get<bool>(); }
  template <std::integral T>
  void operator()(const char* name, T& n) const {
    n = j.at(name).get<T>();
  }
  void operator()(const char* name, std::vector<std::string>& xs) const {
    for (const auto& e : array_at(j, name)) xs.push_back(unbytes(e));
  }
  template <typename R>
  void operator()(const char* name, std::vector<R>& xs) const {
    for (const auto& e : array_at(j, name)) {
      R r;
      describe(r, Filler{e});
      xs.push_back(std::move(r));
    }
  }
};

// Parses `line` into a record of type R: the version first (an unknown one is its own error),
// then every described member.
template <typename R>
base::Result<R> read_record(std::string_view line, json& j) {
  j = parse_record(line);
  const int version = j.at("version").get<int>();
  if (version != kJournalVersion)
    return base::Error{"journal-version", "unsupported version " + std::to_string(version)};
  R r;
  describe(r, Filler{j});
  return r;
}

void read_inline_message(const json& j, TransactionRecord& r) {
  const auto m = j.find("message");
  if (m == j.end()) return;
  if (m->is_string()) {
    r.message = m->get<std::string>();
  } else {
    auto decoded = base::base64_decode_strict(m->at("base64").get<std::string>());
    if (!decoded) throw std::invalid_argument("message: bad base64");
    r.message = std::move(*decoded);
  }
  r.message_inline = true;
}

void write_inline_message(const std::string& message, LineWriter& w) {
  w.key("message");
  if (base::valid_utf8(message)) {
    w.string(message);
    return;
  }
  w.open('{');
  w.key("base64").string(base::base64_encode(message));
  w.close('}');
}

}  // namespace

void append_json_line(const TransactionRecord& r, bool inline_message, std::string& out) {
  out.reserve(out.size() + 1024 + (inline_message ? r.message.size() + r.message.size() / 8 : 0));
  LineWriter w(out);
  w.open('{');
  describe(r, Printer{w});
  if (inline_message && !r.sha256.empty()) write_inline_message(r.message, w);
  w.close('}');
}

std::string to_json_line(const TransactionRecord& r, bool inline_message) {
  std::string out;
  append_json_line(r, inline_message, out);
  return out;
}

std::string to_json_line(const SessionRecord& r) {
  std::string out;
  LineWriter w(out);
  w.open('{');
  describe(r, Printer{w});
  w.close('}');
  return out;
}

base::Result<TransactionRecord> from_json_line(std::string_view line, Fields fields) {
  TransactionRecord rec;
  if (detail::scan_transaction(line, rec, fields)) return rec;
  return from_json_line_tree(line);
}

base::Result<SessionRecord> session_from_json_line(std::string_view line) {
  SessionRecord rec;
  if (detail::scan_session(line, rec)) return rec;
  return session_from_json_line_tree(line);
}

base::Result<TransactionRecord> from_json_line_tree(std::string_view line) {
  try {
    json j;
    auto r = read_record<TransactionRecord>(line, j);
    if (r.ok()) read_inline_message(j, *r);
    return r;
  } catch (const std::exception& e) {
    return base::make_error("journal-bad-line", e.what());
  }
}

base::Result<SessionRecord> session_from_json_line_tree(std::string_view line) {
  try {
    json j;
    return read_record<SessionRecord>(line, j);
  } catch (const std::exception& e) {
    return base::make_error("journal-bad-line", e.what());
  }
}

std::filesystem::path journal_file(const std::filesystem::path& dir) {
  return dir / "journal.jsonl";
}

std::filesystem::path sessions_file(const std::filesystem::path& dir) {
  return dir / "sessions.jsonl";
}

std::filesystem::path message_file(const std::filesystem::path& dir, const std::string& sha256) {
  return dir / "messages" / (sha256 + ".eml");
}

}  // namespace dropcheck::journal

#include "analyzer/report.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <iterator>
#include <string_view>

#include "analyzer/severity.hpp"

namespace dropcheck::analyzer {

namespace {

// RFC 3629 4: the length of the well-formed UTF-8 sequence at s[i], 0 if there is none.
// The second octet's range excludes overlong forms, surrogates and code points past U+10FFFF.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  }
  if (n == 0 || i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0F]);
  }
  return out;
}

}  // namespace

std::string utf8_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (const std::size_t n = utf8_sequence(s, i); n > 0) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    const auto b = static_cast<unsigned char>(s[i++]);  // Latin-1: U+0080..U+00FF
    out.push_back(static_cast<char>(0xC0 | (b >> 6)));
    out.push_back(static_cast<char>(0x80 | (b & 0x3F)));
  }
  return out;
}

void utf8_safe(nlohmann::json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    if (std::string t = utf8_text(s); t != s) s = std::move(t);
    return;
  }
  if (j.is_array()) {
    for (auto& e : j) utf8_safe(e);
    return;
  }
  if (!j.is_object()) return;
  std::vector<std::pair<std::string, std::string>> hexed;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_string()) {
      utf8_safe(*it);
      continue;
    }
    auto& s = it->get_ref<std::string&>();
    std::string t = utf8_text(s);
    if (t == s) continue;
    hexed.emplace_back(it.key() + "_hex", hex(s));
    s = std::move(t);
  }
  for (auto& [key, value] : hexed) j[key] = std::move(value);
}

namespace {

nlohmann::json finding_json(const Finding& f) {
  nlohmann::json fj{{"type", f.type},
                    {"message", f.message},
                    {"recipient", f.recipient},
                    {"evidence", f.evidence}};
  if (f.journal_seq >= 0) fj["journal_seq"] = f.journal_seq;
  fj["severity"] = std::string(severity_name(severity_of(f.type)));
  if (f.blind_copy) fj["blind_copy"] = true;
  utf8_safe(fj);
  return fj;
}

nlohmann::json message_json(const MessageStats& m) {
  nlohmann::json deliveries = nlohmann::json::array();
  for (const auto& d : m.deliveries)
    deliveries.push_back({{"mailbox", d.mailbox}, {"seq", d.journal_seq}, {"ms", d.virtual_ms}});
  nlohmann::json mj{{"id", m.id},
                    {"copies", m.copies},
                    {"latency_ms", m.latency_ms},
                    {"recipient_latency_ms", m.recipient_latency_ms},
                    {"data_ms", m.data_ms},
                    {"injected_ms", m.injected_ms},
                    {"deliveries", std::move(deliveries)},
                    {"deliveries_total", m.deliveries_total}};
  utf8_safe(mj);
  return mj;
}

// The members after "findings" and "messages" (in nlohmann's order, by name).
nlohmann::json head_json(const Report& r) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["transactions"] = r.transactions;
  utf8_safe(j);
  return j;
}

// Writes each piece to `out`; `ok` turns false at the first failed write.
auto file_writer(std::FILE* out, bool& ok) {
  return [out, &ok](std::string_view s) {
    ok = ok && std::fwrite(s.data(), 1, s.size(), out) == s.size();
  };
}

// j.dump(2) as it appears `indent` spaces deep in an enclosing dump(2).
std::string nested_dump(const nlohmann::json& j, std::size_t indent) {
  const std::string flat = j.dump(2);
  std::string out;
  out.reserve(flat.size());
  for (const char c : flat) {
    out.push_back(c);
    if (c == '\n') out.append(indent, ' ');
  }
  return out;
}

// Writes `items` as the array member `name` of the top-level object, after what came before.
template <typename T>
std::string array_member(std::string_view name, const std::vector<T>& items,
                         nlohmann::json (*to)(const T&)) {
  std::string out = fmt::format("  \"{}\": ", name);
  if (items.empty()) return out + "[]";
  out += "[\n";
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i ? ",\n    " : "    ") + nested_dump(to(items[i]), 4);
  return out + "\n  ]";
}

}  // namespace

nlohmann::json to_json(const Report& r) {
  nlohmann::json j = head_json(r);
  j["findings"] = nlohmann::json::array();
  for (const auto& f : r.findings) j["findings"].push_back(finding_json(f));
  j["messages"] = nlohmann::json::array();
  for (const auto& m : r.messages) j["messages"].push_back(message_json(m));
  return j;
}

void JsonReportWriter::head(const Report& r) {
  const auto write = file_writer(out_, ok_);
  write("{\n" + array_member("findings", r.findings, finding_json) + ",\n  \"messages\": ");
  const nlohmann::json head = head_json(r);
  for (const auto& [key, value] : head.items())
    tail_ += ",\n  " + nlohmann::json(key).dump() + ": " + nested_dump(value, 2);
  tail_ += "\n}";
}

void JsonReportWriter::message(const MessageStats& m) {
  file_writer(out_, ok_)((first_ ? "[\n    " : ",\n    ") + nested_dump(message_json(m), 4));
  first_ = false;
}

bool JsonReportWriter::end() {
  file_writer(out_, ok_)((first_ ? "[]" : "\n  ]") + tail_);
  return ok_;
}

bool print_json(std::FILE* out, const Report& r) {
  JsonReportWriter w(out);
  w.head(r);
  for (const auto& m : r.messages) w.message(m);
  return w.end();
}

namespace {

// The text report's first line and its findings.
std::string text_head(const Report& r) {
  std::string out = fmt::format("scenario {}: {} finding(s), {} transaction(s)\n", r.scenario,
                                r.findings.size(), r.transactions);
  for (const auto& f : r.findings)
    out += fmt::format("  {:<22} {:<10} {:<28} {}\n", f.type, f.message.empty() ? "-" : f.message,
                       f.recipient.empty() ? "-" : f.recipient, f.evidence);
  return out;
}

// A message's line, appended to `out` (formatted in place: 500,000 of them at 1M records).
void append_text_line(const MessageStats& m, fmt::memory_buffer& out) {
  const auto to = std::back_inserter(out);
  fmt::format_to(to, "  message {:<10} copies={} latency_ms={} data_ms={}", m.id, m.copies,
                 m.latency_ms, m.data_ms);
  // Per recipient only when there is more than one: with one it is latency_ms again.
  if (m.recipient_latency_ms.size() > 1)
    for (const auto& [rcpt, ms] : m.recipient_latency_ms)
      fmt::format_to(to, " latency_ms[{}]={}", rcpt, ms);
  out.push_back('\n');
}

std::string text_line(const MessageStats& m) {
  fmt::memory_buffer line;
  append_text_line(m, line);
  return fmt::to_string(line);
}

}  // namespace

std::string to_text(const Report& r) {
  std::string out = text_head(r);
  for (const auto& m : r.messages) out += text_line(m);
  return out;
}

void TextReportWriter::head(const Report& r) { file_writer(out_, ok_)(text_head(r)); }
void TextReportWriter::message(const MessageStats& m) {
  fmt::memory_buffer line;
  append_text_line(m, line);
  file_writer(out_, ok_)(std::string_view(line.data(), line.size()));
}

bool print_text(std::FILE* out, const Report& r) {
  TextReportWriter w(out);
  w.head(r);
  for (const auto& m : r.messages) w.message(m);
  return w.ok();
}

}  // namespace dropcheck::analyzer

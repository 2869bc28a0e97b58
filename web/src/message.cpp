#include "web/message.hpp"

#include <algorithm>

#include "base/strings.hpp"

namespace dropcheck::web {
namespace {

std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool is_continuation(std::string_view line) {
  return !line.empty() && (line.front() == ' ' || line.front() == '\t');
}

// The physical lines of the header section (without line endings), up to the empty line.
std::vector<std::string_view> header_lines(std::string_view message) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const std::size_t lf = message.find('\n', pos);
    const std::size_t end = lf == std::string_view::npos ? message.size() : lf;
    const std::string_view line = strip_cr(message.substr(pos, end - pos));
    if (line.empty()) break;
    out.push_back(line);
    pos = end + 1;
  }
  return out;
}

}  // namespace

std::vector<HeaderField> header_fields(std::string_view message) {
  std::vector<HeaderField> out;
  const auto lines = header_lines(message);
  bool in_field = false;  // the last line started a field we keep
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (is_continuation(lines[i])) {
      if (in_field) {
        out.back().value += ' ';
        out.back().value += base::trim(lines[i]);
        ++out.back().lines;
      }
      continue;
    }
    in_field = false;
    const std::size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    if (out.size() == kMaxHeaderFields) break;
    HeaderField f;
    f.name = std::string(base::trim(lines[i].substr(0, colon)));
    f.value = std::string(base::trim(lines[i].substr(colon + 1)));
    f.first_line = i;
    out.push_back(std::move(f));
    in_field = true;
  }
  for (auto& f : out) f.value = std::string(base::trim(f.value));
  return out;
}

const std::vector<std::string>& envelope_header_names() {
  static const std::vector<std::string> names = {"Envelope-To", "X-Envelope-To", "X-Original-To",
                                                 "X-Rcpt-To",   "X-MDRcpt-To",   "X-Recipient-To",
                                                 "Delivered-To"};
  return names;
}

bool is_envelope_header(std::string_view name) {
  const auto& n = envelope_header_names();
  return std::any_of(n.begin(), n.end(),
                     [&](const std::string& h) { return base::iequals(h, name); });
}

bool is_disclosing_header(std::string_view name) {
  return is_envelope_header(name) || base::iequals(name, "Bcc");
}

std::string field_value(const std::vector<HeaderField>& fields, std::string_view name) {
  for (const auto& f : fields)
    if (base::iequals(f.name, name)) return f.value;
  return {};
}

std::string display_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty()) {
    const std::size_t bad = base::invalid_utf8_at(bytes);
    if (bad == std::string_view::npos) {
      out += bytes;
      break;
    }
    out += bytes.substr(0, bad);
    const auto c = static_cast<unsigned char>(bytes[bad]);
    out += static_cast<char>(0xC0 | (c >> 6));  // Latin-1 octet as a two-octet sequence
    out += static_cast<char>(0x80 | (c & 0x3F));
    bytes.remove_prefix(bad + 1);
  }
  return out;
}

std::string html(std::string_view bytes) { return base::xml_escape(display_text(bytes)); }

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  const auto it =
      std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                  [](char a, char b) { return base::ascii_lower(a) == base::ascii_lower(b); });
  return it != hay.end();
}

}  // namespace dropcheck::web

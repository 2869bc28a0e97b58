#include "protocol/pop3_capa.hpp"

#include <charconv>

#include "base/strings.hpp"

namespace dropcheck::protocol {

namespace {

// Splits "NAME rest" at the first space; the name is compared
// case-insensitively.
std::pair<std::string_view, std::string_view> name_and_rest(std::string_view line) {
  const auto sp = line.find(' ');
  if (sp == std::string_view::npos) return {line, {}};
  return {line.substr(0, sp), base::trim(line.substr(sp + 1))};
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

}  // namespace

bool Pop3Capabilities::has(std::string_view name) const {
  for (const auto &l : lines)
    if (base::iequals(name_and_rest(l).first, name)) return true;
  return false;
}

std::optional<std::string> Pop3Capabilities::argument(std::string_view name) const {
  for (const auto &l : lines) {
    const auto [n, rest] = name_and_rest(l);
    if (base::iequals(n, name)) return std::string(rest);
  }
  return std::nullopt;
}

std::vector<std::string> Pop3Capabilities::sasl_mechanisms() const {
  std::vector<std::string> out;
  const auto arg = argument("SASL");
  if (!arg) return out;
  for (auto m : base::split(*arg, ' ')) {
    m = base::trim(m);
    if (!m.empty()) out.push_back(upper(m));
  }
  return out;
}

Pop3Capabilities parse_pop3_capa(std::string_view body) {
  Pop3Capabilities c;
  for (auto l : base::split(body, '\n')) {
    l = base::trim(l);
    if (!l.empty()) c.lines.emplace_back(l);
  }
  return c;
}

std::string apop_timestamp(std::string_view text) {
  const auto lt = text.find('<');
  if (lt == std::string_view::npos) return {};
  const auto gt = text.find('>', lt);
  if (gt == std::string_view::npos) return {};
  const auto stamp = text.substr(lt, gt - lt + 1);
  // RFC 1939 7: a msg-id, "<process-ID.clock@hostname>"; require the '@'.
  if (stamp.find('@') == std::string_view::npos) return {};
  return std::string(stamp);
}

std::vector<Pop3ScanLine> parse_scan_listing(std::string_view body, std::size_t *malformed) {
  std::vector<Pop3ScanLine> out;
  std::size_t bad = 0;
  for (auto l : base::split(body, '\n')) {
    l = base::trim(l);
    if (l.empty()) continue;
    const auto sp = l.find(' ');
    std::size_t n = 0;
    const auto num = l.substr(0, sp == std::string_view::npos ? l.size() : sp);
    const auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
    if (sp == std::string_view::npos || ec != std::errc() || ptr != num.data() + num.size() ||
        n == 0) {
      ++bad;
      continue;
    }
    const auto value = base::trim(l.substr(sp + 1));
    if (value.empty()) {
      ++bad;
      continue;
    }
    out.push_back({n, std::string(value)});
  }
  if (malformed) *malformed = bad;
  return out;
}

}  // namespace dropcheck::protocol

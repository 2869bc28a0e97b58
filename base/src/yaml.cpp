#include "base/yaml.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "base/strings.hpp"

namespace dropcheck::base {

namespace {
// 1-based line and column of offset `at` in `text` (columns count octets).
std::pair<std::size_t, std::size_t> line_col(std::string_view text, std::size_t at) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < at && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}
}  // namespace

YAML::Node YamlReader::parse(std::string_view text) const {
  // YAML 1.2 5.2: a stream is Unicode; yaml-cpp reads UTF-8 and would pass stray octets on.
  if (const auto bad = invalid_utf8_at(text); bad != std::string_view::npos) {
    const auto [line, col] = line_col(text, bad);
    throw YamlError(fmt::format("{}:{}:{}: not UTF-8 text (octet 0x{:02X})", source_, line, col,
                                static_cast<unsigned char>(text[bad])));
  }
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    throw YamlError(fmt::format("{}:{}:{}: syntax error: {}", source_, e.mark.line + 1,
                                e.mark.column + 1, e.msg));
  }
}

std::string YamlReader::where(const YAML::Node& node) const {
  const YAML::Mark m = node.Mark();
  if (m.is_null()) return source_;
  return fmt::format("{}:{}:{}", source_, m.line + 1, m.column + 1);
}

void YamlReader::fail(const YAML::Node& node, std::string_view field, std::string_view what) const {
  throw YamlError(fmt::format("{}: {}: {}", where(node), field, what));
}

void YamlReader::require_map(const YAML::Node& node, std::string_view field) const {
  if (!node.IsMap()) fail(node, field, "expected a mapping");
  // yaml-cpp keeps both entries of a repeated key and lookups see the first: a second value
  // would be ignored silently (YAML 1.2 3.2.1.1: keys are unique).
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) fail(kv.first, field, "expected a plain key");
    const std::string& key = kv.first.Scalar();
    if (!seen.insert(key).second)
      fail(kv.first, field.empty() ? key : std::string(field) + "." + key, "duplicate key");
  }
}

void YamlReader::only_keys(const YAML::Node& map, std::string_view field,
                           std::initializer_list<std::string_view> allowed) const {
  require_map(map, field);
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(kv.first, field.empty() ? key : std::string(field) + "." + key,
           "unknown key (allowed: " + list + ")");
    }
  }
}

void YamlReader::require_version(const YAML::Node& root, int supported) const {
  const YAML::Node v = root["version"];
  if (!v) fail(root, "version", fmt::format("missing (this program reads version: {})", supported));
  int got = 0;
  try {
    got = v.as<int>();
  } catch (const YAML::Exception&) {
    fail(v, "version", "not a number");
  }
  if (got != supported)
    fail(v, "version", fmt::format("unsupported version {} (want {})", got, supported));
}

namespace {
std::string join(std::string_view field, std::string_view key) {
  return field.empty() ? std::string(key) : std::string(field) + "." + std::string(key);
}
}  // namespace

std::string YamlReader::str(const YAML::Node& map, std::string_view key, std::string_view field,
                            std::string fallback) const {
  const YAML::Node n = map[std::string(key)];
  if (!n || n.IsNull()) return fallback;
  if (!n.IsScalar()) fail(n, join(field, key), "expected a string");
  return n.Scalar();
}

std::string YamlReader::req_str(const YAML::Node& map, std::string_view key,
                                std::string_view field) const {
  const YAML::Node n = map[std::string(key)];
  if (!n || n.IsNull()) fail(map, join(field, key), "missing");
  if (!n.IsScalar()) fail(n, join(field, key), "expected a string");
  return n.Scalar();
}

bool YamlReader::boolean(const YAML::Node& map, std::string_view key, std::string_view field,
                         bool fallback) const {
  const YAML::Node n = map[std::string(key)];
  if (!n || n.IsNull()) return fallback;
  bool b = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b))
    fail(n, join(field, key), "expected true or false");
  return b;
}

long long YamlReader::integer(const YAML::Node& map, std::string_view key, std::string_view field,
                              long long fallback, long long min, long long max) const {
  const YAML::Node n = map[std::string(key)];
  if (!n || n.IsNull()) return fallback;
  long long v = 0;
  const std::string& s = n.Scalar();
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!n.IsScalar() || ec != std::errc() || p != s.data() + s.size())
    fail(n, join(field, key), "expected a whole number");
  if (v < min || v > max)
    fail(n, join(field, key), fmt::format("{} is out of range [{}, {}]", v, min, max));
  return v;
}

std::vector<std::string> YamlReader::str_list(const YAML::Node& map, std::string_view key,
                                              std::string_view field) const {
  const YAML::Node n = map[std::string(key)];
  std::vector<std::string> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence())
    fail(n, join(field, key),
         n.IsScalar() ? "expected a list of strings (write [" + n.Scalar() + "] for one)"
                      : std::string("expected a list of strings"));
  for (std::size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar())
      fail(n[i], fmt::format("{}[{}]", join(field, key), i), "expected a string");
    out.push_back(n[i].Scalar());
  }
  return out;
}

long long YamlReader::duration_ms(const YAML::Node& map, std::string_view key,
                                  std::string_view field, long long fallback) const {
  const YAML::Node n = map[std::string(key)];
  if (!n || n.IsNull()) return fallback;
  if (!n.IsScalar()) fail(n, join(field, key), "expected a duration like 90s, 5m, 250ms");
  const std::string& s = n.Scalar();
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || v < 0)
    fail(n, join(field, key), "expected a duration like 90s, 5m, 250ms");
  const std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
  long long scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1000;
  else if (unit == "ms")
    scale = 1;
  else if (unit == "m" || unit == "min")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit == "d")
    scale = 86'400'000;
  else
    fail(n, join(field, key), "unknown unit '" + std::string(unit) + "' (use ms, s, m, h, d)");
  if (v > std::numeric_limits<long long>::max() / scale)
    fail(n, join(field, key), "duration too large");
  return v * scale;
}

}  // namespace dropcheck::base

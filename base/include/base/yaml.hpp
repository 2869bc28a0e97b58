#pragma once
// Strict YAML reading shared by every loader (configs, scenarios, profiles): unknown keys are
// rejected, and every error names file:line:col and the field.
#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::base {

// Thrown inside loaders only; loaders catch it and return it as a Result error.
struct YamlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class YamlReader {
 public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }

  // Parses text; throws YamlError "file:line:col: syntax error: ..." (also for text that is not
  // UTF-8).
  YAML::Node parse(std::string_view text) const;

  // "file:line:col" of a node.
  std::string where(const YAML::Node& node) const;
  [[noreturn]] void fail(const YAML::Node& node, std::string_view field,
                         std::string_view what) const;

  // A mapping with unique scalar keys.
  void require_map(const YAML::Node& node, std::string_view field) const;
  // require_map, and rejects any key of `map` not in `allowed`.
  void only_keys(const YAML::Node& map, std::string_view field,
                 std::initializer_list<std::string_view> allowed) const;
  // Requires `version: 1` (or one of `supported`).
  void require_version(const YAML::Node& root, int supported) const;

  std::string str(const YAML::Node& map, std::string_view key, std::string_view field,
                  std::string fallback) const;
  std::string req_str(const YAML::Node& map, std::string_view key, std::string_view field) const;
  bool boolean(const YAML::Node& map, std::string_view key, std::string_view field,
               bool fallback) const;
  long long integer(const YAML::Node& map, std::string_view key, std::string_view field,
                    long long fallback, long long min, long long max) const;
  // A sequence of strings (a lone scalar is an error: `[x]` for one).
  std::vector<std::string> str_list(const YAML::Node& map, std::string_view key,
                                    std::string_view field) const;
  // "90s", "5m", "2h", "250ms" or a plain number of seconds -> milliseconds.
  long long duration_ms(const YAML::Node& map, std::string_view key, std::string_view field,
                        long long fallback) const;

 private:
  std::string source_;
};

}  // namespace dropcheck::base

// The messages: section of a scenario (scenario.cpp loads the rest): each entry, after
// `repeat`, the raw messages injected at the provider.
#include <fmt/format.h>

#include <cstdint>
#include <set>

#include "scenario_internal.hpp"

namespace dropcheck::runner::detail {

namespace {

// Header block + body, line endings made CRLF, with the correlation tag as the last header.
std::string build_raw(const std::string& headers, const std::string& body, const std::string& id) {
  auto crlf = [](std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out.push_back('\r');
      out.push_back(s[i]);
    }
    return out;
  };
  std::string h = crlf(headers);
  if (!h.empty() && h.back() != '\n') h += "\r\n";
  std::string b = crlf(body);
  return h + "X-Dropcheck-Id: " + id + "\r\n\r\n" + b;
}

// Bounded body_size: the fake servers' message limits are of this order.
constexpr long long kMaxBodySize = 30'000'000;
constexpr std::size_t kCopyOverhead = 64;  // X-Dropcheck-Id line and the header/body gap

// What the messages of one scenario may add up to (kMaxScenarioMessages, kMaxScenarioOctets),
// checked before anything is generated: a few lines using aliases, repeat and body_size can
// ask for gigabytes.
class GenerationBudget {
 public:
  void take(const base::YamlReader& y, const YAML::Node& m, const std::string& field,
            std::size_t copies, std::size_t octets_each) {
    const std::size_t each = octets_each + kCopyOverhead;
    if (copies > kMaxScenarioMessages - messages_)
      y.fail(m, field + ".repeat",
             fmt::format("the scenario would have more than {} messages", kMaxScenarioMessages));
    if (each > (kMaxScenarioOctets - octets_) / copies)
      y.fail(m, field,
             fmt::format("the scenario would generate more than {} MiB of messages ({} x {} "
                         "octets here)",
                         kMaxScenarioOctets >> 20, copies, each));
    messages_ += copies;
    octets_ += copies * each;
  }

 private:
  std::size_t messages_ = 0;
  std::size_t octets_ = 0;
};

// body_size: a generated base64-looking body of about that many octets (76-column lines),
// deterministic, for large-message scenarios. Bounded by the fake servers' size limits.
void append_generated_body(std::string& body, long long body_size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  body.reserve(body.size() + static_cast<std::size_t>(body_size) + 64);
  std::uint32_t x = 2463534242u;  // xorshift32: same bytes every run
  while (body.size() < static_cast<std::size_t>(body_size)) {
    for (int c = 0; c < 76; ++c) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      body.push_back(kAlphabet[x % 64]);
    }
    body += "\n";
  }
}

void parse_message(const base::YamlReader& y, const YAML::Node& m, std::size_t i,
                   std::set<std::string>& ids, GenerationBudget& budget,
                   std::vector<ScenarioMessage>& out) {
  const std::string field = fmt::format("messages[{}]", i);
  y.only_keys(m, field,
              {"id", "from", "to", "headers", "body", "body_size", "at", "repeat", "identical"});
  const long long repeat = y.integer(m, "repeat", field, 1, 1, 100000);
  // identical: the copies are byte for byte the same message (one X-Dropcheck-Id), as a
  // sender's MTA resends it after a lost reply; the analyzer judges them as one group.
  const bool identical = y.boolean(m, "identical", field, false);
  if (identical && repeat < 2)
    y.fail(m["identical"], field + ".identical", "needs repeat: 2 or more");
  const std::string base_id = y.str(m, "id", field, fmt::format("m{}", i + 1));
  std::string from = y.str(m, "from", field, "");
  if (from == "<>") from.clear();
  if (!from.empty() && !valid_address(from))
    y.fail(m["from"], field + ".from", "not an address (use \"<>\" for the null sender)");
  const auto to = y.str_list(m, "to", field);
  if (to.empty()) y.fail(m, field + ".to", "missing: the envelope recipients");
  for (const auto& t : to) checked_address(y, m["to"], field + ".to", t);
  const std::string headers = y.req_str(m, "headers", field);
  if (headers.find(':') == std::string::npos)
    y.fail(m["headers"], field + ".headers", "expected header lines (Name: value)");
  std::string body = y.str(m, "body", field, "");
  const long long body_size = y.integer(m, "body_size", field, 0, 0, kMaxBodySize);
  // Counted before anything is generated (with the line ends the generator and CRLF add).
  budget.take(y, m, field, static_cast<std::size_t>(repeat),
              headers.size() + body.size() + static_cast<std::size_t>(body_size) * 78 / 76);
  if (body_size > 0) append_generated_body(body, body_size);
  const long long at = y.duration_ms(m, "at", field, 0);
  for (long long r = 0; r < repeat; ++r) {
    ScenarioMessage sm;
    sm.id = repeat == 1 ? base_id : fmt::format("{}.{}", base_id, r + 1);
    if (!ids.insert(sm.id).second) y.fail(m, field + ".id", "duplicate id " + sm.id);
    sm.envelope_from = from;
    sm.envelope_to = to;
    sm.tag = identical ? base_id : sm.id;
    sm.raw = build_raw(headers, body, sm.tag);
    sm.at_ms = at;
    out.push_back(std::move(sm));
  }
}

}  // namespace

std::vector<ScenarioMessage> parse_messages(const base::YamlReader& y, const YAML::Node& root) {
  std::vector<ScenarioMessage> out;
  const YAML::Node ms = root["messages"];
  if (!ms || !ms.IsSequence() || ms.size() == 0)
    y.fail(ms ? ms : root, "messages", "expected a non-empty list of messages");
  std::set<std::string> ids;
  GenerationBudget budget;
  for (std::size_t i = 0; i < ms.size(); ++i) parse_message(y, ms[i], i, ids, budget, out);
  return out;
}

}  // namespace dropcheck::runner::detail

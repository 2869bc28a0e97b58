#include "analyzer/report.hpp"

#include <fmt/format.h>

namespace dropcheck::analyzer {

nlohmann::json to_json(const Report& r) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["transactions"] = r.transactions;
  j["findings"] = nlohmann::json::array();
  for (const auto& f : r.findings) {
    nlohmann::json fj{{"type", f.type}, {"message", f.message}, {"recipient", f.recipient},
                      {"evidence", f.evidence}};
    if (f.journal_seq >= 0) fj["journal_seq"] = f.journal_seq;
    j["findings"].push_back(std::move(fj));
  }
  j["messages"] = nlohmann::json::array();
  for (const auto& m : r.messages)
    j["messages"].push_back({{"id", m.id},
                             {"copies", m.copies},
                             {"latency_ms", m.latency_ms},
                             {"data_ms", m.data_ms}});
  return j;
}

std::string to_text(const Report& r) {
  std::string out = fmt::format("scenario {}: {} finding(s), {} transaction(s)\n", r.scenario,
                                r.findings.size(), r.transactions);
  for (const auto& f : r.findings)
    out += fmt::format("  {:<22} {:<10} {:<28} {}\n", f.type, f.message.empty() ? "-" : f.message,
                       f.recipient.empty() ? "-" : f.recipient, f.evidence);
  for (const auto& m : r.messages)
    out += fmt::format("  message {:<10} copies={} latency_ms={} data_ms={}\n", m.id, m.copies,
                       m.latency_ms, m.data_ms);
  return out;
}

}  // namespace dropcheck::analyzer

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analyzer/analyzer.hpp"
#include "base/strings.hpp"

namespace dropcheck::analyzer {

base::Status save_truth(const std::string& path, const Truth& t) {
  nlohmann::json j;
  j["version"] = 1;
  j["scenario"] = t.scenario;
  j["local_domains"] = t.local_domains;
  j["users"] = t.users;
  j["aliases"] = t.aliases;
  j["fallback"] = t.fallback;
  j["login_delay_ms"] = t.login_delay_ms;
  j["end_ms"] = t.end_ms;
  j["interval_ms"] = t.interval_ms;
  j["latency_budget_ms"] = t.latency_budget_ms;
  j["pop3_sessions"] = nlohmann::json::array();
  for (const auto& p : t.pop3_sessions)
    j["pop3_sessions"].push_back({{"id", p.id},
                                  {"started_ms", p.started_ms},
                                  {"tls", p.tls},
                                  {"cleartext_while_stls", p.cleartext_while_stls},
                                  {"auth_result", p.auth_result},
                                  {"retrieved", p.retrieved},
                                  {"deleted", p.deleted},
                                  {"user", p.user},
                                  {"reported", p.reported}});
  j["messages"] = nlohmann::json::array();
  for (const auto& m : t.messages) {
    // Raw bytes need not be UTF-8, so they are stored base64-encoded.
    j["messages"].push_back({{"id", m.id},
                             {"envelope_from", m.envelope_from},
                             {"envelope_to", m.envelope_to},
                             {"injected_ms", m.injected_ms},
                             {"tag", m.tag},
                             {"raw_base64", base::base64_encode(m.raw)}});
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) return base::make_error("io", fmt::format("{}: cannot write", path));
  out << j.dump(1) << "\n";
  if (!out) return base::make_error("io", fmt::format("{}: write failed", path));
  return base::ok_status();
}

base::Result<Truth> load_truth(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("io", fmt::format("{}: cannot read", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    const auto j = nlohmann::json::parse(ss.str());
    if (j.value("version", 0) != 1)
      return base::make_error("bad-truth", fmt::format("{}: unsupported truth version", path));
    Truth t;
    t.scenario = j.at("scenario").get<std::string>();
    t.local_domains = j.at("local_domains").get<std::vector<std::string>>();
    t.users = j.at("users").get<std::vector<std::string>>();
    t.aliases = j.at("aliases").get<std::map<std::string, std::string>>();
    t.fallback = j.at("fallback").get<std::string>();
    t.login_delay_ms = j.value("login_delay_ms", std::int64_t{0});
    t.end_ms = j.value("end_ms", std::int64_t{0});
    t.interval_ms = j.value("interval_ms", std::int64_t{0});
    t.latency_budget_ms = j.value("latency_budget_ms", std::int64_t{0});
    if (j.contains("pop3_sessions"))
      for (const auto& p : j.at("pop3_sessions")) {
        Pop3SessionFact f;
        f.id = p.at("id").get<std::uint64_t>();
        f.started_ms = p.at("started_ms").get<std::int64_t>();
        f.tls = p.at("tls").get<bool>();
        f.cleartext_while_stls = p.at("cleartext_while_stls").get<bool>();
        f.auth_result = p.at("auth_result").get<std::string>();
        f.retrieved = p.at("retrieved").get<std::vector<std::string>>();
        f.deleted = p.value("deleted", std::vector<std::string>{});
        f.user = p.value("user", std::string());
        f.reported = p.value("reported", true);
        t.pop3_sessions.push_back(std::move(f));
      }
    for (const auto& m : j.at("messages")) {
      TruthMessage tm;
      tm.id = m.at("id").get<std::string>();
      tm.envelope_from = m.at("envelope_from").get<std::string>();
      tm.envelope_to = m.at("envelope_to").get<std::vector<std::string>>();
      tm.injected_ms = m.at("injected_ms").get<std::int64_t>();
      tm.tag = m.value("tag", std::string());
      tm.raw = base::base64_decode(m.at("raw_base64").get<std::string>());
      t.messages.push_back(std::move(tm));
    }
    return t;
  } catch (const nlohmann::json::exception& e) {
    return base::make_error("bad-truth", fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace dropcheck::analyzer

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

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

namespace {

TruthMessage message_of(const nlohmann::json& m) {
  TruthMessage tm;
  tm.id = m.at("id").get<std::string>();
  tm.envelope_from = m.at("envelope_from").get<std::string>();
  tm.envelope_to = m.at("envelope_to").get<std::vector<std::string>>();
  tm.injected_ms = m.at("injected_ms").get<std::int64_t>();
  tm.tag = m.value("tag", std::string());
  tm.raw = base::base64_decode(m.at("raw_base64").get_ref<const std::string&>());
  return tm;
}

Pop3SessionFact session_of(const nlohmann::json& p) {
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
  return f;
}

}  // namespace

// Read from the stream with each message converted as soon as it is parsed and dropped from the
// JSON tree: memory holds the messages once (decoded), never the file or a tree of all of them.
base::Result<Truth> load_truth(const std::string& path, TruthBytes bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("io", fmt::format("{}: cannot read", path));
  try {
    Truth t;
    std::string section;  // the top-level member being parsed
    const auto each = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      using E = nlohmann::json::parse_event_t;
      if (event == E::key && depth == 1) section = parsed.get<std::string>();
      if (event != E::object_end || depth != 2 || section != "messages") return true;
      t.messages.push_back(message_of(parsed));
      if (bytes == TruthBytes::summarized) {
        t.sent.push_back(std::make_shared<const SentSummary>(summarize(t.messages.back())));
        std::string().swap(t.messages.back().raw);
      }
      return false;  // not kept in the tree
    };
    const auto j = nlohmann::json::parse(in, each);
    if (j.value("version", 0) != 1)
      return base::make_error("bad-truth", fmt::format("{}: unsupported truth version", path));
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
      for (const auto& p : j.at("pop3_sessions")) t.pop3_sessions.push_back(session_of(p));
    if (!j.contains("messages"))
      return base::make_error("bad-truth", fmt::format("{}: no messages", path));
    return t;
  } catch (const nlohmann::json::exception& e) {
    return base::make_error("bad-truth", fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace dropcheck::analyzer

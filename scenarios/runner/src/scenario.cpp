#include "runner/scenario.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "analyzer/analyzer.hpp"
#include "base/embedded.hpp"
#include "runner/external.hpp"
#include "base/strings.hpp"
#include "base/yaml.hpp"
#include "fake_smtp/policy.hpp"
#include "fetcher/config.hpp"
#include "mail/address.hpp"

namespace dropcheck::embedded {
base::EmbeddedFiles builtin_scenario_files();
}

namespace dropcheck::runner {

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

const std::set<std::string> kDefects = {"none",     "sbs-connector", "pullmail",
                                        "no-strip", "no-lock",       "no-dedup",
                                        "fill-empty-sender"};

bool valid_address(std::string_view a) {
  const auto at = a.rfind('@');
  return at != std::string_view::npos && at > 0 && at + 1 < a.size() &&
         a.find_first_of(" \t\r\n<>") == std::string_view::npos;
}

std::vector<Expectation> parse_expect(const base::YamlReader& y, const YAML::Node& e,
                                      const std::string& where) {
  std::vector<Expectation> out;
  if (!e || e.IsNull()) return out;
  if (!e.IsSequence()) y.fail(e, where, "expected a list (may be empty)");
  const auto& types = analyzer::finding_types();
  for (std::size_t i = 0; i < e.size(); ++i) {
    const std::string field = fmt::format("{}[{}]", where, i);
    y.only_keys(e[i], field, {"type", "message", "recipient"});
    Expectation x;
    x.type = y.req_str(e[i], "type", field);
    if (std::find(types.begin(), types.end(), x.type) == types.end())
      y.fail(e[i]["type"], field + ".type", "unknown finding type '" + x.type + "'");
    x.message = y.str(e[i], "message", field, "");
    x.recipient = mail::normalize_address(y.str(e[i], "recipient", field, ""));
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace

Scenario with_defect(const Scenario& scenario, const std::string& defect) {
  Scenario s = scenario;
  s.fetcher.defect = defect;
  if (auto it = s.defects.find(defect); it != s.defects.end()) s.expect = it->second;
  return s;
}

Scenario with_fetcher(const Scenario& scenario, const std::string& kind,
                      const std::string& command) {
  Scenario s = scenario;
  s.fetcher.kind = kind;
  s.fetcher.defect = "none";
  if (!command.empty()) s.fetcher.command = command;
  if (auto it = s.fetchers.find(kind); it != s.fetchers.end()) s.expect = it->second;
  return s;
}

base::Result<Scenario> parse_scenario(std::string_view yaml, std::string_view source) {
  base::YamlReader y{std::string(source)};
  try {
    const YAML::Node root = y.parse(yaml);
    if (!root.IsMap()) y.fail(root, "(top)", "expected a mapping with version: 1");
    y.only_keys(root, "", {"version", "name", "description", "world", "provider", "fetcher",
                           "receiver", "messages", "timeline", "expect", "defects",
                           "fetchers"});
    y.require_version(root, 1);
    Scenario s;
    s.source = std::string(source);
    s.name = y.req_str(root, "name", "");
    s.description = y.str(root, "description", "", "");

    const YAML::Node w = root["world"];
    if (!w) y.fail(root, "world", "missing");
    y.only_keys(w, "world", {"local_domains", "users", "aliases", "fallback"});
    for (auto& d : y.str_list(w, "local_domains", "world"))
      s.world.local_domains.push_back(base::to_lower(d));
    if (s.world.local_domains.empty())
      y.fail(w, "world.local_domains", "missing: name at least one local domain");
    for (auto& u : y.str_list(w, "users", "world")) {
      if (!valid_address(u)) y.fail(w["users"], "world.users", "not an address: " + u);
      s.world.users.push_back(mail::normalize_address(u));
    }
    if (const YAML::Node a = w["aliases"]) {
      y.require_map(a, "world.aliases");
      for (const auto& kv : a)
        s.world.aliases[mail::normalize_address(kv.first.Scalar())] =
            mail::normalize_address(kv.second.Scalar());
    }
    s.world.fallback = mail::normalize_address(y.str(w, "fallback", "world", ""));

    if (const YAML::Node p = root["provider"]) {
      y.only_keys(p, "provider", {"profile", "tls", "hosts"});
      s.profile = y.req_str(p, "profile", "provider");
      s.provider_tls = y.str(p, "tls", "provider", "none");
      if (s.provider_tls != "none" && s.provider_tls != "stls" && s.provider_tls != "implicit")
        y.fail(p["tls"], "provider.tls", "expected none, stls or implicit");
      for (auto& h : y.str_list(p, "hosts", "provider")) s.provider_hosts.push_back(base::to_lower(h));
    }

    if (const YAML::Node f = root["fetcher"]) {
      y.only_keys(f, "fetcher",
                  {"kind", "defect", "envelope", "mode", "keep", "knows_users", "command",
                   "smtp_timeout"});
      s.fetcher.smtp_timeout_ms = y.duration_ms(f, "smtp_timeout", "fetcher", 20'000);
      if (s.fetcher.smtp_timeout_ms < 100 || s.fetcher.smtp_timeout_ms > 600'000)
        y.fail(f["smtp_timeout"], "fetcher.smtp_timeout", "expected 100ms .. 10m");
      s.fetcher.command = y.str(f, "command", "fetcher", "");
      s.fetcher.knows_users = y.boolean(f, "knows_users", "fetcher", true);
      s.fetcher.kind = y.str(f, "kind", "fetcher", "core");
      const auto& kinds = external_fetcher_kinds();
      if (s.fetcher.kind != "core" &&
          std::find(kinds.begin(), kinds.end(), s.fetcher.kind) == kinds.end()) {
        std::string known = "core";
        for (const auto& k : kinds) known += ", " + k;
        y.fail(f["kind"], "fetcher.kind", "unknown fetcher '" + s.fetcher.kind + "' (known: " + known + ")");
      }
      if (s.fetcher.kind == "command" && s.fetcher.command.empty())
        y.fail(f, "fetcher.command", "missing: the command line for kind: command");
      s.fetcher.defect = y.str(f, "defect", "fetcher", "none");
      if (!kDefects.count(s.fetcher.defect))
        y.fail(f["defect"], "fetcher.defect", "unknown defect model '" + s.fetcher.defect + "'");
      const std::string mode = y.str(f, "mode", "fetcher", "envelope-header");
      if (mode == "to-cc") s.fetcher.to_cc = true;
      else if (mode != "envelope-header")
        y.fail(f["mode"], "fetcher.mode", "expected envelope-header or to-cc");
      s.fetcher.keep = y.boolean(f, "keep", "fetcher", false);
      if (const YAML::Node e = f["envelope"])
        s.fetcher.envelope = fetcher::parse_envelope_specs(y, e, "fetcher.envelope");
    }

    const YAML::Node ms = root["messages"];
    if (!ms || !ms.IsSequence() || ms.size() == 0)
      y.fail(ms ? ms : root, "messages", "expected a non-empty list of messages");
    std::set<std::string> ids;
    for (std::size_t i = 0; i < ms.size(); ++i) {
      const YAML::Node m = ms[i];
      const std::string field = fmt::format("messages[{}]", i);
      y.only_keys(m, field, {"id", "from", "to", "headers", "body", "body_size", "at", "repeat"});
      const long long repeat = y.integer(m, "repeat", field, 1, 1, 100000);
      const std::string base_id = y.str(m, "id", field, fmt::format("m{}", i + 1));
      std::string from = y.str(m, "from", field, "");
      if (from == "<>") from.clear();
      if (!from.empty() && !valid_address(from))
        y.fail(m["from"], field + ".from", "not an address (use \"<>\" for the null sender)");
      const auto to = y.str_list(m, "to", field);
      if (to.empty()) y.fail(m, field + ".to", "missing: the envelope recipients");
      for (const auto& t : to)
        if (!valid_address(t)) y.fail(m["to"], field + ".to", "not an address: " + t);
      const std::string headers = y.req_str(m, "headers", field);
      if (headers.find(':') == std::string::npos)
        y.fail(m["headers"], field + ".headers", "expected header lines (Name: value)");
      std::string body = y.str(m, "body", field, "");
      // body_size: a generated base64-looking body of about that many octets (76-column lines),
      // deterministic, for large-message scenarios. Bounded by the fake servers' size limits.
      const long long body_size = y.integer(m, "body_size", field, 0, 0, 30'000'000);
      if (body_size > 0) {
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
      const long long at = y.duration_ms(m, "at", field, 0);
      for (long long r = 0; r < repeat; ++r) {
        ScenarioMessage sm;
        sm.id = repeat == 1 ? base_id : fmt::format("{}.{}", base_id, r + 1);
        if (!ids.insert(sm.id).second) y.fail(m, field + ".id", "duplicate id " + sm.id);
        sm.envelope_from = mail::normalize_address(from);
        for (const auto& t : to) sm.envelope_to.push_back(mail::normalize_address(t));
        sm.raw = build_raw(headers, body, sm.id);
        sm.at_ms = at;
        s.messages.push_back(std::move(sm));
      }
    }

    if (const YAML::Node t = root["timeline"]) {
      y.only_keys(t, "timeline", {"cycles", "interval", "overlap", "drift"});
      s.timeline.cycles = static_cast<int>(y.integer(t, "cycles", "timeline", 1, 1, 1000));
      s.timeline.interval_ms = y.duration_ms(t, "interval", "timeline", s.timeline.interval_ms);
      if (const YAML::Node o = t["overlap"]) {
        y.only_keys(o, "timeline.overlap", {"cycle", "after_retrieved"});
        s.timeline.overlap_cycle = static_cast<int>(
            y.integer(o, "cycle", "timeline.overlap", 1, 1, s.timeline.cycles - 1));
        s.timeline.overlap_after =
            static_cast<int>(y.integer(o, "after_retrieved", "timeline.overlap", 1, 1, 100000));
      }
      if (const YAML::Node d = t["drift"]) {
        y.only_keys(d, "timeline.drift", {"before_cycle", "profile"});
        s.timeline.drift_cycle = static_cast<int>(
            y.integer(d, "before_cycle", "timeline.drift", 2, 1, s.timeline.cycles));
        s.timeline.drift_profile = y.req_str(d, "profile", "timeline.drift");
      }
    }

    if (const YAML::Node r = root["receiver"]) {
      y.only_keys(r, "receiver", {"lmtp", "relay", "reject_null_sender", "loop_check", "rcpt_fail_at",
                                  "rcpt_fail_code", "data_fail_code", "data_end_fail_code",
                                  "only_transaction", "reply_delay"});
      auto& rs = s.receiver;
      rs.lmtp = y.boolean(r, "lmtp", "receiver", false);
      const std::string relay = y.str(r, "relay", "receiver", "deny");
      if (relay != "deny" && relay != "open") y.fail(r["relay"], "receiver.relay", "expected deny or open");
      rs.open_relay = relay == "open";
      rs.reject_null_sender = y.boolean(r, "reject_null_sender", "receiver", false);
      rs.loop_check = y.boolean(r, "loop_check", "receiver", false);
      rs.rcpt_fail_at = static_cast<std::size_t>(y.integer(r, "rcpt_fail_at", "receiver", 0, 0, 1000));
      rs.rcpt_fail_code = static_cast<int>(y.integer(r, "rcpt_fail_code", "receiver", 451, 400, 599));
      rs.data_fail_code = static_cast<int>(y.integer(r, "data_fail_code", "receiver", 0, 0, 599));
      rs.data_end_fail_code =
          static_cast<int>(y.integer(r, "data_end_fail_code", "receiver", 0, 0, 599));
      rs.only_transaction =
          static_cast<std::size_t>(y.integer(r, "only_transaction", "receiver", 0, 0, 100000));
      if (const YAML::Node d = r["reply_delay"]) {
        // reply_delay: {data-end: 2s, rcpt: 300ms, ...}: a slow in-house server (real time).
        y.require_map(d, "receiver.reply_delay");
        for (const auto& kv : d) {
          const std::string stage = kv.first.Scalar();
          const auto which = fake_smtp::reply_stage_from_name(stage);
          if (!which)
            y.fail(kv.first, "receiver.reply_delay",
                   "unknown stage '" + stage +
                       "' (known: greeting, mail, rcpt, data, data-end, other)");
          const long long delay = y.duration_ms(d, stage, "receiver.reply_delay", 0);
          if (delay < 0 || delay > 60'000)
            y.fail(kv.second, "receiver.reply_delay." + stage, "expected 0 .. 60s");
          rs.reply_delay_ms[static_cast<std::size_t>(*which)] = delay;
        }
      }
    }

    s.expect = parse_expect(y, root["expect"], "expect");
    if (const YAML::Node d = root["defects"]) {
      y.require_map(d, "defects");
      for (const auto& kv : d) {
        const std::string name = kv.first.Scalar();
        if (!kDefects.count(name) || name == "none")
          y.fail(kv.first, "defects." + name, "unknown defect model");
        s.defects[name] = parse_expect(y, kv.second, "defects." + name);
      }
    }
    if (const YAML::Node fx = root["fetchers"]) {
      y.require_map(fx, "fetchers");
      for (const auto& kv : fx) {
        const std::string name = kv.first.Scalar();
        if (!is_external_fetcher(name))
          y.fail(kv.first, "fetchers." + name,
                 "unknown external fetcher (fetchmail, getmail6, command)");
        s.fetchers[name] = parse_expect(y, kv.second, "fetchers." + name);
      }
    }
    return s;
  } catch (const base::YamlError& e) {
    return base::make_error("bad-scenario", e.what());
  } catch (const YAML::Exception& e) {
    return base::make_error("bad-scenario", fmt::format("{}: {}", source, e.what()));
  }
}

base::Result<Scenario> load_scenario_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("bad-scenario", fmt::format("{}: cannot read file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_scenario(ss.str(), path);
}

std::vector<Scenario> builtin_scenarios() {
  std::vector<Scenario> out;
  for (const auto& f : embedded::builtin_scenario_files()) {
    auto s = parse_scenario(f.data, "builtin:" + std::string(f.name));
    // Built-in scenarios are tested at build time (ctest); a bad one is a bug.
    if (!s.ok()) throw std::logic_error(s.error().message);
    out.push_back(std::move(s).value());
  }
  return out;
}

}  // namespace dropcheck::runner

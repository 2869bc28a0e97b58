#include "runner/scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "analyzer/analyzer.hpp"
#include "base/embedded.hpp"
#include "base/names.hpp"
#include "base/strings.hpp"
#include "base/yaml.hpp"
#include "fake_pop3/profile.hpp"
#include "fake_smtp/policy.hpp"
#include "fetcher/config.hpp"
#include "scenario_internal.hpp"

namespace dropcheck::embedded {
base::EmbeddedFiles builtin_scenario_files();
}

namespace dropcheck::runner {

namespace fs = std::filesystem;

namespace detail {

bool valid_address(std::string_view a) {
  const auto at = a.rfind('@');
  return at != std::string_view::npos && at > 0 && base::is_dns_name(a.substr(at + 1)) &&
         a.find_first_of(" \t\r\n<>") == std::string_view::npos;
}

std::string checked_address(const base::YamlReader& y, const YAML::Node& n,
                            const std::string& field, const std::string& a) {
  if (!valid_address(a)) y.fail(n, field, "not an address (local@domain): " + a);
  return a;
}

}  // namespace detail

namespace {

using detail::checked_address;
using detail::valid_address;

constexpr std::pair<FetcherKind, std::string_view> kFetcherKinds[] = {
    {FetcherKind::core, "core"},
    {FetcherKind::fetchmail, "fetchmail"},
    {FetcherKind::getmail6, "getmail6"},
    {FetcherKind::command, "command"},
};

std::vector<Expectation> parse_expect_list(const base::YamlReader& y, const YAML::Node& e,
                                           const std::string& where) {
  std::vector<Expectation> out;
  if (!e || e.IsNull()) return out;
  if (!e.IsSequence()) y.fail(e, where, "expected a list (may be empty) or {any_of: [...]}");
  const auto& types = analyzer::finding_types();
  for (std::size_t i = 0; i < e.size(); ++i) {
    const std::string field = fmt::format("{}[{}]", where, i);
    y.only_keys(e[i], field, {"type", "message", "recipient"});
    Expectation x;
    x.type = y.req_str(e[i], "type", field);
    if (std::find(types.begin(), types.end(), x.type) == types.end())
      y.fail(e[i]["type"], field + ".type", "unknown finding type '" + x.type + "'");
    x.message = y.str(e[i], "message", field, "");
    x.recipient = y.str(e[i], "recipient", field, "");
    out.push_back(std::move(x));
  }
  return out;
}

// A list of expectations, or {any_of: [list, ...]}: every outcome that is correct here.
Expected parse_expect(const base::YamlReader& y, const YAML::Node& e, const std::string& where) {
  Expected out;
  if (!e || !e.IsMap()) {
    out.any_of.front() = parse_expect_list(y, e, where);
    return out;
  }
  y.only_keys(e, where, {"any_of"});
  const YAML::Node alts = e["any_of"];
  if (!alts.IsSequence() || alts.size() < 2)
    y.fail(alts ? alts : e, where + ".any_of", "expected a list of at least two lists");
  out.any_of.clear();
  for (std::size_t i = 0; i < alts.size(); ++i) {
    if (!alts[i].IsSequence())
      y.fail(alts[i], fmt::format("{}.any_of[{}]", where, i), "expected a list (may be empty)");
    out.any_of.push_back(parse_expect_list(y, alts[i], fmt::format("{}.any_of[{}]", where, i)));
  }
  return out;
}

std::string checked_domain(const base::YamlReader& y, const YAML::Node& n, const std::string& field,
                           const std::string& d) {
  if (!base::is_dns_name(d)) y.fail(n, field, "not a domain name: " + d);
  return base::to_lower(d);
}

// A profile named in a scenario: a built-in name, or a path relative to the scenario file.
// It must load here, so that a missing or broken profile is a load error, not a failed run.
std::string resolve_profile(const base::YamlReader& y, const YAML::Node& n,
                            const std::string& field, const std::string& name) {
  std::string resolved = name;
  const auto builtin = fake_pop3::builtin_profile_names();
  const bool is_builtin = std::find(builtin.begin(), builtin.end(), name) != builtin.end();
  const std::string& source = y.source();
  if (!is_builtin && fs::path(name).is_relative() && source.rfind("builtin:", 0) != 0)
    resolved = (fs::path(source).parent_path() / name).lexically_normal().string();
  auto loaded = fake_pop3::load_profile(resolved);
  if (!loaded.ok()) y.fail(n, field, loaded.error().message);
  return resolved;
}

constexpr std::int64_t kMaxRunLimitMs = 6LL * 3600 * 1000;

// The catch-all of a scenario that lists no provider.mailboxes (the runner's default box).
constexpr std::string_view kDefaultMailbox = "catchall";

bool is_local_address(const World& w, std::string_view a) {
  const std::string d = base::to_lower(a.substr(a.rfind('@') + 1));
  return std::find(w.local_domains.begin(), w.local_domains.end(), d) != w.local_domains.end();
}

void check_mailbox_user(const base::YamlReader& y, const YAML::Node& at, const std::string& field,
                        const std::string& user) {
  // It names the fetchers' files too (state, getmail rc files).
  const bool ok =
      !user.empty() && user.size() <= 64 && std::all_of(user.begin(), user.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      });
  if (!ok) y.fail(at, field, "'" + user + "': expected 1-64 of a-z 0-9 _ -");
}

ScenarioMailbox parse_mailbox(const base::YamlReader& y, const YAML::Node& m,
                              const std::string& field) {
  y.only_keys(m, field, {"user", "addresses", "catch_all"});
  ScenarioMailbox b;
  b.user = y.req_str(m, "user", field);
  check_mailbox_user(y, m["user"], field + ".user", b.user);
  b.catch_all = y.boolean(m, "catch_all", field, false);
  for (auto& a : y.str_list(m, "addresses", field))
    b.addresses.push_back(checked_address(y, m["addresses"], field + ".addresses", a));
  if (b.catch_all && !b.addresses.empty())
    y.fail(m["addresses"], field + ".addresses",
           "a catch-all takes what no box owns: no addresses");
  if (!b.catch_all && b.addresses.empty())
    y.fail(m, field + ".addresses", "missing: the addresses this box owns (or catch_all: true)");
  return b;
}

// provider.mailboxes: [{user: catchall, catch_all: true}, {user: anna, addresses: [...]}]
std::vector<ScenarioMailbox> parse_mailboxes(const base::YamlReader& y, const YAML::Node& n) {
  std::vector<ScenarioMailbox> out;
  if (!n) return out;
  if (!n.IsSequence() || n.size() == 0 || n.size() > kMaxScenarioMailboxes)
    y.fail(n, "provider.mailboxes",
           fmt::format("expected a list of 1..{} mailboxes", kMaxScenarioMailboxes));
  std::set<std::string> users, owned;
  bool catch_all = false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string field = fmt::format("provider.mailboxes[{}]", i);
    out.push_back(parse_mailbox(y, n[i], field));
    if (!users.insert(out.back().user).second)
      y.fail(n[i]["user"], field + ".user", "duplicate mailbox " + out.back().user);
    if (out.back().catch_all && std::exchange(catch_all, true))
      y.fail(n[i], field + ".catch_all", "a second catch-all");
    for (const auto& a : out.back().addresses)
      if (!owned.insert(base::to_lower(a)).second)
        y.fail(n[i]["addresses"], field + ".addresses", a + " is owned by another mailbox too");
  }
  return out;
}

const ScenarioMailbox* find_mailbox(const std::vector<ScenarioMailbox>& boxes,
                                    std::string_view user) {
  for (const auto& b : boxes)
    if (b.user == user) return &b;
  return nullptr;
}

// Without fetcher.accounts: every mailbox, the catch-all multidrop, each user's box
// single-drop to its first address (which must then be local).
std::vector<ScenarioAccount> default_accounts(const base::YamlReader& y, const YAML::Node& at,
                                              const Scenario& s) {
  std::vector<ScenarioAccount> out;
  for (const auto& b : s.mailboxes) {
    if (!b.catch_all && !is_local_address(s.world, b.addresses.front()))
      y.fail(at, "provider.mailboxes",
             "mailbox " + b.user + ": " + b.addresses.front() +
                 " is not at a local domain; say how it is fetched in fetcher.accounts");
    out.push_back({b.user, b.catch_all ? std::string() : b.addresses.front()});
  }
  return out;
}

// fetcher.accounts: [{mailbox: catchall}, {mailbox: anna, deliver_to: anna@firma.example}]
std::vector<ScenarioAccount> parse_scenario_accounts(const base::YamlReader& y, const YAML::Node& n,
                                                     const Scenario& s) {
  if (!n.IsSequence() || n.size() == 0)
    y.fail(n, "fetcher.accounts", "expected a non-empty list of accounts");
  if (s.mailboxes.empty()) y.fail(n, "fetcher.accounts", "needs provider.mailboxes");
  std::vector<ScenarioAccount> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string field = fmt::format("fetcher.accounts[{}]", i);
    y.only_keys(n[i], field, {"mailbox", "deliver_to"});
    ScenarioAccount a{y.req_str(n[i], "mailbox", field), y.str(n[i], "deliver_to", field, "")};
    if (!find_mailbox(s.mailboxes, a.mailbox))
      y.fail(n[i]["mailbox"], field + ".mailbox", "no such mailbox in provider.mailboxes");
    if (!seen.insert(a.mailbox).second)
      y.fail(n[i]["mailbox"], field + ".mailbox", "mailbox " + a.mailbox + " polled twice");
    if (!a.deliver_to.empty()) {
      checked_address(y, n[i]["deliver_to"], field + ".deliver_to", a.deliver_to);
      if (!is_local_address(s.world, a.deliver_to))
        y.fail(n[i]["deliver_to"], field + ".deliver_to", "not at a world.local_domains domain");
    }
    out.push_back(std::move(a));
  }
  return out;
}

// timeline.password_changes: [{mailbox: anna, before_cycle: 2, fixed_before_cycle: 4}]
std::vector<PasswordChange> parse_password_changes(const base::YamlReader& y, const YAML::Node& n,
                                                   const Scenario& s, int cycles) {
  std::vector<PasswordChange> out;
  if (!n) return out;
  if (!n.IsSequence()) y.fail(n, "timeline.password_changes", "expected a list");
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string field = fmt::format("timeline.password_changes[{}]", i);
    y.only_keys(n[i], field, {"mailbox", "before_cycle", "fixed_before_cycle"});
    PasswordChange c;
    c.mailbox = y.str(n[i], "mailbox", field, std::string(kDefaultMailbox));
    const bool known = s.mailboxes.empty() ? c.mailbox == kDefaultMailbox
                                           : find_mailbox(s.mailboxes, c.mailbox) != nullptr;
    if (!known) y.fail(n[i]["mailbox"], field + ".mailbox", "no such mailbox");
    c.cycle = static_cast<int>(y.integer(n[i], "before_cycle", field, 2, 1, cycles));
    c.fixed_cycle = static_cast<int>(y.integer(n[i], "fixed_before_cycle", field, 0, 0, cycles));
    if (c.fixed_cycle != 0 && c.fixed_cycle <= c.cycle)
      y.fail(n[i]["fixed_before_cycle"], field + ".fixed_before_cycle",
             "must come after before_cycle (or 0: never fixed)");
    out.push_back(std::move(c));
  }
  return out;
}

// rcpt_faults: [{address: b@firma.example, code: 452, cycles: [1]}]
std::vector<RcptFault> parse_rcpt_faults(const base::YamlReader& y, const YAML::Node& n,
                                         int cycles) {
  std::vector<RcptFault> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) y.fail(n, "receiver.rcpt_faults", "expected a list");
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string field = fmt::format("receiver.rcpt_faults[{}]", i);
    y.only_keys(n[i], field, {"address", "code", "cycles"});
    RcptFault f;
    f.address =
        checked_address(y, n[i]["address"], field + ".address", y.req_str(n[i], "address", field));
    f.code = static_cast<int>(y.integer(n[i], "code", field, 451, 400, 599));
    if (const YAML::Node c = n[i]["cycles"]) {
      if (!c.IsSequence()) y.fail(c, field + ".cycles", "expected a list of cycle numbers");
      for (std::size_t k = 0; k < c.size(); ++k) {
        int v = 0;
        if (!c[k].IsScalar() || !YAML::convert<int>::decode(c[k], v) || v < 1 || v > cycles)
          y.fail(c[k], fmt::format("{}.cycles[{}]", field, k),
                 fmt::format("expected a cycle number 1 .. {}", cycles));
        f.cycles.push_back(v);
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

void parse_world(const base::YamlReader& y, const YAML::Node& root, Scenario& s) {
  const YAML::Node w = root["world"];
  if (!w) y.fail(root, "world", "missing");
  y.only_keys(w, "world", {"local_domains", "users", "aliases", "fallback"});
  for (auto& d : y.str_list(w, "local_domains", "world"))
    s.world.local_domains.push_back(
        checked_domain(y, w["local_domains"], "world.local_domains", d));
  if (s.world.local_domains.empty())
    y.fail(w, "world.local_domains", "missing: name at least one local domain");
  for (auto& u : y.str_list(w, "users", "world"))
    s.world.users.push_back(checked_address(y, w["users"], "world.users", u));
  if (const YAML::Node a = w["aliases"]) {
    y.require_map(a, "world.aliases");
    for (const auto& kv : a) {
      if (!kv.second.IsScalar()) y.fail(kv.second, "world.aliases", "expected an address");
      s.world.aliases[checked_address(y, kv.first, "world.aliases", kv.first.Scalar())] =
          checked_address(y, kv.second, "world.aliases", kv.second.Scalar());
    }
  }
  if (const std::string fb = y.str(w, "fallback", "world", ""); !fb.empty())
    s.world.fallback = checked_address(y, w["fallback"], "world.fallback", fb);
}

void parse_provider(const base::YamlReader& y, const YAML::Node& p, Scenario& s) {
  y.only_keys(p, "provider", {"profile", "tls", "hosts", "mailboxes"});
  s.mailboxes = parse_mailboxes(y, p["mailboxes"]);
  s.profile =
      resolve_profile(y, p["profile"], "provider.profile", y.req_str(p, "profile", "provider"));
  const auto tls = client::parse_tls_mode(y.str(p, "tls", "provider", "none"));
  if (!tls) y.fail(p["tls"], "provider.tls", "expected none, stls or implicit");
  s.provider_tls = *tls;
  for (auto& h : y.str_list(p, "hosts", "provider"))
    s.provider_hosts.push_back(checked_domain(y, p["hosts"], "provider.hosts", h));
}

void parse_fetcher(const base::YamlReader& y, const YAML::Node& f, Scenario& s) {
  y.only_keys(f, "fetcher",
              {"kind", "defect", "envelope", "mode", "keep", "knows_users", "command",
               "smtp_timeout", "accounts", "parallel"});
  s.fetcher.smtp_timeout_ms = y.duration_ms(f, "smtp_timeout", "fetcher", 20'000);
  if (s.fetcher.smtp_timeout_ms < 100 || s.fetcher.smtp_timeout_ms > 600'000)
    y.fail(f["smtp_timeout"], "fetcher.smtp_timeout", "expected 100ms .. 10m");
  s.fetcher.command = y.str(f, "command", "fetcher", "");
  s.fetcher.knows_users = y.boolean(f, "knows_users", "fetcher", true);
  const std::string kind = y.str(f, "kind", "fetcher", "core");
  const auto parsed_kind = parse_fetcher_kind(kind);
  if (!parsed_kind)
    y.fail(f["kind"], "fetcher.kind",
           "unknown fetcher '" + kind + "' (known: " + fetcher_kind_names() + ")");
  s.fetcher.kind = *parsed_kind;
  if (s.fetcher.kind == FetcherKind::command && s.fetcher.command.empty())
    y.fail(f, "fetcher.command", "missing: the command line for kind: command");
  const auto defect = fetcher::parse_defect(y.str(f, "defect", "fetcher", "none"));
  if (!defect.ok()) y.fail(f["defect"], "fetcher.defect", defect.error().message);
  s.fetcher.defect = *defect;
  const std::string mode = y.str(f, "mode", "fetcher", "envelope-header");
  if (mode == "to-cc")
    s.fetcher.to_cc = true;
  else if (mode != "envelope-header")
    y.fail(f["mode"], "fetcher.mode", "expected envelope-header or to-cc");
  s.fetcher.keep = y.boolean(f, "keep", "fetcher", false);
  if (const YAML::Node e = f["envelope"])
    s.fetcher.envelope = fetcher::parse_envelope_specs(y, e, "fetcher.envelope");
  if (f["accounts"]) s.fetcher.accounts = parse_scenario_accounts(y, f["accounts"], s);
  s.fetcher.parallel = static_cast<std::size_t>(y.integer(
      f, "parallel", "fetcher", 1, 1, static_cast<long long>(fetcher::kMaxParallelAccounts)));
}

void parse_timeline(const base::YamlReader& y, const YAML::Node& t, Scenario& s) {
  y.only_keys(t, "timeline",
              {"cycles", "interval", "overlap", "drift", "run_limit", "cycle_limit",
               "password_changes", "latency_budget"});
  s.timeline.cycles = static_cast<int>(y.integer(t, "cycles", "timeline", 1, 1, 1000));
  s.timeline.interval_ms = y.duration_ms(t, "interval", "timeline", s.timeline.interval_ms);
  s.timeline.run_limit_ms = y.duration_ms(t, "run_limit", "timeline", s.timeline.run_limit_ms);
  if (s.timeline.run_limit_ms < 1000 || s.timeline.run_limit_ms > kMaxRunLimitMs)
    y.fail(t["run_limit"], "timeline.run_limit", "expected 1s .. 6h");
  s.timeline.cycle_limit_ms = y.duration_ms(
      t, "cycle_limit", "timeline", std::min(s.timeline.cycle_limit_ms, s.timeline.run_limit_ms));
  if (s.timeline.cycle_limit_ms < 1000 || s.timeline.cycle_limit_ms > s.timeline.run_limit_ms)
    y.fail(t["cycle_limit"], "timeline.cycle_limit", "expected 1s .. run_limit");
  if (const YAML::Node o = t["overlap"]) {
    y.only_keys(o, "timeline.overlap", {"cycle", "after_retrieved", "invocations"});
    s.timeline.overlap_cycle =
        static_cast<int>(y.integer(o, "cycle", "timeline.overlap", 1, 1, s.timeline.cycles - 1));
    s.timeline.overlap_after =
        static_cast<int>(y.integer(o, "after_retrieved", "timeline.overlap", 1, 1, 100000));
    s.timeline.overlap_invocations = static_cast<int>(y.integer(
        o, "invocations", "timeline.overlap", 1, 1, s.timeline.cycles - s.timeline.overlap_cycle));
  }
  s.timeline.password_changes =
      parse_password_changes(y, t["password_changes"], s, s.timeline.cycles);
  s.timeline.latency_budget_ms = y.duration_ms(t, "latency_budget", "timeline", 0);
  if (s.timeline.latency_budget_ms < 0)
    y.fail(t["latency_budget"], "timeline.latency_budget", "expected a duration");
  if (const YAML::Node d = t["drift"]) {
    y.only_keys(d, "timeline.drift", {"before_cycle", "profile"});
    s.timeline.drift_cycle =
        static_cast<int>(y.integer(d, "before_cycle", "timeline.drift", 2, 1, s.timeline.cycles));
    s.timeline.drift_profile = resolve_profile(y, d["profile"], "timeline.drift.profile",
                                               y.req_str(d, "profile", "timeline.drift"));
  }
}

// reply_delay: {data-end: 2s, rcpt: 300ms, ...}: a slow in-house server (real time).
void parse_reply_delays(const base::YamlReader& y, const YAML::Node& d, ReceiverSpec& rs) {
  y.require_map(d, "receiver.reply_delay");
  for (const auto& kv : d) {
    const std::string stage = kv.first.Scalar();
    const auto which = fake_smtp::reply_stage_from_name(stage);
    if (!which)
      y.fail(kv.first, "receiver.reply_delay",
             "unknown stage '" + stage + "' (known: greeting, mail, rcpt, data, data-end, other)");
    const long long delay = y.duration_ms(d, stage, "receiver.reply_delay", 0);
    if (delay < 0 || delay > 60'000)
      y.fail(kv.second, "receiver.reply_delay." + stage, "expected 0 .. 60s");
    rs.reply_delay_ms[static_cast<std::size_t>(*which)] = delay;
  }
}

void parse_receiver(const base::YamlReader& y, const YAML::Node& r, Scenario& s) {
  y.only_keys(
      r, "receiver",
      {"lmtp", "relay", "reject_null_sender", "loop_check", "rcpt_fail_at", "rcpt_fail_code",
       "data_fail_code", "data_end_fail_code", "only_transaction", "reply_delay", "rcpt_faults"});
  auto& rs = s.receiver;
  rs.lmtp = y.boolean(r, "lmtp", "receiver", false);
  const std::string relay = y.str(r, "relay", "receiver", "deny");
  if (relay != "deny" && relay != "open")
    y.fail(r["relay"], "receiver.relay", "expected deny or open");
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
  rs.rcpt_faults = parse_rcpt_faults(y, r["rcpt_faults"], s.timeline.cycles);
  if (const YAML::Node d = r["reply_delay"]) parse_reply_delays(y, d, rs);
}

// What each defect model (defects:) and external fetcher (fetchers:) must produce here.
void parse_documented(const base::YamlReader& y, const YAML::Node& root, Scenario& s) {
  if (const YAML::Node d = root["defects"]) {
    y.require_map(d, "defects");
    for (const auto& kv : d) {
      const std::string name = kv.first.Scalar();
      const auto defect = fetcher::parse_defect(name);
      if (!defect.ok() || *defect == fetcher::Defect::none)
        y.fail(kv.first, "defects." + name,
               "unknown defect model (known: " + fetcher::defect_model_names() + ")");
      s.defects[*defect] = parse_expect(y, kv.second, "defects." + name);
    }
  }
  if (const YAML::Node fx = root["fetchers"]) {
    y.require_map(fx, "fetchers");
    for (const auto& kv : fx) {
      const std::string name = kv.first.Scalar();
      const auto kind = parse_fetcher_kind(name);
      if (!kind || *kind == FetcherKind::core)
        y.fail(kv.first, "fetchers." + name,
               "unknown external fetcher (fetchmail, getmail6, command)");
      s.fetchers[*kind] = parse_expect(y, kv.second, "fetchers." + name);
    }
  }
}

}  // namespace

std::string_view fetcher_kind_name(FetcherKind k) {
  return base::name_of<FetcherKind>(kFetcherKinds, k);
}

std::optional<FetcherKind> parse_fetcher_kind(std::string_view name) {
  return base::value_of<FetcherKind>(kFetcherKinds, name);
}

std::string fetcher_kind_names() { return base::names_of<FetcherKind>(kFetcherKinds); }

std::string fetcher_name(const FetcherSpec& f) {
  if (f.kind == FetcherKind::core && f.defect != fetcher::Defect::none)
    return std::string(fetcher::defect_name(f.defect));
  return std::string(fetcher_kind_name(f.kind));
}

Scenario with_defect(const Scenario& scenario, fetcher::Defect defect) {
  Scenario s = scenario;
  s.fetcher.defect = defect;
  if (auto it = s.defects.find(defect); it != s.defects.end()) s.expect = it->second;
  return s;
}

Scenario with_fetcher(const Scenario& scenario, FetcherKind kind, const std::string& command) {
  Scenario s = scenario;
  s.fetcher.kind = kind;
  s.fetcher.defect = fetcher::Defect::none;
  if (!command.empty()) s.fetcher.command = command;
  if (auto it = s.fetchers.find(kind); it != s.fetchers.end()) s.expect = it->second;
  return s;
}

base::Result<Scenario> parse_scenario(std::string_view yaml, std::string_view source) {
  base::YamlReader y{std::string(source)};
  try {
    const YAML::Node root = y.parse(yaml);
    if (!root.IsMap()) y.fail(root, "(top)", "expected a mapping with version: 1");
    y.only_keys(root, "",
                {"version", "name", "description", "world", "provider", "fetcher", "receiver",
                 "messages", "timeline", "expect", "defects", "fetchers"});
    y.require_version(root, 1);
    Scenario s;
    s.source = std::string(source);
    s.name = y.req_str(root, "name", "");
    s.description = y.str(root, "description", "", "");

    parse_world(y, root, s);
    if (const YAML::Node p = root["provider"]) parse_provider(y, p, s);
    if (const YAML::Node f = root["fetcher"]) parse_fetcher(y, f, s);
    if (!s.mailboxes.empty() && s.fetcher.accounts.empty())
      s.fetcher.accounts = default_accounts(y, root["provider"], s);
    s.messages = detail::parse_messages(y, root);
    if (const YAML::Node t = root["timeline"]) parse_timeline(y, t, s);
    if (const YAML::Node r = root["receiver"]) parse_receiver(y, r, s);
    s.expect = parse_expect(y, root["expect"], "expect");
    parse_documented(y, root, s);
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

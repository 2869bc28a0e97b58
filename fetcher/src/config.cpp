#include "fetcher/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "base/names.hpp"
#include "base/strings.hpp"
#include "base/yaml.hpp"
#include "client/connect.hpp"
#include "mail/address.hpp"

namespace dropcheck::fetcher {

namespace {
constexpr std::pair<Defect, std::string_view> kDefects[] = {
    {Defect::none, "none"},
    {Defect::sbs_connector, "sbs-connector"},
    {Defect::pullmail, "pullmail"},
    {Defect::no_strip, "no-strip"},
    {Defect::no_lock, "no-lock"},
    {Defect::no_dedup, "no-dedup"},
    {Defect::fill_empty_sender, "fill-empty-sender"},
};
// Every key the loader accepts, per mapping (README's config block lists each one).
constexpr std::array<std::string_view, 12> kTopKeys = {
    "version",   "name",    "pop3",          "smtp",   "routing",
    "state_dir", "keep",    "wait_for_lock", "defect", "dedup_retention",
    "accounts",  "parallel"};
constexpr std::array<std::string_view, 5> kAccountKeys = {"name", "pop3", "mode", "deliver_to",
                                                          "keep"};
constexpr std::array<std::string_view, 14> kPop3Keys = {"host",
                                                        "port",
                                                        "tls",
                                                        "verify_certificate",
                                                        "ca_file",
                                                        "user",
                                                        "password",
                                                        "password_file",
                                                        "apop",
                                                        "auth",
                                                        "timeout",
                                                        "message_deadline",
                                                        "cycle_deadline",
                                                        "max_message_size"};
constexpr std::array<std::string_view, 5> kSmtpKeys = {"host", "port", "lmtp", "helo", "timeout"};
constexpr std::array<std::string_view, 8> kRoutingKeys = {
    "source", "envelope", "local_domains", "aliases",
    "users",  "fallback", "strip_headers", "sender_from_header"};
constexpr std::array<std::string_view, 4> kEnvelopeKeys = {"header", "occurrence", "qmail_prefix",
                                                           "by"};

template <std::size_t N>
void only_keys(const base::YamlReader& y, const YAML::Node& n, std::string_view field,
               const std::array<std::string_view, N>& keys) {
  [&]<std::size_t... I>(std::index_sequence<I...>) { y.only_keys(n, field, {keys[I]...}); }
  (std::make_index_sequence<N>{});
}

template <std::size_t N>
void add_keys(std::vector<std::string>& out, std::string_view prefix,
              const std::array<std::string_view, N>& keys) {
  for (auto k : keys) out.push_back(std::string(prefix) + std::string(k));
}

std::string host_of(const base::YamlReader& y, const YAML::Node& m, const std::string& field,
                    std::string fallback) {
  std::string h = y.str(m, "host", field, std::move(fallback));
  if (!client::valid_host(h))
    y.fail(m["host"] ? m["host"] : m, field + ".host",
           "'" + h + "' is no IPv4/IPv6 address or DNS host name");
  return h;
}

// A mailbox routing may name: at a local domain, or its RCPT would leave the site.
void require_local(const base::YamlReader& y, const YAML::Node& at, const std::string& field,
                   const Routing& routing, const std::string& addr) {
  const std::string d = base::to_lower(addr.substr(addr.rfind('@') + 1));
  if (addr.find('@') == std::string::npos ||
      std::find(routing.local_domains.begin(), routing.local_domains.end(), d) ==
          routing.local_domains.end())
    y.fail(at, field, addr + " is not at a local domain (routing.local_domains)");
}

}  // namespace

int default_occurrence(std::string_view header) {
  return base::iequals(header, "Delivered-To") ? 1 : 0;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  add_keys(out, "", kTopKeys);
  add_keys(out, "pop3.", kPop3Keys);
  add_keys(out, "smtp.", kSmtpKeys);
  add_keys(out, "routing.", kRoutingKeys);
  add_keys(out, "routing.envelope.", kEnvelopeKeys);
  add_keys(out, "accounts.", kAccountKeys);
  return out;
}

std::string_view defect_name(Defect d) { return base::name_of<Defect>(kDefects, d); }

base::Result<Defect> parse_defect(std::string_view name) {
  if (const auto d = base::value_of<Defect>(kDefects, name)) return *d;
  return base::make_error("bad-defect", fmt::format("unknown defect model '{}' (known: {})", name,
                                                    base::names_of<Defect>(kDefects)));
}

std::string defect_model_names() { return base::names_of<Defect>(kDefects, Defect::none); }

Config default_config() {
  Config c;
  for (auto h : mail::kEnvelopeHeaders) c.routing.strip_headers.emplace_back(h);
  c.routing.strip_headers.emplace_back("Bcc");
  c.routing.envelope.push_back(mail::EnvelopeSpec{});
  return c;
}

namespace {

std::uint16_t port_of(const base::YamlReader& y, const YAML::Node& m, std::string_view field,
                      std::uint16_t fallback) {
  return static_cast<std::uint16_t>(y.integer(m, "port", field, fallback, 1, 65535));
}

// Received is read only on the provider's own line, named by its MX host (the BY clause):
// "the topmost Received line" would be an internal hop's or a forwarder's.
void check_received_by(const base::YamlReader& y, const YAML::Node& e, const std::string& where,
                       const mail::EnvelopeSpec& spec) {
  if (!mail::reads_received(spec)) {
    if (!spec.received_by.empty()) y.fail(e["by"], where + ".by", "only with header: Received");
    return;
  }
  if (spec.received_by.empty())
    y.fail(e, where + ".by",
           "missing: Received needs the provider's MX host name, as its Received line's by "
           "clause writes it (e.g. {header: Received, by: mx.provider.example})");
  if (!client::valid_host(spec.received_by))
    y.fail(e["by"], where + ".by", "'" + spec.received_by + "' is no DNS host name");
  if (spec.strip_qmail_prefix)
    y.fail(e["qmail_prefix"], where + ".qmail_prefix", "not with header: Received");
}

}  // namespace

std::vector<mail::EnvelopeSpec> parse_envelope_specs(const base::YamlReader& y, const YAML::Node& n,
                                                     const std::string& field) {
  std::vector<mail::EnvelopeSpec> out;
  auto one = [&](const YAML::Node& e, const std::string& where) {
    mail::EnvelopeSpec spec;
    if (e.IsScalar()) {
      spec.header = e.Scalar();
      spec.occurrence = default_occurrence(spec.header);
    } else {
      only_keys(y, e, where, kEnvelopeKeys);
      spec.header = y.req_str(e, "header", where);
      spec.occurrence = static_cast<int>(
          y.integer(e, "occurrence", where, default_occurrence(spec.header), 0, 100));
      spec.strip_qmail_prefix = y.boolean(e, "qmail_prefix", where, false);
      spec.received_by = y.str(e, "by", where, "");
    }
    if (spec.header.empty() || spec.header.find(':') != std::string::npos)
      y.fail(e, where + ".header", "not a header name");
    check_received_by(y, e, where, spec);
    out.push_back(spec);
  };
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) one(n[i], fmt::format("{}[{}]", field, i));
  } else {
    one(n, field);
  }
  return out;
}

namespace {

TlsMode tls_of(const base::YamlReader& y, const YAML::Node& pop, const std::string& field) {
  const std::string tls = y.str(pop, "tls", field, "none");
  if (tls == "starttls") return TlsMode::stls;  // the aliases other fetchers' users know
  if (tls == "pop3s") return TlsMode::implicit;
  if (const auto mode = client::parse_tls_mode(tls)) return *mode;
  y.fail(pop["tls"], field + ".tls", "expected none, stls or implicit");
}

std::string password_of(const base::YamlReader& y, const YAML::Node& pop,
                        const std::string& field) {
  std::string password = y.str(pop, "password", field, "");
  const std::string pwfile = y.str(pop, "password_file", field, "");
  if (!password.empty() && !pwfile.empty())
    y.fail(pop["password_file"], field + ".password_file",
           "password and password_file exclude each other");
  if (!pwfile.empty()) {
    std::ifstream in(pwfile);
    if (!in) y.fail(pop["password_file"], field + ".password_file", "cannot read " + pwfile);
    std::getline(in, password);
  }
  if (password.empty()) y.fail(pop, field + ".password", "missing (or password_file)");
  return password;
}

Pop3Account parse_pop3(const base::YamlReader& y, const YAML::Node& pop, const std::string& field) {
  only_keys(y, pop, field, kPop3Keys);
  Pop3Account p;
  p.host = host_of(y, pop, field, p.host);
  p.tls = tls_of(y, pop, field);
  p.port = port_of(y, pop, field, p.tls == TlsMode::implicit ? 995 : 110);
  p.verify_certificate = y.boolean(pop, "verify_certificate", field, true);
  p.ca_file = y.str(pop, "ca_file", field, "");
  p.user = y.req_str(pop, "user", field);
  p.password = password_of(y, pop, field);
  p.apop = y.boolean(pop, "apop", field, false);
  p.auth = y.str(pop, "auth", field, p.apop ? "apop" : "auto");
  if (p.auth != "auto" && p.auth != "user" && p.auth != "apop" && p.auth != "plain")
    y.fail(pop["auth"], field + ".auth", "expected auto, user, apop or plain");
  if (p.auth == "apop") p.apop = true;
  p.timeout = std::chrono::milliseconds(y.duration_ms(pop, "timeout", field, 60'000));
  p.message_deadline =
      std::chrono::milliseconds(y.duration_ms(pop, "message_deadline", field, 600'000));
  p.cycle_deadline =
      std::chrono::milliseconds(y.duration_ms(pop, "cycle_deadline", field, 3'600'000));
  // In octets; 1 KiB .. 1 GiB (memory holds one message at a time).
  p.max_message_size = static_cast<std::size_t>(
      y.integer(pop, "max_message_size", field, 64LL * 1024 * 1024, 1024, 1LL << 30));
  return p;
}

Delivery parse_smtp(const base::YamlReader& y, const YAML::Node& root) {
  const YAML::Node smtp = root["smtp"];
  if (!smtp) y.fail(root, "smtp", "missing");
  only_keys(y, smtp, "smtp", kSmtpKeys);
  Delivery d;
  d.host = host_of(y, smtp, "smtp", d.host);
  d.port = port_of(y, smtp, "smtp", 25);
  d.lmtp = y.boolean(smtp, "lmtp", "smtp", false);
  d.helo = y.str(smtp, "helo", "smtp", d.helo);
  d.timeout = std::chrono::milliseconds(y.duration_ms(smtp, "timeout", "smtp", 60'000));
  return d;
}

void parse_aliases_and_users(const base::YamlReader& y, const YAML::Node& r, Routing& routing) {
  if (const YAML::Node a = r["aliases"]) {
    y.require_map(a, "routing.aliases");
    for (const auto& kv : a) {
      if (!kv.second.IsScalar()) y.fail(kv.second, "routing.aliases", "expected address: mailbox");
      const std::string box = mail::normalize_address(kv.second.Scalar());
      require_local(y, kv.second, "routing.aliases", routing, box);
      routing.aliases[mail::normalize_address(kv.first.Scalar())] = box;
    }
  }
  if (const YAML::Node u = r["users"]) {
    for (auto& user : y.str_list(r, "users", "routing")) {
      routing.users.push_back(mail::normalize_address(user));
      const YAML::Node at = u.IsSequence() ? u[routing.users.size() - 1] : u;
      require_local(y, at, "routing.users", routing, routing.users.back());
    }
  }
}

void parse_routing(const base::YamlReader& y, const YAML::Node& root, Routing& routing) {
  const YAML::Node r = root["routing"];
  if (!r) y.fail(root, "routing", "missing");
  only_keys(y, r, "routing", kRoutingKeys);
  const std::string src = y.str(r, "source", "routing", "envelope-header");
  if (src == "envelope-header")
    routing.source = RecipientSource::envelope_header;
  else if (src == "to-cc")
    routing.source = RecipientSource::to_cc;
  else
    y.fail(r["source"], "routing.source", "expected envelope-header or to-cc");
  if (r["envelope"]) routing.envelope = parse_envelope_specs(y, r["envelope"], "routing.envelope");
  for (auto& d : y.str_list(r, "local_domains", "routing"))
    routing.local_domains.push_back(base::to_lower(d));
  if (routing.local_domains.empty())
    y.fail(r, "routing.local_domains", "missing: name at least one local domain");
  parse_aliases_and_users(y, r, routing);
  routing.fallback = mail::normalize_address(y.str(r, "fallback", "routing", ""));
  if (!routing.fallback.empty())
    require_local(y, r["fallback"], "routing.fallback", routing, routing.fallback);
  routing.sender_from_header = y.boolean(r, "sender_from_header", "routing", false);
  if (r["strip_headers"]) routing.strip_headers = y.str_list(r, "strip_headers", "routing");
}

// The settings every account shares: delivery, routing, state and the defect model.
Config parse_shared(const base::YamlReader& y, const YAML::Node& root) {
  Config c = default_config();
  c.smtp = parse_smtp(y, root);
  parse_routing(y, root, c.routing);
  c.state_dir = y.str(root, "state_dir", "", "");
  c.keep = y.boolean(root, "keep", "", false);
  c.wait_for_lock = y.boolean(root, "wait_for_lock", "", false);
  const long long ms = y.duration_ms(root, "dedup_retention", "", 30LL * 86'400'000);
  if (ms < 3'600'000)
    y.fail(root["dedup_retention"], "dedup_retention", "expected at least 1h (e.g. 30d)");
  c.dedup_retention = std::chrono::milliseconds(ms);
  auto d = parse_defect(y.str(root, "defect", "", "none"));
  if (!d.ok()) y.fail(root["defect"], "defect", d.error().message);
  c.defect = *d;
  return c;
}

// An account name becomes a state file and lock name: letters, digits, '.', '_', '-'.
void check_name(const base::YamlReader& y, const YAML::Node& at, const std::string& field,
                const std::string& name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && name.front() != '.' &&
      std::all_of(name.begin(), name.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
      });
  if (!ok)
    y.fail(at, field, "'" + name + "': expected 1-64 of A-Z a-z 0-9 . _ - (not starting with '.')");
}

void parse_mode(const base::YamlReader& y, const YAML::Node& a, const std::string& field,
                Config& c) {
  const std::string mode = y.str(a, "mode", field, "multidrop");
  if (mode == "multidrop") {
    if (a["deliver_to"]) y.fail(a["deliver_to"], field + ".deliver_to", "only with mode: single");
    return;
  }
  if (mode != "single") y.fail(a["mode"], field + ".mode", "expected multidrop or single");
  c.routing.mode = Mode::single;
  c.routing.deliver_to = mail::normalize_address(y.req_str(a, "deliver_to", field));
  require_local(y, a["deliver_to"], field + ".deliver_to", c.routing, c.routing.deliver_to);
  const auto& users = c.routing.users;
  if (!users.empty() && std::find(users.begin(), users.end(), c.routing.deliver_to) == users.end())
    y.fail(a["deliver_to"], field + ".deliver_to",
           c.routing.deliver_to + " is not in routing.users");
}

Config parse_account(const base::YamlReader& y, const YAML::Node& a, const std::string& field,
                     const Config& shared) {
  y.require_map(a, field);
  only_keys(y, a, field, kAccountKeys);
  Config c = shared;
  c.name = y.req_str(a, "name", field);
  check_name(y, a["name"], field + ".name", c.name);
  const YAML::Node pop = a["pop3"];
  if (!pop) y.fail(a, field + ".pop3", "missing");
  c.pop3 = parse_pop3(y, pop, field + ".pop3");
  parse_mode(y, a, field, c);
  c.keep = y.boolean(a, "keep", field, shared.keep);
  return c;
}

Accounts parse_account_list(const base::YamlReader& y, const YAML::Node& root,
                            const Config& shared) {
  const YAML::Node list = root["accounts"];
  if (!list.IsSequence() || list.size() == 0)
    y.fail(list, "accounts", "expected a non-empty list of accounts");
  if (list.size() > kMaxAccounts)
    y.fail(list, "accounts", fmt::format("at most {} accounts (kMaxAccounts)", kMaxAccounts));
  Accounts out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string field = fmt::format("accounts[{}]", i);
    out.accounts.push_back(parse_account(y, list[i], field, shared));
    if (!names.insert(out.accounts.back().name).second)
      y.fail(list[i]["name"], field + ".name",
             "duplicate account name " + out.accounts.back().name);
  }
  return out;
}

// The one-account format: `name` and `pop3` at the top.
Config parse_one_account(const base::YamlReader& y, const YAML::Node& root) {
  if (root["parallel"]) y.fail(root["parallel"], "parallel", "only with accounts");
  const YAML::Node pop = root["pop3"];
  if (!pop) y.fail(root, "pop3", "missing (or accounts)");
  const Pop3Account pop3 = parse_pop3(y, pop, "pop3");
  Config c = parse_shared(y, root);
  c.pop3 = pop3;
  c.name = y.str(root, "name", "", c.name);
  check_name(y, root["name"] ? root["name"] : root, "name", c.name);
  return c;
}

Accounts parse_root(const base::YamlReader& y, const YAML::Node& root) {
  if (!root.IsMap()) y.fail(root, "(top)", "expected a mapping with version: 1");
  only_keys(y, root, "", kTopKeys);
  y.require_version(root, 1);
  if (!root["accounts"]) return Accounts{{parse_one_account(y, root)}, 1};
  const Config shared = parse_shared(y, root);
  const auto parallel = static_cast<std::size_t>(
      y.integer(root, "parallel", "", 1, 1, static_cast<long long>(kMaxParallelAccounts)));
  {
    if (root["pop3"]) y.fail(root["pop3"], "pop3", "pop3 and accounts exclude each other");
    // With accounts, the top-level name names the installation (its Received lines).
    Config site = shared;
    site.received_by = y.str(root, "name", "", "default");
    check_name(y, root["name"] ? root["name"] : root, "name", site.received_by);
    Accounts out = parse_account_list(y, root, site);
    out.parallel = parallel;
    return out;
  }
}

}  // namespace

base::Result<Accounts> parse_accounts(std::string_view yaml, std::string_view source_name) {
  base::YamlReader y{std::string(source_name)};
  try {
    return parse_root(y, y.parse(yaml));
  } catch (const base::YamlError& e) {
    return base::make_error("bad-config", e.what());
  } catch (const YAML::Exception& e) {
    return base::make_error("bad-config", fmt::format("{}: {}", source_name, e.what()));
  }
}

base::Result<Config> parse_config(std::string_view yaml, std::string_view source_name) {
  auto a = parse_accounts(yaml, source_name);
  if (!a.ok()) return a.error();
  if (a->accounts.size() != 1)
    return base::make_error("bad-config",
                            fmt::format("{}: {} accounts: this command takes one (load_accounts)",
                                        source_name, a->accounts.size()));
  return std::move(a->accounts.front());
}

base::Result<Accounts> load_accounts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("bad-config", fmt::format("{}: cannot read file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_accounts(ss.str(), path);
}

base::Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("bad-config", fmt::format("{}: cannot read file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace dropcheck::fetcher

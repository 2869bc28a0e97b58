#include "fetcher/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <utility>

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
constexpr std::array<std::string_view, 10> kTopKeys = {
    "version", "name",          "pop3", "smtp",   "routing",
    "state_dir", "keep", "wait_for_lock", "defect", "dedup_retention"};
constexpr std::array<std::string_view, 14> kPop3Keys = {
    "host",          "port", "tls",  "verify_certificate", "ca_file",          "user", "password",
    "password_file", "apop", "auth", "timeout",            "message_deadline", "cycle_deadline",
    "max_message_size"};
constexpr std::array<std::string_view, 5> kSmtpKeys = {"host", "port", "lmtp", "helo", "timeout"};
constexpr std::array<std::string_view, 8> kRoutingKeys = {
    "source", "envelope", "local_domains", "aliases", "users", "fallback", "strip_headers",
    "sender_from_header"};
constexpr std::array<std::string_view, 3> kEnvelopeKeys = {"header", "occurrence",
                                                           "qmail_prefix"};

template <std::size_t N>
void only_keys(const base::YamlReader& y, const YAML::Node& n, std::string_view field,
               const std::array<std::string_view, N>& keys) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    y.only_keys(n, field, {keys[I]...});
  }(std::make_index_sequence<N>{});
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
  return out;
}

std::string_view defect_name(Defect d) {
  for (const auto& [k, v] : kDefects)
    if (k == d) return v;
  return "?";
}

base::Result<Defect> parse_defect(std::string_view name) {
  for (const auto& [k, v] : kDefects)
    if (v == name) return k;
  std::string all;
  for (const auto& kv : kDefects) all += (all.empty() ? "" : ", ") + std::string(kv.second);
  return base::make_error("bad-defect",
                          fmt::format("unknown defect model '{}' (known: {})", name, all));
}

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

}  // namespace

std::vector<mail::EnvelopeSpec> parse_envelope_specs(const base::YamlReader& y,
                                                     const YAML::Node& n,
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
    }
    if (spec.header.empty() || spec.header.find(':') != std::string::npos)
      y.fail(e, where + ".header", "not a header name");
    out.push_back(spec);
  };
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) one(n[i], fmt::format("{}[{}]", field, i));
  } else {
    one(n, field);
  }
  return out;
}

base::Result<Config> parse_config(std::string_view yaml, std::string_view source_name) {
  base::YamlReader y{std::string(source_name)};
  try {
    const YAML::Node root = y.parse(yaml);
    if (!root.IsMap()) y.fail(root, "(top)", "expected a mapping with version: 1");
    only_keys(y, root, "", kTopKeys);
    y.require_version(root, 1);
    Config c = default_config();
    c.name = y.str(root, "name", "", c.name);
    if (c.name.empty() || c.name.find('/') != std::string::npos)
      y.fail(root["name"], "name", "must be non-empty and contain no '/'");
    const YAML::Node pop = root["pop3"];
    if (!pop) y.fail(root, "pop3", "missing");
    only_keys(y, pop, "pop3", kPop3Keys);
    c.pop3.host = host_of(y, pop, "pop3", c.pop3.host);
    const std::string tls = y.str(pop, "tls", "pop3", "none");
    if (tls == "none") c.pop3.tls = TlsMode::none;
    else if (tls == "stls" || tls == "starttls") c.pop3.tls = TlsMode::stls;
    else if (tls == "implicit" || tls == "pop3s") c.pop3.tls = TlsMode::implicit;
    else y.fail(pop["tls"], "pop3.tls", "expected none, stls or implicit");
    c.pop3.port = port_of(y, pop, "pop3", c.pop3.tls == TlsMode::implicit ? 995 : 110);
    c.pop3.verify_certificate = y.boolean(pop, "verify_certificate", "pop3", true);
    c.pop3.ca_file = y.str(pop, "ca_file", "pop3", "");
    c.pop3.user = y.req_str(pop, "user", "pop3");
    c.pop3.password = y.str(pop, "password", "pop3", "");
    const std::string pwfile = y.str(pop, "password_file", "pop3", "");
    if (!pwfile.empty()) {
      std::ifstream in(pwfile);
      if (!in) y.fail(pop["password_file"], "pop3.password_file", "cannot read " + pwfile);
      std::getline(in, c.pop3.password);
    }
    if (c.pop3.password.empty()) y.fail(pop, "pop3.password", "missing (or password_file)");
    c.pop3.apop = y.boolean(pop, "apop", "pop3", false);
    c.pop3.auth = y.str(pop, "auth", "pop3", c.pop3.apop ? "apop" : "auto");
    if (c.pop3.auth != "auto" && c.pop3.auth != "user" && c.pop3.auth != "apop" &&
        c.pop3.auth != "plain")
      y.fail(pop["auth"], "pop3.auth", "expected auto, user, apop or plain");
    if (c.pop3.auth == "apop") c.pop3.apop = true;
    c.pop3.timeout = std::chrono::milliseconds(y.duration_ms(pop, "timeout", "pop3", 60'000));
    c.pop3.message_deadline =
        std::chrono::milliseconds(y.duration_ms(pop, "message_deadline", "pop3", 600'000));
    c.pop3.cycle_deadline =
        std::chrono::milliseconds(y.duration_ms(pop, "cycle_deadline", "pop3", 3'600'000));
    // In octets; 1 KiB .. 1 GiB (memory holds one message at a time).
    c.pop3.max_message_size = static_cast<std::size_t>(
        y.integer(pop, "max_message_size", "pop3", 64LL * 1024 * 1024, 1024, 1LL << 30));

    const YAML::Node smtp = root["smtp"];
    if (!smtp) y.fail(root, "smtp", "missing");
    only_keys(y, smtp, "smtp", kSmtpKeys);
    c.smtp.host = host_of(y, smtp, "smtp", c.smtp.host);
    c.smtp.port = port_of(y, smtp, "smtp", 25);
    c.smtp.lmtp = y.boolean(smtp, "lmtp", "smtp", false);
    c.smtp.helo = y.str(smtp, "helo", "smtp", c.smtp.helo);
    c.smtp.timeout = std::chrono::milliseconds(y.duration_ms(smtp, "timeout", "smtp", 60'000));

    const YAML::Node r = root["routing"];
    if (!r) y.fail(root, "routing", "missing");
    only_keys(y, r, "routing", kRoutingKeys);
    const std::string src = y.str(r, "source", "routing", "envelope-header");
    if (src == "envelope-header") c.routing.source = RecipientSource::envelope_header;
    else if (src == "to-cc") c.routing.source = RecipientSource::to_cc;
    else y.fail(r["source"], "routing.source", "expected envelope-header or to-cc");
    if (r["envelope"])
      c.routing.envelope = parse_envelope_specs(y, r["envelope"], "routing.envelope");
    for (auto& d : y.str_list(r, "local_domains", "routing"))
      c.routing.local_domains.push_back(base::to_lower(d));
    if (c.routing.local_domains.empty())
      y.fail(r, "routing.local_domains", "missing: name at least one local domain");
    if (const YAML::Node a = r["aliases"]) {
      y.require_map(a, "routing.aliases");
      for (const auto& kv : a) {
        if (!kv.second.IsScalar()) y.fail(kv.second, "routing.aliases", "expected address: mailbox");
        const std::string box = mail::normalize_address(kv.second.Scalar());
        require_local(y, kv.second, "routing.aliases", c.routing, box);
        c.routing.aliases[mail::normalize_address(kv.first.Scalar())] = box;
      }
    }
    if (const YAML::Node u = r["users"]) {
      for (auto& user : y.str_list(r, "users", "routing")) {
        c.routing.users.push_back(mail::normalize_address(user));
        const YAML::Node at = u.IsSequence() ? u[c.routing.users.size() - 1] : u;
        require_local(y, at, "routing.users", c.routing, c.routing.users.back());
      }
    }
    c.routing.fallback = mail::normalize_address(y.str(r, "fallback", "routing", ""));
    if (!c.routing.fallback.empty())
      require_local(y, r["fallback"], "routing.fallback", c.routing, c.routing.fallback);
    c.routing.sender_from_header = y.boolean(r, "sender_from_header", "routing", false);
    if (r["strip_headers"]) c.routing.strip_headers = y.str_list(r, "strip_headers", "routing");

    c.state_dir = y.str(root, "state_dir", "", "");
    c.keep = y.boolean(root, "keep", "", false);
    c.wait_for_lock = y.boolean(root, "wait_for_lock", "", false);
    {
      const long long ms = y.duration_ms(root, "dedup_retention", "", 30LL * 86'400'000);
      if (ms < 3'600'000)
        y.fail(root["dedup_retention"], "dedup_retention", "expected at least 1h (e.g. 30d)");
      c.dedup_retention = std::chrono::milliseconds(ms);
    }
    const std::string defect = y.str(root, "defect", "", "none");
    auto d = parse_defect(defect);
    if (!d.ok()) y.fail(root["defect"], "defect", d.error().message);
    c.defect = *d;
    return c;
  } catch (const base::YamlError& e) {
    return base::make_error("bad-config", e.what());
  } catch (const YAML::Exception& e) {
    return base::make_error("bad-config", fmt::format("{}: {}", source_name, e.what()));
  }
}

base::Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("bad-config", fmt::format("{}: cannot read file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace dropcheck::fetcher

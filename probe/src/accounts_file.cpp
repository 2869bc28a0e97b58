// The accounts file of `dropcheck probe --accounts`: read once into plain structs, strict.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/yaml.hpp"
#include "client/connect.hpp"
#include "client/tls.hpp"
#include "probe/accounts.hpp"

namespace dropcheck::probe {

namespace {

std::string resolve(const std::string &base_dir, const std::string &path) {
  if (path.empty() || base_dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

bool valid_name(const std::string &n) {
  if (n.empty() || n.size() > kMaxAccountName) return false;
  for (const char c : n) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!word && c != '-' && c != '_' && c != '.' && c != '@') return false;
  }
  return true;
}

// The first line of the file, without its line end.
std::string read_password_file(const base::YamlReader &y, const YAML::Node &at,
                               const std::string &field, const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) y.fail(at, field, "cannot read " + path);
  std::string pw;
  std::getline(in, pw);
  while (!pw.empty() && (pw.back() == '\r' || pw.back() == '\n')) pw.pop_back();
  if (pw.empty()) y.fail(at, field, path + " is empty (its first line is the password)");
  return pw;
}

// password or password_file, exactly one.
std::string password_of(const base::YamlReader &y, const YAML::Node &m, const std::string &field,
                        const std::string &base_dir) {
  const bool inline_pw = static_cast<bool>(m["password"]);
  const bool file_pw = static_cast<bool>(m["password_file"]);
  if (inline_pw && file_pw)
    y.fail(m["password"], field + ".password", "give password or password_file, not both");
  if (!inline_pw && !file_pw) y.fail(m, field + ".password_file", "missing (or password)");
  if (inline_pw) {
    std::string pw = y.req_str(m, "password", field);
    if (pw.empty()) y.fail(m["password"], field + ".password", "empty");
    return pw;
  }
  const std::string path = resolve(base_dir, y.req_str(m, "password_file", field));
  return read_password_file(y, m["password_file"], field + ".password_file", path);
}

TlsMode tls_of(const base::YamlReader &y, const YAML::Node &m, const std::string &field) {
  const auto tls = client::parse_tls_mode(y.str(m, "tls", field, "none"));
  if (!tls) y.fail(m["tls"], field + ".tls", "expected none, stls or implicit");
  return *tls;
}

// The CA file must load now: later, a context that cannot be built looks like an unreachable
// server.
void check_ca_file(const base::YamlReader &y, const YAML::Node &m, const std::string &field,
                   const Account &a) {
  if (a.ca_file.empty()) return;
  auto ctx = client::make_context({a.verify_certificate, a.ca_file});
  if (!ctx.ok()) y.fail(m["ca_file"], field + ".ca_file", ctx.error().message);
}

Account parse_account(const base::YamlReader &y, const YAML::Node &m, const std::string &field,
                      const std::string &base_dir) {
  y.only_keys(m, field,
              {"name", "host", "port", "tls", "verify_certificate", "ca_file", "user", "password",
               "password_file", "allow_plaintext"});
  Account a;
  a.where = y.where(m);
  a.name = y.req_str(m, "name", field);
  if (!valid_name(a.name))
    y.fail(m["name"], field + ".name",
           fmt::format("'{}': 1-{} letters, digits, '-', '_', '.', '@'", a.name, kMaxAccountName));
  a.server.host = y.req_str(m, "host", field);
  if (!client::valid_host(a.server.host))
    y.fail(m["host"], field + ".host", "no IPv4/IPv6 address or DNS host name");
  a.tls = tls_of(y, m, field);
  a.server.port = static_cast<std::uint16_t>(
      y.integer(m, "port", field, a.tls == TlsMode::implicit ? 995 : 110, 1, 65535));
  a.verify_certificate = y.boolean(m, "verify_certificate", field, true);
  a.ca_file = resolve(base_dir, y.str(m, "ca_file", field, ""));
  check_ca_file(y, m, field, a);
  a.allow_plaintext = y.boolean(m, "allow_plaintext", field, false);
  a.user = y.req_str(m, "user", field);
  if (a.user.empty()) y.fail(m["user"], field + ".user", "empty");
  a.password = password_of(y, m, field, base_dir);
  return a;
}

// The key `key` of `map` itself (an empty value has no position of its own).
YAML::Node key_node(const YAML::Node &map, std::string_view key) {
  for (const auto &kv : map)
    if (kv.first.Scalar() == key) return kv.first;
  return map;
}

std::vector<Account> parse_root(const base::YamlReader &y, std::string_view yaml,
                                const std::string &base_dir) {
  const YAML::Node root = y.parse(yaml);
  if (!root.IsMap()) y.fail(root, "(top)", "expected a mapping with version: 1 and accounts:");
  y.only_keys(root, "", {"version", "accounts"});
  y.require_version(root, 1);
  const YAML::Node list = root["accounts"];
  if (!list) y.fail(root, "accounts", "missing");
  if (!list.IsSequence() || list.size() == 0)
    y.fail(key_node(root, "accounts"), "accounts", "expected a non-empty list of accounts");
  if (list.size() > kMaxAccounts)
    y.fail(list, "accounts", fmt::format("more than {} accounts", kMaxAccounts));
  std::vector<Account> out;
  std::map<std::string, std::string> seen;  // name -> where
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string field = fmt::format("accounts[{}]", i);
    Account a = parse_account(y, list[i], field, base_dir);
    if (auto [it, fresh] = seen.emplace(a.name, a.where); !fresh)
      y.fail(list[i]["name"], field + ".name",
             fmt::format("duplicate '{}' (first at {})", a.name, it->second));
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

base::Result<std::vector<Account>> parse_accounts(std::string_view yaml, std::string_view source,
                                                  const std::string &base_dir) {
  base::YamlReader y{std::string(source)};
  try {
    return parse_root(y, yaml, base_dir);
  } catch (const base::YamlError &e) {
    return base::make_error("bad-accounts", e.what());
  } catch (const YAML::Exception &e) {
    return base::make_error("bad-accounts", fmt::format("{}: {}", source, e.what()));
  }
}

base::Result<std::vector<Account>> load_accounts(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("bad-accounts", fmt::format("{}: cannot read file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return parse_accounts(ss.str(), path, dir);
}

}  // namespace dropcheck::probe

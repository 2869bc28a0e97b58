#include "fake_pop3/mailboxes.hpp"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <sstream>

#include "base/strings.hpp"
#include "base/yaml.hpp"

namespace dropcheck::fake_pop3 {

namespace {

constexpr int kMailboxesVersion = 1;

// "local@domain": one '@' with something on both sides, no white space (an envelope address
// as the MX compares it, RFC 5321 4.1.2 Mailbox without the angle brackets).
bool looks_like_address(std::string_view a) {
  const auto at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  if (a.find('@', at + 1) != std::string_view::npos) return false;
  for (const char c : a)
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '<' || c == '>') return false;
  return true;
}

// The first line of the file `path` names, without its line ending. The password never reaches
// an error text.
std::string read_password_file(const base::YamlReader& y, const YAML::Node& at,
                               const std::string& field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line)) y.fail(at, field, "cannot read a line from " + path);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) y.fail(at, field, path + ": first line is empty");
  return line;
}

Mailbox parse_one(const base::YamlReader& y, const YAML::Node& n, const std::string& field) {
  y.only_keys(n, field, {"user", "password", "password_file", "addresses", "catch_all"});
  Mailbox m;
  m.user = y.req_str(n, "user", field);
  // RFC 1939 7: USER name; the command line carries it as one argument.
  if (m.user.empty() || m.user.find_first_of(" \t\r\n") != std::string::npos)
    y.fail(n["user"], field + ".user", "must be non-empty and contain no white space");
  const bool has_password = n["password"] && !n["password"].IsNull();
  const bool has_file = n["password_file"] && !n["password_file"].IsNull();
  if (has_password == has_file) y.fail(n, field, "needs exactly one of password and password_file");
  if (has_password) {
    m.password = y.str(n, "password", field, "");
    if (m.password.empty()) y.fail(n["password"], field + ".password", "is empty");
  } else {
    const std::string path = y.str(n, "password_file", field, "");
    m.password = read_password_file(y, n["password_file"], field + ".password_file", path);
  }
  m.addresses = y.str_list(n, "addresses", field);
  for (std::size_t i = 0; i < m.addresses.size(); ++i)
    if (!looks_like_address(m.addresses[i]))
      y.fail(n["addresses"][i], fmt::format("{}.addresses[{}]", field, i),
             "'" + m.addresses[i] + "' is not an address like local@domain");
  m.catch_all = y.boolean(n, "catch_all", field, false);
  if (m.addresses.empty() && !m.catch_all)
    y.fail(n, field, "receives no mail: give addresses, or catch_all: true");
  return m;
}

}  // namespace

base::Result<std::vector<Mailbox>> parse_mailboxes(std::string_view yaml, std::string_view origin) {
  base::YamlReader y{std::string(origin)};
  try {
    const YAML::Node root = y.parse(yaml);
    if (!root.IsMap()) y.fail(root, "(top)", "expected a mapping with version: 1 and mailboxes:");
    y.only_keys(root, "", {"version", "mailboxes"});
    y.require_version(root, kMailboxesVersion);
    const YAML::Node list = root["mailboxes"];
    if (!list || list.IsNull()) y.fail(root, "mailboxes", "missing");
    if (!list.IsSequence() || list.size() == 0)
      y.fail(list, "mailboxes", "expected a non-empty list of mailboxes");
    std::vector<Mailbox> out;
    std::map<std::string, std::string> owner;  // lower-cased address -> user
    std::string catch_all;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string field = fmt::format("mailboxes[{}]", i);
      const YAML::Node n = list[i];
      Mailbox m = parse_one(y, n, field);
      // The checks Provider's constructor makes, here with a position.
      for (const auto& other : out)
        if (other.user == m.user)
          y.fail(n["user"], field + ".user", "user '" + m.user + "' appears twice");
      if (m.catch_all && !catch_all.empty())
        y.fail(n["catch_all"], field + ".catch_all",
               "'" + catch_all + "' is the catch-all already (at most one)");
      if (m.catch_all) catch_all = m.user;
      for (std::size_t j = 0; j < m.addresses.size(); ++j) {
        const auto [it, added] = owner.emplace(base::to_lower(m.addresses[j]), m.user);
        if (!added && it->second != m.user)
          y.fail(n["addresses"][j], fmt::format("{}.addresses[{}]", field, j),
                 "'" + m.addresses[j] + "' belongs to '" + it->second + "' already");
      }
      out.push_back(std::move(m));
    }
    return out;
  } catch (const base::YamlError& e) {
    return base::make_error("bad-mailboxes", e.what());
  }
}

base::Result<std::vector<Mailbox>> load_mailboxes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("no-mailboxes", path + ": cannot read the mailboxes file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_mailboxes(ss.str(), path);
}

}  // namespace dropcheck::fake_pop3

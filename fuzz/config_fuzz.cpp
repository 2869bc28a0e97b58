// libFuzzer target: the fetcher core's configuration loader (fetcher::parse_accounts, both
// formats) on arbitrary text. Besides the loader contract (loader_check.hpp), a loaded
// configuration keeps the rules README "Fetcher core configuration" states: a usable account name,
// ports in range, at least one local domain (lower-case), every mailbox it routes to at a local
// domain, a password, bounded message size and dedup retention; with accounts: 1..kMaxAccounts
// unique names, a bounded `parallel`, a single-drop account's mailbox at a local domain.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fetcher/config.hpp"
#include "fuzz_check.hpp"
#include "loader_check.hpp"

namespace fetcher = dropcheck::fetcher;

namespace {

bool is_local(const fetcher::Routing& r, std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  for (const auto& d : r.local_domains)
    if (address.substr(at + 1) == d) return true;
  return false;
}

bool lower_case(std::string_view s) {
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return false;
  return true;
}

void check_config(const fetcher::Config& c, std::string_view) {
  FUZZ_CHECK(!c.name.empty() && c.name.find('/') == std::string::npos);
  FUZZ_CHECK(c.pop3.port != 0 && c.smtp.port != 0);
  FUZZ_CHECK(!c.pop3.password.empty() && !c.pop3.user.empty());
  FUZZ_CHECK(c.pop3.auth == "auto" || c.pop3.auth == "user" || c.pop3.auth == "apop" ||
             c.pop3.auth == "plain");
  FUZZ_CHECK(c.pop3.auth != "apop" || c.pop3.apop);
  FUZZ_CHECK(c.pop3.max_message_size >= 1024 && c.pop3.max_message_size <= (1u << 30));
  FUZZ_CHECK(c.dedup_retention >= std::chrono::hours(1));
  const auto& r = c.routing;
  FUZZ_CHECK(!r.local_domains.empty());
  for (const auto& d : r.local_domains) FUZZ_CHECK(lower_case(d));
  for (const auto& [from, box] : r.aliases) FUZZ_CHECK(is_local(r, box));
  for (const auto& u : r.users) FUZZ_CHECK(is_local(r, u));
  FUZZ_CHECK(r.fallback.empty() || is_local(r, r.fallback));
  FUZZ_CHECK(fetcher::parse_defect(fetcher::defect_name(c.defect)).ok());
  FUZZ_CHECK(r.mode == fetcher::Mode::multidrop ? r.deliver_to.empty() : is_local(r, r.deliver_to));
}

void check_accounts(const fetcher::Accounts& a, std::string_view source) {
  FUZZ_CHECK(!a.accounts.empty() && a.accounts.size() <= fetcher::kMaxAccounts);
  FUZZ_CHECK(a.parallel >= 1 && a.parallel <= fetcher::kMaxParallelAccounts);
  std::set<std::string> names;
  for (const auto& c : a.accounts) {
    check_config(c, source);
    FUZZ_CHECK(names.insert(c.name).second);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return dropcheck::fuzz::fuzz_loader(data, size, "bad-config", fetcher::parse_accounts,
                                      check_accounts);
}

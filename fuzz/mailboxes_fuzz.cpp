// libFuzzer target: fake-pop3's mailboxes file (fake_pop3::parse_mailboxes, `--mailboxes`) on
// arbitrary text. Besides the loader contract (loader_check.hpp), loaded mailboxes are what a
// Provider accepts: at least one, unique non-empty users with a password, at most one
// catch-all (which owns no address), every other box owning an address, no address owned by
// two boxes (case-insensitively; a box may list one of its own addresses twice, as the
// Provider's constructor accepts: it routes the same either way).
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fake_pop3/mailboxes.hpp"
#include "fuzz_check.hpp"
#include "loader_check.hpp"

namespace fake_pop3 = dropcheck::fake_pop3;

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

void check_mailboxes(const std::vector<fake_pop3::Mailbox>& boxes, std::string_view) {
  FUZZ_CHECK(!boxes.empty());
  std::set<std::string> users;
  std::map<std::string, std::string> owner;  // lower-cased address -> user
  std::size_t catch_alls = 0;
  for (const auto& b : boxes) {
    FUZZ_CHECK(!b.user.empty() && users.insert(b.user).second);
    FUZZ_CHECK(!b.password.empty());
    if (b.catch_all) ++catch_alls;
    FUZZ_CHECK(b.catch_all || !b.addresses.empty());
    for (const auto& a : b.addresses) {
      FUZZ_CHECK(!a.empty());
      FUZZ_CHECK(owner.emplace(lower(a), b.user).first->second == b.user);
    }
  }
  FUZZ_CHECK(catch_alls <= 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return dropcheck::fuzz::fuzz_loader(data, size, "bad-mailboxes", fake_pop3::parse_mailboxes,
                                      check_mailboxes);
}

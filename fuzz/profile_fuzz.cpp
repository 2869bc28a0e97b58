// libFuzzer target: the fake provider's profile loader (fake_pop3::parse_profile) on
// arbitrary text: the loader contract (loader_check.hpp) and the cross-field rules the
// loader enforces (fake-pop3/profiles/README.md), checked on every profile it accepts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fake_pop3/profile.hpp"
#include "fuzz_check.hpp"
#include "loader_check.hpp"

namespace fake_pop3 = dropcheck::fake_pop3;

namespace {

void check_profile(const fake_pop3::Profile& p, std::string_view) {
  FUZZ_CHECK(
      !(p.delivered_to != fake_pop3::DeliveredTo::none && p.envelope_header == "Delivered-To"));
  FUZZ_CHECK(p.faults.drop_in_retr_after == 0 || p.faults.drop_in_retr != 0);
  FUZZ_CHECK(p.login_delay_s >= 0);
  FUZZ_CHECK(p.faults.auth_failures >= -1);
  // The enum names the loader reads are the names it writes.
  FUZZ_CHECK(!fake_pop3::to_string(p.envelope_style).empty());
  FUZZ_CHECK(!fake_pop3::to_string(p.delivered_to).empty());
  FUZZ_CHECK(!fake_pop3::to_string(p.faults.represent_deleted).empty());
  FUZZ_CHECK(!fake_pop3::to_string(p.locking).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return dropcheck::fuzz::fuzz_loader(data, size, "bad-profile", fake_pop3::parse_profile,
                                      check_profile);
}

// libFuzzer target: the scenario loader (runner::parse_scenario) on arbitrary text: the loader
// contract (loader_check.hpp) and the schema rules of scenarios/README.md on every scenario it
// accepts (a local domain, messages with unique ids and recipients, CRLF-only message bytes,
// a sane timeline), plus the derived scenarios the matrix builds from it.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "loader_check.hpp"
#include "runner/scenario.hpp"

namespace runner = dropcheck::runner;

namespace {

bool crlf_only(std::string_view raw) {
  for (std::size_t i = 0; i < raw.size(); ++i)
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) return false;
  return true;
}

void check_scenario(const runner::Scenario& s, std::string_view source) {
  FUZZ_CHECK(s.source == source);
  FUZZ_CHECK(!s.world.local_domains.empty());
  FUZZ_CHECK(!s.messages.empty());
  std::set<std::string> ids;
  for (const auto& m : s.messages) {
    FUZZ_CHECK(ids.insert(m.id).second);
    FUZZ_CHECK(!m.envelope_to.empty());
    FUZZ_CHECK(crlf_only(m.raw));
  }
  FUZZ_CHECK(s.timeline.cycles >= 1);
  FUZZ_CHECK(s.messages.size() <= runner::kMaxScenarioMessages);
  FUZZ_CHECK(s.fetcher.smtp_timeout_ms >= 100 && s.fetcher.smtp_timeout_ms <= 600'000);
  for (const auto& [name, expect] : s.defects) {
    const runner::Scenario d = runner::with_defect(s, name);
    FUZZ_CHECK(d.fetcher.defect == name);
    FUZZ_CHECK(d.expect.any_of.size() == expect.any_of.size());
    FUZZ_CHECK(!d.expect.any_of.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return dropcheck::fuzz::fuzz_loader(data, size, "bad-scenario", runner::parse_scenario,
                                      check_scenario);
}

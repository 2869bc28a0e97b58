#pragma once
// Replay that judges a provider — the pre-purchase question (`dropcheck run --provider P`).
// The whole library is played with the provider's profile (built-in, or the one `dropcheck
// probe --profile-out` wrote) in place of each scenario's own, every fetcher configured as the
// probe recommends for that provider (probe/advice.hpp). A scenario's own provider faults stay
// (they are its scheduled events); its expectations, written for its own provider, do not
// apply. Instead each finding is attributed:
//   provider   — a limit of this provider that no fetcher can overcome (the core, configured as
//                recommended, shows it too, and the provider's properties explain it: "no
//                envelope header" explains lost blind-copy recipients), or a fault of the
//                provider's own profile;
//   fetcher    — a finding the core does not show there, of a kind the library documents for
//                that fetcher (`fetchers:` / `defects:`);
//   scenario   — what the scenario's own scheduled events (a slow receiver, a drift) cause the
//                core, as its own `expect` says: not a cost of the provider;
//   unexplained — anything else, and every cell that errs or leaves a scheduled event unfired.
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "fake_pop3/profile.hpp"
#include "probe/advice.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {

struct ReplayOptions {
  std::vector<std::string> providers;            // profile names or YAML paths
  std::vector<std::string> fetchers = {"core"};  // the core is always played (the baseline)
  std::string command;                           // for the "command" fetcher
  unsigned jobs = 1;
};

// A property of a provider that explains findings no fetcher can avoid.
struct ProviderLimitRule {
  std::string name;                // "no-envelope-header", "fault:represent_deleted", ...
  std::string text;                // one sentence for reports
  std::set<std::string> explains;  // finding types
};

struct ReplayProvider {
  std::string name;            // as given
  fake_pop3::Profile profile;  // loaded once, for every cell
  probe::Advice advice;        // how every fetcher is configured for it
  std::vector<ProviderLimitRule> limits;
  std::vector<std::string> own_faults;  // fault keys of the provider's profile
  // Whether an unfired event is one of the provider's own faults (a property of the provider,
  // not an event a scenario scheduled).
  bool owns(const ScheduledEvent& e) const;
};

enum class Attribution { provider, fetcher, scenario, unexplained };
std::string_view attribution_name(Attribution a);

struct AttributedFinding {
  analyzer::Finding finding;
  Attribution by = Attribution::unexplained;
  std::string reason;  // the limit's name, "documented for KIND", or why unexplained
};

struct ReplayCell {
  std::string scenario;
  std::string provider;
  std::string fetcher;
  ScenarioResult result;
  std::vector<AttributedFinding> findings;
  std::string problem;  // non-empty: the cell is unexplained as a whole (error, not exercised)
  // The problem is the fetcher's: it left a scheduled event unmet that the core, configured
  // alike for this provider, met (it failed before getting there). Explained, as a defect.
  bool problem_by_fetcher = false;
  bool explained() const;
};

struct ReplayResult {
  std::vector<ReplayProvider> providers;
  std::vector<std::string> fetchers;  // core first
  std::vector<std::string> scenarios;
  std::vector<ReplayCell> cells;  // provider-major, then scenario, then fetcher
  double wall_ms = 0;
  std::size_t unexplained() const;
};

// Loads a provider and derives its limits. Error "bad-provider" when the profile does not load.
base::Result<ReplayProvider> replay_provider(const std::string& name_or_path);

// The scenario of one replay cell: provider profile in place (faults of the scenario's own
// profile kept), fetcher configured as advised for the provider, expectations cleared.
base::Result<Scenario> replay_scenario(const Scenario& scenario, const ReplayProvider& provider,
                                       const std::string& fetcher, const std::string& command);

ReplayResult run_replay(const std::vector<Scenario>& library, const ReplayOptions& options,
                        const std::function<void(const ReplayCell&)>& progress = {});

// Per provider and fetcher: what the provider costs you with that fetcher, worst first
// ("recipients lost in 4 scenarios: the provider stamps no envelope header ...").
std::vector<std::string> replay_verdict(const ReplayResult& r, const std::string& provider,
                                        const std::string& fetcher);
std::string replay_text(const ReplayResult& r);
nlohmann::json replay_json(const ReplayResult& r);
// One self-contained page: providers side by side, each cell's attributed findings.
std::string replay_html(const ReplayResult& r);

}  // namespace dropcheck::runner

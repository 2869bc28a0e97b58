#include "runner/external.hpp"

namespace dropcheck::runner {

const std::vector<std::string>& external_fetcher_kinds() {
  static const std::vector<std::string> kKinds = {};
  return kKinds;
}

net::awaitable<fetcher::CycleResult> run_external_cycle(const ExternalContext& ctx) {
  fetcher::CycleResult r;
  r.outcome = fetcher::Outcome::pop3_error;
  r.detail = "external fetcher '" + ctx.scenario->fetcher.kind + "' is not available";
  co_return r;
}

}  // namespace dropcheck::runner

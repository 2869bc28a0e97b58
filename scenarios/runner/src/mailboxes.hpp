#pragma once
// The runner's side of several provider mailboxes: the fake provider's boxes and passwords,
// the accounts the fetcher under test polls (its passwords as its configuration knows them,
// cycle by cycle), password changes during the run and which refused logins the fetcher
// reported. Internal to the runner.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "base/clock.hpp"
#include "fake_pop3/provider.hpp"
#include "fetcher/accounts.hpp"
#include "runner/external.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {

// The catch-all's user when a scenario lists no mailboxes.
inline constexpr std::string_view kDefaultUser = "catchall";

// The password of `user` at the provider, before or after a password change.
std::string mailbox_password(std::string_view user, bool changed);
// The password the fetcher's configuration has for `user` in `cycle` (the old one until the
// scenario's fixed_before_cycle).
std::string configured_password(const Scenario& s, std::string_view user, int cycle);

std::unique_ptr<fake_pop3::Provider> make_provider(const Scenario& s, fake_pop3::Profile profile,
                                                   const base::Clock& clock);

// The core's accounts for `cycle`: from `base` (delivery, routing, state), one per scenario
// account (or the one catch-all), named by mailbox.
fetcher::Accounts core_accounts(const Scenario& s, const fetcher::Config& base, int cycle);
// The same for an external fetcher (empty: one multidrop account, ExternalContext::user).
std::vector<ExternalAccount> scenario_external_accounts(const Scenario& s, int cycle);

// One cycle's results over all accounts as one CycleResult: the worst outcome (a refused
// login first), counts summed, message logs appended, details named by account.
fetcher::CycleResult combine(const std::vector<fetcher::AccountResult>& results);

// Password changes at the provider and the refused logins the fetcher reported.
class CredentialEvents {
 public:
  explicit CredentialEvents(const Scenario& s) : s_(s) {}
  // Before cycle `cycle`: the provider's passwords change as scheduled.
  void before_cycle(int cycle, fake_pop3::Provider& provider);
  // After an invocation whose POP3 sessions were log entries [first, end): the users whose
  // refused login it reported (core: auth-failed accounts; external: a non-zero exit).
  void reported(std::size_t first, std::size_t end, std::set<std::string> users);
  // Fills Pop3SessionFact::user and ::reported.
  void annotate(const std::vector<fake_pop3::SessionLogEntry>& log,
                std::vector<analyzer::Pop3SessionFact>& facts) const;
  // "password-change:BOX": fired when a login to BOX was refused after the change.
  std::vector<ScheduledEvent> events(const std::vector<fake_pop3::SessionLogEntry>& log) const;

 private:
  struct Span {
    std::size_t first = 0, end = 0;
    std::set<std::string> users;
  };
  const Scenario& s_;
  std::map<std::string, std::size_t> changed_at_;  // mailbox -> first session log index after
  std::vector<Span> spans_;
};

// The users an external invocation reported: every account's user when it exited non-zero
// (cron mails that to the admin), none when it exited 0.
std::set<std::string> external_reported(const Scenario& s, const fetcher::CycleResult& r);
// The users of the core's accounts whose cycle ended auth_failed.
std::set<std::string> core_reported(const fetcher::Accounts& a,
                                    const std::vector<fetcher::AccountResult>& r);

}  // namespace dropcheck::runner

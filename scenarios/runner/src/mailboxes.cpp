#include "mailboxes.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dropcheck::runner {

std::string mailbox_password(std::string_view user, bool changed) {
  return fmt::format("s3cret-{}{}", user, changed ? "-changed" : "");
}

std::string configured_password(const Scenario& s, std::string_view user, int cycle) {
  for (const auto& c : s.timeline.password_changes)
    if (c.mailbox == user && c.fixed_cycle > 0 && cycle >= c.fixed_cycle)
      return mailbox_password(user, true);
  return mailbox_password(user, false);
}

std::unique_ptr<fake_pop3::Provider> make_provider(const Scenario& s, fake_pop3::Profile profile,
                                                   const base::Clock& clock) {
  if (s.mailboxes.empty())
    return std::make_unique<fake_pop3::Provider>(std::move(profile), std::string(kDefaultUser),
                                                 mailbox_password(kDefaultUser, false), clock);
  std::vector<fake_pop3::Mailbox> boxes;
  for (const auto& b : s.mailboxes)
    boxes.push_back({b.user, mailbox_password(b.user, false), b.addresses, b.catch_all});
  return std::make_unique<fake_pop3::Provider>(std::move(profile), std::move(boxes), clock);
}

fetcher::Accounts core_accounts(const Scenario& s, const fetcher::Config& base, int cycle) {
  fetcher::Accounts out;
  out.parallel = s.fetcher.parallel;
  if (s.fetcher.accounts.empty()) {
    fetcher::Config c = base;
    c.pop3.user = std::string(kDefaultUser);
    c.pop3.password = configured_password(s, kDefaultUser, cycle);
    out.accounts.push_back(std::move(c));
    return out;
  }
  for (const auto& a : s.fetcher.accounts) {
    fetcher::Config c = base;
    c.received_by = base.name;  // one installation: its loop guard spans the accounts
    c.name = a.mailbox;
    c.pop3.user = a.mailbox;
    c.pop3.password = configured_password(s, a.mailbox, cycle);
    if (!a.deliver_to.empty()) {
      c.routing.mode = fetcher::Mode::single;
      c.routing.deliver_to = base::to_lower(a.deliver_to);
    }
    out.accounts.push_back(std::move(c));
  }
  return out;
}

std::vector<ExternalAccount> scenario_external_accounts(const Scenario& s, int cycle) {
  std::vector<ExternalAccount> out;
  for (const auto& a : s.fetcher.accounts) {
    ExternalAccount e;
    e.name = a.mailbox;
    e.user = a.mailbox;
    e.password = configured_password(s, a.mailbox, cycle);
    e.deliver_to = a.deliver_to;
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

// Lower is worse: the outcome a combined cycle reports.
int rank(fetcher::Outcome o) {
  using fetcher::Outcome;
  switch (o) {
    case Outcome::auth_failed:
      return 0;
    case Outcome::state_error:
      return 1;
    case Outcome::smtp_error:
      return 2;
    case Outcome::pop3_error:
      return 3;
    case Outcome::held:
      return 4;
    case Outcome::in_use:
      return 5;
    case Outcome::login_delay:
      return 6;
    case Outcome::locked:
      return 7;
    case Outcome::ok:
      return 8;
  }
  return 8;
}

}  // namespace

fetcher::CycleResult combine(const std::vector<fetcher::AccountResult>& results) {
  if (results.size() == 1) return results.front().result;
  fetcher::CycleResult out;
  for (const auto& r : results) {
    const auto& c = r.result;
    if (rank(c.outcome) < rank(out.outcome)) out.outcome = c.outcome;
    if (!c.detail.empty())
      out.detail += fmt::format("{}{}: {}", out.detail.empty() ? "" : "; ", r.account, c.detail);
    out.messages.insert(out.messages.end(), c.messages.begin(), c.messages.end());
    out.retrieved += c.retrieved;
    out.deleted += c.deleted;
    out.held += c.held;
    out.tls = out.tls || c.tls;
  }
  return out;
}

void CredentialEvents::before_cycle(int cycle, fake_pop3::Provider& provider) {
  for (const auto& c : s_.timeline.password_changes) {
    if (c.cycle != cycle) continue;
    provider.set_password(c.mailbox, mailbox_password(c.mailbox, true));
    changed_at_.emplace(c.mailbox, provider.session_log().size());
  }
}

void CredentialEvents::reported(std::size_t first, std::size_t end, std::set<std::string> users) {
  spans_.push_back({first, end, std::move(users)});
}

void CredentialEvents::annotate(const std::vector<fake_pop3::SessionLogEntry>& log,
                                std::vector<analyzer::Pop3SessionFact>& facts) const {
  for (std::size_t i = 0; i < facts.size() && i < log.size(); ++i) {
    facts[i].user = log[i].user;
    facts[i].reported = std::any_of(spans_.begin(), spans_.end(), [&](const Span& sp) {
      return i >= sp.first && i < sp.end && sp.users.count(log[i].user);
    });
  }
}

std::vector<ScheduledEvent> CredentialEvents::events(
    const std::vector<fake_pop3::SessionLogEntry>& log) const {
  std::vector<ScheduledEvent> out;
  for (const auto& c : s_.timeline.password_changes) {
    ScheduledEvent e{"password-change:" + c.mailbox, false,
                     fmt::format("no login to {} after its password changed before cycle {}",
                                 c.mailbox, c.cycle)};
    const auto at = changed_at_.find(c.mailbox);
    for (std::size_t i = at == changed_at_.end() ? log.size() : at->second; i < log.size(); ++i)
      if (!e.fired && log[i].user == c.mailbox && log[i].auth_result == "bad-credentials")
        e = {e.name, true,
             fmt::format("POP3 session #{} refused with the old password", log[i].id)};
    out.push_back(std::move(e));
  }
  return out;
}

std::set<std::string> external_reported(const Scenario& s, const fetcher::CycleResult& r) {
  // run_external_cycle's detail says "KIND exit=N (...": only a clean exit is silent.
  if (r.outcome == fetcher::Outcome::ok && r.detail.find(" exit=0 (") != std::string::npos)
    return {};
  std::set<std::string> users;
  if (s.fetcher.accounts.empty()) users.insert(std::string(kDefaultUser));
  for (const auto& a : s.fetcher.accounts) users.insert(a.mailbox);
  return users;
}

std::set<std::string> core_reported(const fetcher::Accounts& a,
                                    const std::vector<fetcher::AccountResult>& r) {
  std::set<std::string> users;
  for (std::size_t i = 0; i < r.size() && i < a.accounts.size(); ++i)
    if (r[i].result.outcome == fetcher::Outcome::auth_failed) users.insert(a.accounts[i].pop3.user);
  return users;
}

}  // namespace dropcheck::runner

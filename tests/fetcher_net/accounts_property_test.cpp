// The deletion invariant across several accounts (RapidCheck): a catch-all fetched multidrop
// beside per-user mailboxes fetched single-drop, polled one after the other or in parallel,
// one or more of them refusing the login (a password changed at the provider), random provider
// outages and random receiver replies, over several cycles:
//   - every message a provider no longer holds was accepted for at least one local mailbox;
//   - a single-drop account's messages reach its deliver_to and nobody else;
//   - an account whose login is refused loses nothing (nothing deleted) and stops no other:
//     an account without faults has every message delivered and deleted;
//   - a refused login is the run's exit status (kExitAuthFailed) and an alert naming the
//     account, never the password;
//   - no RCPT outside the local domain was ever accepted.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "base/clock.hpp"
#include "fetcher/accounts.hpp"
#include "scripted_servers.hpp"

namespace dropcheck::fetcher {
namespace {

using testing::Pop3Script;
using testing::ScriptedPop3;
using testing::ScriptedSmtp;

const std::vector<std::string> kUsers = {"a@firma.example", "b@firma.example",
                                         "postmaster@firma.example"};

struct AccountSpec {
  bool single = false;
  std::string deliver_to;  // single-drop
  bool refuse = false;
  bool outage = false;
  std::size_t messages = 1;
};

std::string mail(std::size_t account, std::size_t i, bool single) {
  const std::string id = std::to_string(account) + "-" + std::to_string(i);
  // A per-user box's copy names others in To/Cc and its envelope header: single-drop must
  // ignore them all.
  return "Return-Path: <s@sender.example>\r\n"
         "Received: from mx by provider.example id q" +
         id + "\r\n" +
         (single ? "X-Envelope-To: b@firma.example\r\n" : "X-Envelope-To: a@firma.example\r\n") +
         "From: s@sender.example\r\nTo: a@firma.example, x@partner.example\r\n"
         "Message-ID: <m" +
         id + "@sender.example>\r\n\r\nmarker-" + id + "\r\n";
}

AccountSpec gen_account() {
  AccountSpec a;
  a.single = *rc::gen::arbitrary<bool>();
  if (a.single) a.deliver_to = *rc::gen::elementOf(kUsers);
  a.refuse = *rc::gen::weightedElement<bool>({{3, false}, {1, true}});
  a.outage = *rc::gen::weightedElement<bool>({{3, false}, {1, true}});
  a.messages = *rc::gen::inRange<std::size_t>(1, 4);
  return a;
}

Config account_config(const AccountSpec& a, std::size_t i, std::uint16_t pop_port,
                      std::uint16_t smtp_port, const std::string& dir) {
  Config c = default_config();
  c.name = "acct" + std::to_string(i);
  c.received_by = "site";
  c.pop3.port = pop_port;
  c.pop3.user = "user" + std::to_string(i);
  c.pop3.password = "secret-" + std::to_string(i) + "-pw";
  c.pop3.auth = "user";
  c.pop3.timeout = std::chrono::seconds(5);
  c.smtp.port = smtp_port;
  c.smtp.timeout = std::chrono::seconds(5);
  c.routing.local_domains = {"firma.example"};
  c.routing.users = kUsers;
  c.routing.fallback = "postmaster@firma.example";
  if (a.single) {
    c.routing.mode = Mode::single;
    c.routing.deliver_to = a.deliver_to;
  }
  c.state_dir = dir;
  return c;
}

RC_GTEST_PROP(AccountsInvariant, HoldsAcrossAccountsWithARefusedLogin, ()) {
  std::vector<AccountSpec> specs(*rc::gen::inRange<std::size_t>(2, 5));
  for (auto& s : specs) s = gen_account();
  const bool faulty_receiver = *rc::gen::weightedElement<bool>({{3, false}, {1, true}});
  std::map<std::string, int> codes;
  for (const auto& u : kUsers)
    codes[u] =
        faulty_receiver ? *rc::gen::weightedElement<int>({{4, 250}, {1, 450}, {1, 550}}) : 250;
  ScriptedSmtp smtp([&](const std::string& r, std::size_t) {
    const auto it = codes.find(r);
    return it == codes.end() ? 250 : it->second;  // accepting anything else exposes a relay
  });
  const auto dir =
      std::filesystem::temp_directory_path() / ("dropcheck-accounts-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::vector<std::unique_ptr<ScriptedPop3>> pops;
  Accounts accounts;
  accounts.parallel = *rc::gen::inRange<std::size_t>(1, 4);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    Pop3Script script;
    for (std::size_t k = 0; k < specs[i].messages; ++k)
      script.messages.push_back({mail(i, k, specs[i].single), fmt::format("u{}-{}", i, k)});
    script.refuse_login = specs[i].refuse;
    if (specs[i].outage) {
      script.drop_after_command = *rc::gen::inRange<std::size_t>(1, 12);
      script.drop_sessions = 1;
    }
    pops.push_back(std::make_unique<ScriptedPop3>(script));
    accounts.accounts.push_back(
        account_config(specs[i], i, pops.back()->port(), smtp.port(), dir.string()));
  }
  std::vector<std::string> log;
  base::VirtualClock clock(std::chrono::milliseconds(1'700'000'000'000));
  std::vector<AccountResult> last;
  for (int cycle = 0; cycle < 3; ++cycle) {
    last = run_accounts_blocking(accounts, clock, [&](const std::string& l) { log.push_back(l); });
    clock.advance(std::chrono::hours(7));  // past the longest hold back-off
  }
  std::filesystem::remove_all(dir);

  std::map<std::string, std::set<std::string>> reached;  // "i-k" -> mailboxes
  for (const auto& t : smtp.transactions())
    for (const auto& r : t.accepted) {
      RC_ASSERT(r.ends_with("@firma.example"));
      const auto at = t.data.find("marker-");
      RC_ASSERT(at != std::string::npos);
      const std::string id = t.data.substr(at + 7, t.data.find('\r', at) - at - 7);
      RC_ASSERT(reached[id].insert(r).second);  // never twice to one mailbox
    }
  bool refused = false;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto deleted = pops[i]->deleted();
    for (std::size_t k = 0; k < specs[i].messages; ++k) {
      const std::string id = fmt::format("{}-{}", i, k);
      if (deleted[k]) RC_ASSERT(!reached[id].empty());
      // Single-drop: its mailbox, or the fallback when the server refused that mailbox (5xx).
      if (specs[i].single)
        for (const auto& box : reached[id])
          RC_ASSERT(box == specs[i].deliver_to ||
                    (box == "postmaster@firma.example" && codes[specs[i].deliver_to] >= 500));
      if (specs[i].refuse) RC_ASSERT(!deleted[k] && reached[id].empty());
      if (!specs[i].refuse && !faulty_receiver) RC_ASSERT(deleted[k] && !reached[id].empty());
    }
    RC_ASSERT(last[i].account == accounts.accounts[i].name);
    if (specs[i].refuse) {
      refused = true;
      RC_ASSERT(last[i].result.outcome == Outcome::auth_failed);
    }
  }
  RC_ASSERT((exit_status(last) == kExitAuthFailed) == refused);
  for (const auto& line : log) RC_ASSERT(line.find("-pw") == std::string::npos);
  if (refused)
    RC_ASSERT(std::any_of(log.begin(), log.end(), [](const std::string& l) {
      return l.find("event=auth-failed alert=yes") != std::string::npos;
    }));
}

}  // namespace
}  // namespace dropcheck::fetcher

// The deletion invariant as a property (RapidCheck), over random catch-all mailboxes (duplicate
// UIDLs included), random receivers (per-address 2xx/4xx/452/5xx, end-of-DATA refusals), random
// provider outages at any command and random crash points of the fetcher, after any number of
// cycles:
//   - every message the provider no longer holds was accepted for at least one local mailbox;
//   - no mailbox got the same message twice (a crash here is never between the end of DATA and
//     its reply, so the RFC 1047 window does not arise);
//   - no RCPT outside the local domain was ever accepted.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "base/clock.hpp"
#include "fetcher/fetcher.hpp"
#include "scripted_servers.hpp"

namespace dropcheck::fetcher {
namespace {

using testing::Pop3Script;
using testing::ScriptedPop3;
using testing::ScriptedSmtp;

const std::vector<std::string> kLocals = {"a@firma.example", "b@firma.example", "c@firma.example",
                                          "postmaster@firma.example"};

struct Crash : std::runtime_error {
  Crash() : std::runtime_error("injected crash") {}
};

struct MailSpec {
  std::vector<std::string> envelope;  // empty: no envelope header at all
  bool shares_uidl = false;
};

std::string build(const MailSpec& m, std::size_t i) {
  std::string env;
  for (const auto& r : m.envelope) env += (env.empty() ? "" : ", ") + r;
  return "Return-Path: <s@sender.example>\r\n"
         "Received: from mx by provider.example id q" +
         std::to_string(i) + "\r\n" + (m.envelope.empty() ? "" : "X-Envelope-To: " + env + "\r\n") +
         "From: s@sender.example\r\nTo: list@firma.example\r\n"
         "Message-ID: <m" +
         std::to_string(i) + "@sender.example>\r\n\r\nmarker-" + std::to_string(i) + "\r\n";
}

MailSpec gen_mail() {
  static const std::vector<std::string> pool = {"a@firma.example", "b@firma.example",
                                                "c@firma.example", "x@partner.example",
                                                "unknown@firma.example"};
  MailSpec m;
  const auto n = *rc::gen::inRange<std::size_t>(0, 4);
  for (std::size_t i = 0; i < n; ++i) m.envelope.push_back(*rc::gen::elementOf(pool));
  m.shares_uidl = *rc::gen::weightedElement<bool>({{4, false}, {1, true}});
  return m;
}

RC_GTEST_PROP(DeletionInvariant, HoldsOverCyclesFaultsAndCrashes, ()) {
  std::vector<MailSpec> mails(*rc::gen::inRange<std::size_t>(1, 6));
  for (auto& m : mails) m = gen_mail();
  std::map<std::string, int> codes;
  for (const auto& a : kLocals)
    codes[a] = *rc::gen::weightedElement<int>({{6, 250}, {1, 450}, {1, 452}, {2, 550}});
  const int data_reply = *rc::gen::weightedElement<int>({{6, 250}, {1, 451}, {1, 552}});
  Pop3Script script;
  for (std::size_t i = 0; i < mails.size(); ++i) {
    const bool shared = mails[i].shares_uidl && i > 0;
    script.messages.push_back(
        {build(mails[i], i), shared ? script.messages[i - 1].uidl : "uid" + std::to_string(i)});
  }
  script.drop_after_command = *rc::gen::inRange<std::size_t>(0, 16);
  script.drop_sessions = *rc::gen::inRange<std::size_t>(0, 3);
  const int cycles = *rc::gen::inRange(1, 5);
  const int crash_cycle = *rc::gen::inRange(-1, cycles);  // -1: no crash
  const std::size_t crash_at = *rc::gen::inRange<std::size_t>(1, mails.size() + 1);

  ScriptedPop3 pop(script);
  ScriptedSmtp smtp(
      [&](const std::string& r, std::size_t) {
        auto it = codes.find(r);
        return it == codes.end() ? 250 : it->second;  // accepting anything else exposes a relay
      },
      data_reply);
  const auto dir =
      std::filesystem::temp_directory_path() / ("dropcheck-deletion-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Config c = default_config();
  c.pop3.port = pop.port();
  c.pop3.user = "catchall";
  c.pop3.password = "pw";
  c.pop3.auth = "user";
  c.pop3.timeout = std::chrono::seconds(5);
  c.smtp.port = smtp.port();
  c.smtp.timeout = std::chrono::seconds(5);
  c.routing.local_domains = {"firma.example"};
  c.routing.users = {"a@firma.example", "b@firma.example", "c@firma.example",
                     "postmaster@firma.example"};
  c.routing.fallback = "postmaster@firma.example";
  c.state_dir = dir.string();
  base::VirtualClock clock(std::chrono::milliseconds(1'700'000'000'000));
  for (int cycle = 0; cycle < cycles; ++cycle) {
    Hooks hooks;
    if (cycle == crash_cycle)
      hooks.on_retrieved = [&](std::size_t n) {
        if (n == crash_at) throw Crash();
      };
    Fetcher f(c, clock, nullptr, hooks);
    try {
      (void)f.run_cycle_blocking();
    } catch (const Crash&) {
    }
    clock.advance(std::chrono::hours(7));  // past the longest hold back-off
  }
  std::filesystem::remove_all(dir);

  std::map<std::pair<std::size_t, std::string>, int> copies;  // (message, mailbox) -> count
  std::set<std::size_t> placed;
  for (const auto& t : smtp.transactions())
    for (const auto& r : t.accepted) {
      RC_ASSERT(r.ends_with("@firma.example"));
      const auto at = t.data.find("marker-");
      RC_ASSERT(at != std::string::npos);
      const std::size_t i = std::stoul(t.data.substr(at + 7));
      placed.insert(i);
      ++copies[{i, r}];
    }
  for (const auto& [key, n] : copies) RC_ASSERT(n == 1);
  const auto deleted = pop.deleted();
  for (std::size_t i = 0; i < deleted.size(); ++i)
    if (deleted[i]) RC_ASSERT(placed.count(i) == 1u);
}

}  // namespace
}  // namespace dropcheck::fetcher

#pragma once
// External fetchers under test (fetchmail, getmail6, any command): one cycle = one child
// process run against the scenario's fake provider and receiving server, bounded in time.
// The scenario's fetcher intent (envelope header, occurrence, qmail prefix, local domains,
// keep) is turned into the fetcher's own configuration.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "fetcher/fetcher.hpp"
#include "net/asio.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {

struct ExternalContext {
  const Scenario* scenario = nullptr;
  std::string workdir;            // per scenario run; the adapter may create files below it
  std::string pop3_host = "127.0.0.1";
  std::uint16_t pop3_port = 0;
  std::string user;
  std::string password;
  std::string smtp_host = "127.0.0.1";
  std::uint16_t smtp_port = 0;
  bool lmtp = false;
  int cycle = 1;                  // 1-based invocation number
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

// Kinds the runner accepts besides "core".
const std::vector<std::string>& external_fetcher_kinds();

// Runs one cycle; the coroutine waits for the child without blocking the io_context (the fake
// servers keep serving). outcome ok when the child exited (its exit code and output tail are in
// `detail`: exit codes are reported, never trusted: the journal is the judge), pop3_error when
// it could not be started or timed out (then it is killed).
net::awaitable<fetcher::CycleResult> run_external_cycle(const ExternalContext& ctx);

}  // namespace dropcheck::runner

// External fetchers as child processes: the child runner (exit codes, output
// capture, the timeout that kills a hanging fetcher and its children), the
// `command` fetcher played through a whole scenario (the fetcher core itself as
// the command, and commands that deliver nothing), and `dropcheck matrix`
// writing its JSON / JUnit / HTML files. Needs only /bin/sh.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "runner/external.hpp"
#include "runner/matrix.hpp"
#include "runner/runner.hpp"
#include "runner/scenario.hpp"
#include "temp_dir.hpp"

namespace dropcheck::runner {
namespace {

namespace fs = std::filesystem;
namespace asio = net::asio;

// Bounded real-time budget for one io_context in these tests.
constexpr auto kIoBound = std::chrono::seconds(60);

using test_util::TempDir;

ChildResult run_blocking(const ChildSpec &spec) {
  asio::io_context io;
  ChildResult out;
  bool done = false;
  auto task = [&]() -> net::awaitable<void> {
    out = co_await run_child(spec);
    done = true;
  };
  asio::co_spawn(io, task(), asio::detached);
  io.run_for(kIoBound);
  EXPECT_TRUE(done);
  return out;
}

std::string slurp(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whether a process is gone (or a zombie nobody reaped yet, which is as dead as
// it gets).
bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

Scenario builtin(const std::string &name) {
  for (auto &s : builtin_scenarios())
    if (s.name == name) return s;
  ADD_FAILURE() << "no built-in scenario " << name;
  return {};
}

std::vector<std::string> finding_keys(const ScenarioResult &r) {
  std::vector<std::string> out;
  for (const auto &f : r.report.findings) out.push_back(f.type + ":" + f.recipient);
  return out;
}

TEST(RunChild, ExitCodeAndOutputAreCaptured) {
  TempDir dir;
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; pwd; exit 7"};
  spec.cwd = dir.path.string();
  spec.output_path = (dir.path / "out.log").string();
  const auto r = run_blocking(spec);
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 7);
  const std::string out = slurp(dir.path / "out.log");
  EXPECT_NE(out.find("to-stdout"), std::string::npos) << out;
  EXPECT_NE(out.find("to-stderr"), std::string::npos) << out;
  EXPECT_NE(out.find(fs::canonical(dir.path).string()), std::string::npos) << out;
  const std::string tail = output_tail(spec.output_path, 12);
  EXPECT_EQ(tail.rfind("...", 0), 0u) << tail;
  EXPECT_EQ(tail.find('\n'), std::string::npos) << tail;
}

TEST(RunChild, EnvironmentIsReplacedWhenGiven) {
  TempDir dir;
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo \"H=$HOME X=${DC_SECRET:-unset}\""};
  spec.env = {"HOME=/nowhere", "PATH=/usr/bin:/bin"};
  spec.output_path = (dir.path / "out.log").string();
  ::setenv("DC_SECRET", "leak", 1);
  const auto r = run_blocking(spec);
  ::unsetenv("DC_SECRET");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(slurp(dir.path / "out.log").find("H=/nowhere X=unset"), std::string::npos);
}

TEST(RunChild, MissingProgramIsAnError) {
  ChildSpec spec;
  spec.argv = {"/nonexistent/dropcheck-no-such-fetcher"};
  const auto r = run_blocking(spec);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.error.find("cannot start"), std::string::npos) << r.error;
}

TEST(RunChild, TimeoutKillsTheChildAndItsChildren) {
  TempDir dir;
  const fs::path pidfile = dir.path / "grandchild.pid";
  ChildSpec spec;
  // A hanging fetcher that also started a helper in the background.
  spec.argv = {"/bin/sh", "-c", "sleep 100 & echo $! > " + pidfile.string() + "; sleep 100"};
  spec.timeout = std::chrono::milliseconds(300);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_blocking(spec);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_GE(took, std::chrono::milliseconds(300));
  const pid_t grandchild = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
  ASSERT_GT(grandchild, 0);
  // Killed with the group; reaped by init (bounded wait, no fixed sleep).
  bool dead = false;
  for (int i = 0; i < 200 && !(dead = gone(grandchild)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(dead) << "pid " << grandchild;
}

TEST(RunChild, ServersKeepServingWhileAChildRuns) {
  // The wait polls on a timer: other work on the io_context proceeds meanwhile.
  asio::io_context io;
  int ticks = 0;
  bool done = false;
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", "sleep 0.3"};
  auto child = [&]() -> net::awaitable<void> {
    co_await run_child(spec);
    done = true;
  };
  auto ticker = [&]() -> net::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!done) {
      ++ticks;
      t.expires_after(std::chrono::milliseconds(10));
      co_await t.async_wait(asio::use_awaitable);
    }
  };
  asio::co_spawn(io, child(), asio::detached);
  asio::co_spawn(io, ticker(), asio::detached);
  io.run_for(kIoBound);
  EXPECT_TRUE(done);
  EXPECT_GE(ticks, 10);
}

// ---- the command fetcher through whole scenarios
// --------------------------------------------

Scenario as_command(const std::string &name, const std::string &command) {
  return with_fetcher(builtin(name), FetcherKind::command, command);
}

TEST(CommandFetcher, TheCoreAsACommandPassesLikeTheCore) {
  const std::string cmd = std::string(DROPCHECK_BINARY) + " fetch --config {config} --once";
  for (const char *name : {"baseline", "bcc", "qmail-prefix", "aliases-domains"}) {
    const auto r = run_scenario(as_command(name, cmd));
    EXPECT_EQ(r.error, "") << name;
    EXPECT_TRUE(r.passed()) << name << " " << ::testing::PrintToString(finding_keys(r));
    ASSERT_FALSE(r.cycles.empty());
    EXPECT_EQ(r.cycles[0].outcome, fetcher::Outcome::ok) << r.cycles[0].detail;
    EXPECT_NE(r.cycles[0].detail.find("exit=0"), std::string::npos) << r.cycles[0].detail;
  }
}

TEST(CommandFetcher, ExitCodesAreReportedNotTrusted) {
  // Exits 0 without fetching anything: the journal shows the loss.
  auto r = run_scenario(as_command("baseline", "echo pretending {pop3_port}; exit 0"));
  ASSERT_EQ(r.error, "");
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(finding_keys(r), std::vector<std::string>{"lost-recipient:a@firma.example"});
  ASSERT_EQ(r.cycles.size(), 1u);
  EXPECT_EQ(r.cycles[0].outcome, fetcher::Outcome::ok);
  EXPECT_NE(r.cycles[0].detail.find("exit=0"), std::string::npos);
  EXPECT_NE(r.cycles[0].detail.find("pretending"), std::string::npos) << r.cycles[0].detail;
  // Exits 3 after a correct delivery: the scenario passes.
  const std::string cmd = std::string(DROPCHECK_BINARY) + " fetch --config {config} --once; exit 3";
  r = run_scenario(as_command("baseline", cmd));
  EXPECT_TRUE(r.passed()) << ::testing::PrintToString(finding_keys(r));
  EXPECT_NE(r.cycles[0].detail.find("exit=3"), std::string::npos) << r.cycles[0].detail;
}

TEST(CommandFetcher, HangingCommandIsKilledAtTheTimeout) {
  const Scenario s = as_command("baseline", "sleep 100");
  TempDir dir;
  ExternalContext ctx;
  ctx.scenario = &s;
  ctx.workdir = dir.path.string();
  ctx.pop3_port = 1;  // never contacted
  ctx.smtp_port = 1;
  ctx.timeout = std::chrono::milliseconds(300);
  asio::io_context io;
  fetcher::CycleResult r;
  auto task = [&]() -> net::awaitable<void> { r = co_await run_external_cycle(ctx); };
  asio::co_spawn(io, task(), asio::detached);
  const auto t0 = std::chrono::steady_clock::now();
  io.run_for(kIoBound);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(r.outcome, fetcher::Outcome::pop3_error);
  EXPECT_NE(r.detail.find("timeout"), std::string::npos) << r.detail;
  // The intent file and the password file were written privately.
  const auto perms = fs::status(dir.path / "command" / "password").permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
  EXPECT_TRUE(fs::exists(dir.path / "command" / "intent.yaml"));
}

TEST(CommandFetcher, UnknownPlaceholderIsACycleError) {
  const auto r = run_scenario(as_command("baseline", "fetch --port {pop3port}"));
  ASSERT_EQ(r.cycles.size(), 1u);
  EXPECT_EQ(r.cycles[0].outcome, fetcher::Outcome::pop3_error);
  EXPECT_NE(r.cycles[0].detail.find("unknown placeholder {pop3port}"), std::string::npos)
      << r.cycles[0].detail;
}

TEST(CommandFetcher, OverlapTriggerWorksForExternalFetchers) {
  // The core as a command under overlap-locking: the second invocation starts
  // while the first is retrieving (session log trigger), is refused by the
  // core's cycle lock, and every message arrives once.
  const std::string cmd = std::string(DROPCHECK_BINARY) + " fetch --config {config} --once";
  const auto r = run_scenario(as_command("overlap-locking", cmd));
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.passed()) << ::testing::PrintToString(finding_keys(r));
  ASSERT_EQ(r.cycles.size(), 3u);
  bool saw_lock = false;
  for (const auto &c : r.cycles)
    saw_lock = saw_lock || c.detail.find("exit=3") != std::string::npos;
  EXPECT_TRUE(saw_lock) << "no invocation was refused by the cycle lock";
}

// ---- dropcheck matrix output files
// ----------------------------------------------------------

TEST(MatrixCli, WritesJsonJunitAndHtml) {
  TempDir dir;
  const fs::path j = dir.path / "m.json", x = dir.path / "m.xml", h = dir.path / "m.html";
  const std::string cmd = std::string(DROPCHECK_BINARY) + " matrix " + DROPCHECK_SOURCE_DIR +
                          "/scenarios/bcc.yaml " + DROPCHECK_SOURCE_DIR +
                          "/scenarios/baseline.yaml --fetchers core,no-strip,command --command "
                          "'" +
                          DROPCHECK_BINARY + " fetch --config {config} --once'" + " --json " +
                          j.string() + " --junit " + x.string() + " --html " + h.string() + " > " +
                          (dir.path / "out.txt").string();
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 0) << slurp(dir.path / "out.txt");
  const auto json = nlohmann::json::parse(slurp(j));
  EXPECT_EQ(json["cells_total"], 6);
  EXPECT_EQ(json["passed"], true);
  EXPECT_EQ(json["fetchers"], nlohmann::json({"core", "no-strip", "command"}));
  for (const auto &c : json["cells"]) EXPECT_EQ(c["passed"], true) << c.dump();
  const std::string xml = slurp(x);
  EXPECT_NE(xml.find("tests=\"6\" failures=\"0\" errors=\"0\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testsuite name=\"matrix.command\""), std::string::npos);
  const std::string html = slurp(h);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<details>"), std::string::npos);
  const std::string text = slurp(dir.path / "out.txt");
  EXPECT_NE(text.find("6 cell(s), 0 failed"), std::string::npos) << text;
}

TEST(MatrixCli, ProvidersOverrideAndUsageErrors) {
  TempDir dir;
  const std::string base = std::string(DROPCHECK_BINARY) + " matrix " + DROPCHECK_SOURCE_DIR +
                           "/scenarios/baseline.yaml ";
  const std::string out = " > " + (dir.path / "o.txt").string() + " 2>&1";
  int rc = std::system((base + "--fetchers core --providers x-envelope-to,nonlocking --json " +
                        (dir.path / "p.json").string() + out)
                           .c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 0) << slurp(dir.path / "o.txt");
  const auto json = nlohmann::json::parse(slurp(dir.path / "p.json"));
  ASSERT_EQ(json["cells"].size(), 2u);
  EXPECT_EQ(json["cells"][0]["provider"], "x-envelope-to");
  EXPECT_EQ(json["cells"][1]["provider"], "nonlocking");
  rc = std::system((base + "--fetchers core,sendmail" + out).c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 2);
  EXPECT_NE(slurp(dir.path / "o.txt").find("unknown fetcher 'sendmail'"), std::string::npos);
  rc = std::system((base + "--fetchers command" + out).c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 2);
  rc = std::system((base + "--providers no-such-profile" + out).c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 2);
}

// Several accounts (issue 17 item 6): one private password file per account,
// the intent names each, the placeholders are the first account's; a bad
// account list is a cycle error before anything runs.
fetcher::CycleResult run_cycle_blocking(const ExternalContext &ctx) {
  asio::io_context io;
  fetcher::CycleResult out;
  bool done = false;
  auto task = [&]() -> net::awaitable<void> {
    out = co_await run_external_cycle(ctx);
    done = true;
  };
  asio::co_spawn(io, task(), asio::detached);
  io.run_for(kIoBound);
  EXPECT_TRUE(done);
  return out;
}

TEST(CommandFetcher, SeveralAccountsGetPrivatePasswordFiles) {
  TempDir dir;
  const Scenario s =
      as_command("baseline", "echo {user} {password} {password_file} > {workdir}/seen");
  ExternalContext ctx;
  ctx.scenario = &s;
  ctx.workdir = dir.path.string();
  ctx.pop3_port = 40110;
  ctx.smtp_port = 40025;
  ctx.accounts = {{"catchall", "catchall", "sec-c", "", 0},
                  {"alice", "alice", "sec-a", "alice@firma.example", 0}};
  const auto r = run_cycle_blocking(ctx);
  EXPECT_EQ(r.outcome, fetcher::Outcome::ok) << r.detail;
  const fs::path work = dir.path / "command";
  const auto priv = fs::perms::owner_read | fs::perms::owner_write;
  for (const auto &[file, content] : std::vector<std::pair<fs::path, std::string>>{
           {work / "password", "sec-c\n"}, {work / "password-alice", "sec-a\n"}}) {
    EXPECT_EQ(slurp(file), content) << file;
    EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, priv) << file;
  }
  EXPECT_EQ(fs::status(work / "intent.yaml").permissions() & fs::perms::all, priv);
  const std::string intent = slurp(work / "intent.yaml");
  EXPECT_NE(intent.find((work / "password-alice").string()), std::string::npos) << intent;
  EXPECT_EQ(intent.find("sec-"), std::string::npos) << intent;
  EXPECT_EQ(slurp(dir.path / "seen"), "catchall sec-c " + (work / "password").string() + "\n");

  ctx.accounts.push_back({"alice", "alice2", "x", "", 0});
  const auto bad = run_cycle_blocking(ctx);
  EXPECT_EQ(bad.outcome, fetcher::Outcome::pop3_error);
  EXPECT_NE(bad.detail.find("account 'alice': name used twice"), std::string::npos) << bad.detail;
}

}  // namespace
}  // namespace dropcheck::runner

// Issue 20 item 4: `dropcheck run` plays scenarios in parallel (-j) with the same verdicts and
// output order as one after another; what made single runs slow (a certificate per TLS run,
// scratch directories on a busy disk) is gone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>

#include "../builtin_scenario.hpp"
#include "cli_run.hpp"
#include "runner/runner.hpp"

namespace dropcheck::runner {
namespace {

namespace fs = std::filesystem;

std::string scenario_files() {
  std::string files;
  for (const char* n :
       {"bcc", "no-envelope-header", "drop-mid-retr", "stls", "unknown-user", "smtp-4xx-recovery"})
    files += std::string(" ") + DROPCHECK_SOURCE_DIR + "/scenarios/" + n + ".yaml";
  return files;
}

// A scenario expecting a duplicate the core does not make: a FAIL verdict (expected but
// missing).
std::string failing_scenario(const std::string& dir) {
  const std::string path = dir + "/expects-a-duplicate.yaml";
  std::ofstream(path) << "version: 1\nname: expects-a-duplicate\n"
                         "world: {local_domains: [firma.example], users: [a@firma.example]}\n"
                         "provider: {profile: envelope-to}\nfetcher: {envelope: Envelope-To}\n"
                         "messages:\n- {id: m1, from: s@sender.example, to: [a@firma.example],\n"
                         "   headers: \"From: s@sender.example\\nSubject: x\\n\"}\n"
                         "expect:\n- {type: duplicate, message: m1}\n";
  return path;
}

// What a run decided, per scenario in report order: name, status, differences, findings,
// events; timing left out.
nlohmann::json verdicts(const std::string& json_path) {
  std::ifstream in(json_path);
  const nlohmann::json all = nlohmann::json::parse(in);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : all) {
    nlohmann::json v = {{"scenario", r.at("scenario")},        {"status", r.at("status")},
                        {"missing", r.at("missing")},          {"unexpected", r.at("unexpected")},
                        {"findings", nlohmann::json::array()}, {"events", nlohmann::json::array()}};
    for (const auto& f : r.at("findings"))
      v["findings"].push_back({f.at("type"), f.at("message"), f.at("recipient")});
    for (const auto& e : r.at("events")) v["events"].push_back({e.at("name"), e.at("fired")});
    out.push_back(v);
  }
  return out;
}

std::string without_times(const std::string& text) {
  return std::regex_replace(text, std::regex(" *[0-9]+ms "), " Nms ");
}

TEST(CliRunJobs, ParallelRunGivesTheSameVerdictsInTheSameOrder) {
  const std::string dir = ::testing::TempDir();
  const std::string files = scenario_files() + " " + failing_scenario(dir);
  std::string one, two;
  ASSERT_EQ(run_cli("run -j1 --json " + dir + "/j1.json" + files, one), 1) << one;
  ASSERT_EQ(run_cli("run -j2 --json " + dir + "/j2.json" + files, two), 1) << two;
  const nlohmann::json v1 = verdicts(dir + "/j1.json");
  ASSERT_EQ(v1.size(), 7u);
  EXPECT_EQ(v1, verdicts(dir + "/j2.json"));
  EXPECT_EQ(v1.back().at("status"), "fail");
  EXPECT_EQ(without_times(one), without_times(two));
  EXPECT_NE(two.find("FAIL"), std::string::npos) << two;
}

TEST(CliRunJobs, ZeroJobsIsRefusedWithAMessage) {
  std::string out;
  EXPECT_EQ(run_cli("run -j0", out), 2) << out;
  EXPECT_NE(out.find("--jobs: 0 plays nothing"), std::string::npos) << out;
  EXPECT_EQ(run_cli("run --jobs 65", out), 2) << out;
}

// TLS runs share one certificate per process: two runs trust the same CA.
TEST(RunSpeed, TlsRunsShareOneCertificate) {
  const fs::path dir = fs::path(::testing::TempDir()) / "tls-runs";
  std::string pem[2];
  for (int i = 0; i < 2; ++i) {
    RunOptions o;
    o.keep_dir = (dir / std::to_string(i)).string();
    const auto r = run_scenario(builtin("stls"), o);
    ASSERT_TRUE(r.passed()) << r.error;
    std::ifstream in(fs::path(o.keep_dir) / "provider-ca.pem");
    pem[i].assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_NE(pem[0].find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(pem[0], pem[1]);
  fs::remove_all(dir);
}

// Scratch directories go to memory (/dev/shm, when it has room) unless TMPDIR names a place.
TEST(RunSpeed, ScratchRootIsTmpdirElseDevShm) {
  const char* old = std::getenv("TMPDIR");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  const fs::path mine = fs::path(::testing::TempDir()) / "scratch-here";
  fs::create_directories(mine);
  ::setenv("TMPDIR", mine.c_str(), 1);
  EXPECT_EQ(scratch_root(), mine);
  ::unsetenv("TMPDIR");
  std::error_code ec;
  const bool roomy = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0 &&
                     fs::space("/dev/shm", ec).available >= kMinScratchInMemory;
  const fs::path expected = roomy ? fs::path("/dev/shm") : fs::temp_directory_path();
  EXPECT_EQ(scratch_root(), expected);
  if (saved) ::setenv("TMPDIR", saved->c_str(), 1);
  fs::remove_all(mine);
}

}  // namespace
}  // namespace dropcheck::runner

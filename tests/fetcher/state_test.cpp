#include "fetcher/state.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace dropcheck::fetcher {
namespace {

std::string temp_dir() {
  std::string t = (std::filesystem::temp_directory_path() / "dropcheck-test-XXXXXX").string();
  EXPECT_NE(::mkdtemp(t.data()), nullptr);
  return t;
}

TEST(State, RoundTripAndMissingFileIsEmpty) {
  const std::string dir = temp_dir();
  auto empty = load_state(dir + "/none.json");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->settled_uidls.empty());
  AccountState s;
  s.settled_uidls = {"u1", "u2"};
  s.progress["u3"] = {"a@x.example"};
  s.delivered_keys = {{"<m@x> abc a@x.example", 1'700'000'000'000}};
  ASSERT_TRUE(save_state(dir + "/s.json", s).ok());
  auto back = load_state(dir + "/s.json");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->settled_uidls, s.settled_uidls);
  EXPECT_EQ(back->progress, s.progress);
  EXPECT_EQ(back->delivered_keys, s.delivered_keys);
  std::filesystem::remove_all(dir);
}

// Delivered keys are remembered for the retention period, then forgotten; keys from a state
// file written before retention existed (an array, no times) start their period at the first
// prune, and so do log records without a time.
TEST(State, DeliveredKeysArePrunedAfterRetention) {
  const std::string dir = temp_dir();
  std::ofstream(dir + "/s.json") << R"({"version":1,"settled":[],"progress":{},)"
                                 << R"("delivered_keys":["<old@x> d1 a@x.example"]})";
  std::ofstream(dir + "/s.json.log") << R"({"t":"d","u":"u9","r":"b@x.example","k":"<l@x> d2"})"
                                     << "\n";
  auto st = load_state(dir + "/s.json");
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(st->delivered_keys.size(), 2u);
  EXPECT_EQ(st->delivered_keys.at("<old@x> d1 a@x.example"), -1);
  st->delivered_keys.emplace("<new@x> d3 a@x.example", 10'000);
  constexpr std::int64_t kDay = 86'400'000;
  prune_delivered_keys(*st, 10'000, 30 * kDay);  // unknown ages start now: all kept
  EXPECT_EQ(st->delivered_keys.size(), 3u);
  EXPECT_EQ(st->delivered_keys.at("<old@x> d1 a@x.example"), 10'000);
  prune_delivered_keys(*st, 10'000 + 30 * kDay, 30 * kDay);  // exactly the period: kept
  EXPECT_EQ(st->delivered_keys.size(), 3u);
  prune_delivered_keys(*st, 10'001 + 30 * kDay, 30 * kDay);
  EXPECT_TRUE(st->delivered_keys.empty());
  std::filesystem::remove_all(dir);
}

TEST(State, CorruptFileIsAnErrorNamingThePath) {
  const std::string dir = temp_dir();
  std::ofstream(dir + "/s.json") << "{not json";
  auto st = load_state(dir + "/s.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(dir + "/s.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(CycleLock, SecondAcquireFailsUntilReleased) {
  const std::string dir = temp_dir();
  {
    auto first = CycleLock::acquire(dir + "/lock", false);
    ASSERT_TRUE(first.ok());
    auto second = CycleLock::acquire(dir + "/lock", false);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, "locked");
  }
  auto third = CycleLock::acquire(dir + "/lock", false);
  EXPECT_TRUE(third.ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dropcheck::fetcher

namespace dropcheck::fetcher {
namespace {

TEST(StateLog, ReplaysOverTheSnapshotAndIgnoresATornLastLine) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/s.json";
  AccountState base_state;
  base_state.settled_uidls = {"u0"};
  ASSERT_TRUE(save_state(path, base_state).ok());
  {
    StateLog log(path);
    ASSERT_TRUE(log.delivered("u1", "a@x.example", "<m1@x> abc", 5000).ok());
    ASSERT_TRUE(log.settled("u1").ok());
    ASSERT_TRUE(log.delivered("u2", "b@x.example", "", 6000).ok());
    ASSERT_TRUE(log.login(1234, 900000).ok());
  }
  std::ofstream(path + ".log", std::ios::app) << R"({"t":"s","u":"u2")";  // torn, no newline
  auto st = load_state(path);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->settled_uidls, (std::set<std::string>{"u0", "u1"}));
  EXPECT_EQ(st->progress.count("u1"), 0u);  // settled clears progress
  EXPECT_EQ(st->progress.at("u2"), std::set<std::string>{"b@x.example"});
  EXPECT_EQ(st->delivered_keys,
            (std::map<std::string, std::int64_t>{{"<m1@x> abc a@x.example", 5000}}));
  EXPECT_EQ(st->last_login_ms, 1234);
  EXPECT_EQ(st->login_delay_ms, 900000);
  // Compaction folds the log into the snapshot and empties it.
  ASSERT_TRUE(save_state(path, *st).ok());
  EXPECT_EQ(std::filesystem::file_size(path + ".log"), 0u);
  auto again = load_state(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->settled_uidls, st->settled_uidls);
  std::filesystem::remove_all(dir);
}

// Group commit: records are in the file (a killed process loses none) before sync(), which
// makes them all durable at once.
TEST(StateLog, RecordsAreWrittenAtOnceAndSyncedTogether) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/s.json";
  StateLog log(path);
  EXPECT_EQ(log.unsynced(), 0u);
  ASSERT_TRUE(log.delivered("u1", "a@x.example", "", 1).ok());
  ASSERT_TRUE(log.settled("u1").ok());
  EXPECT_EQ(log.unsynced(), 2u);
  auto seen = load_state(path);  // another reader (the next cycle after a kill) sees both
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->settled_uidls, std::set<std::string>{"u1"});
  ASSERT_TRUE(log.sync().ok());
  EXPECT_EQ(log.unsynced(), 0u);
  ASSERT_TRUE(log.login(5, 0).ok());
  EXPECT_EQ(log.unsynced(), 1u);
  std::filesystem::remove_all(dir);
}

// Compaction is needed only for a long log or a torn last record (appending after it would
// corrupt it mid-file); a short clean log is replayed as it is.
TEST(StateLog, CompactionOnlyForALongOrTornLog) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/s.json";
  EXPECT_FALSE(state_log_needs_compaction(path, 1000));  // no log
  {
    StateLog log(path);
    ASSERT_TRUE(log.settled("u1").ok());
  }
  EXPECT_FALSE(state_log_needs_compaction(path, 1000));
  EXPECT_TRUE(state_log_needs_compaction(path, 4));              // longer than the bound
  std::ofstream(path + ".log", std::ios::app) << R"({"t":"s")";  // torn
  EXPECT_TRUE(state_log_needs_compaction(path, 1000));
  ASSERT_TRUE(save_state(path, AccountState{}).ok());
  EXPECT_FALSE(state_log_needs_compaction(path, 1000));
  std::filesystem::remove_all(dir);
}

TEST(StateLog, ACorruptRecordBeforeTheEndIsAnError) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/s.json";
  std::ofstream(path + ".log") << "garbage\n"
                               << R"({"t":"s","u":"u1"})"
                               << "\n";
  auto st = load_state(path);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("s.json.log:1"), std::string::npos) << st.error().message;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dropcheck::fetcher

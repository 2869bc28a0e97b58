#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "fetcher/state.hpp"

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
  s.delivered_keys = {"<m@x> abc a@x.example"};
  ASSERT_TRUE(save_state(dir + "/s.json", s).ok());
  auto back = load_state(dir + "/s.json");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->settled_uidls, s.settled_uidls);
  EXPECT_EQ(back->progress, s.progress);
  EXPECT_EQ(back->delivered_keys, s.delivered_keys);
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

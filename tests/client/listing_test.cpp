// client::make_listing: a LIST/UIDL body as the client keeps it.
#include <gtest/gtest.h>

#include "client/pop3.hpp"

namespace dropcheck::client {
namespace {

protocol::Pop3Status status(bool ok) {
  protocol::Pop3Status s;
  s.ok = ok;
  s.valid = true;
  return s;
}

TEST(Listing, KeepsWellFormedLinesAndCountsTheRest) {
  const auto l = make_listing(status(true), "1 120\r\n2 uid\r\nx y\r\n3\r\n0 z\r\n");
  ASSERT_EQ(l.lines.size(), 2u);
  EXPECT_EQ(l.lines[1].value, "uid");
  EXPECT_EQ(l.malformed, 3u);
}

TEST(Listing, ANumberListedTwiceKeepsOnlyTheFirstAndCountsTheOther) {
  const auto l = make_listing(status(true), "1 a\r\n1 b\r\n2 c\r\n");
  ASSERT_EQ(l.lines.size(), 2u);
  EXPECT_EQ(l.lines[0].value, "a");
  EXPECT_EQ(l.malformed, 1u);
}

TEST(Listing, AnErrHasNoListing) {
  const auto l = make_listing(status(false), "1 a\r\n");
  EXPECT_TRUE(l.lines.empty());
  EXPECT_EQ(l.malformed, 0u);
  EXPECT_FALSE(l.status.ok);
}

}  // namespace
}  // namespace dropcheck::client

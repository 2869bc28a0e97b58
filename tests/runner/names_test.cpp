// base/names.hpp: one {value, name} table gives both directions and the list for messages.
#include "base/names.hpp"

#include <gtest/gtest.h>

namespace dropcheck::base {
namespace {

enum class Colour { red, green, blue };
constexpr std::pair<Colour, std::string_view> kColours[] = {
    {Colour::red, "red"}, {Colour::green, "green"}, {Colour::blue, "blue"}};

TEST(NameTable, BothDirectionsAndTheList) {
  EXPECT_EQ(name_of<Colour>(kColours, Colour::green), "green");
  EXPECT_EQ(value_of<Colour>(kColours, "blue"), Colour::blue);
  EXPECT_FALSE(value_of<Colour>(kColours, "Blue"));  // exact, as the loaders want
  EXPECT_FALSE(value_of<Colour>(kColours, ""));
  EXPECT_EQ(names_of<Colour>(kColours), "red, green, blue");
  EXPECT_EQ(names_of<Colour>(kColours, Colour::red), "green, blue");
}

TEST(NameTable, AValueMissingFromTheTableIsNamedQuestionMark) {
  constexpr std::pair<Colour, std::string_view> kTwo[] = {{Colour::red, "red"}};
  EXPECT_EQ(name_of<Colour>(kTwo, Colour::blue), "?");
}

}  // namespace
}  // namespace dropcheck::base

#pragma once
// A built-in scenario by name, for tests (a test failure when there is none).
#include <gtest/gtest.h>

#include <string>

#include "runner/scenario.hpp"

namespace dropcheck::runner {

inline Scenario builtin(const std::string& name) {
  for (auto& s : builtin_scenarios())
    if (s.name == name) return s;
  ADD_FAILURE() << "no built-in scenario " << name;
  return {};
}

}  // namespace dropcheck::runner

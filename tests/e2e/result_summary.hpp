#pragma once
// A scenario result in a few lines, for test failure messages: status, error, differences
// and scheduled events.
#include <string>

#include "runner/runner.hpp"

namespace dropcheck::runner {

inline std::string summary(const ScenarioResult& r) {
  std::string out = std::string(r.status()) + " " + r.error;
  for (const auto& m : r.missing) out += "\n missing " + m;
  for (const auto& u : r.unexpected) out += "\n unexpected " + u;
  for (const auto& e : r.events) out += "\n event " + e.name + " " + e.detail;
  return out;
}

}  // namespace dropcheck::runner

#pragma once
// The probe's bounds on a whole run, shared by every session: a command count and a wall
// clock. Passed to the client as its `before_command`.
#include <chrono>
#include <cstddef>
#include <string>

namespace dropcheck::probe {

class Budget {
 public:
  Budget(std::size_t max_commands, std::chrono::milliseconds run_limit)
      : max_commands_(max_commands), deadline_(std::chrono::steady_clock::now() + run_limit) {}
  // False (with a reason) when the next command would exceed a bound.
  bool take(std::string &why);
  bool expired() const { return std::chrono::steady_clock::now() >= deadline_; }
  std::size_t used() const { return used_; }
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }

 private:
  std::size_t max_commands_;
  std::chrono::steady_clock::time_point deadline_;
  std::size_t used_ = 0;
};

}  // namespace dropcheck::probe

#include "probe/budget.hpp"

#include <fmt/format.h>

namespace dropcheck::probe {

bool Budget::take(std::string &why) {
  if (expired()) {
    why = "run time limit reached";
    return false;
  }
  if (used_ >= max_commands_) {
    why = fmt::format("command budget of {} exhausted", max_commands_);
    return false;
  }
  ++used_;
  return true;
}

}  // namespace dropcheck::probe

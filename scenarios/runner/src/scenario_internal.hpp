#pragma once
// Shared by the scenario loader's files (scenario.cpp, scenario_messages.cpp). Internal.
#include <string>
#include <string_view>
#include <vector>

#include "base/yaml.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner::detail {

// local@domain, the domain a DNS name. Kept as written: the truth owes nothing to the parser
// the fetcher routes with (mail/); the analyzer compares addresses by its own simple rules.
bool valid_address(std::string_view a);
std::string checked_address(const base::YamlReader& y, const YAML::Node& n,
                            const std::string& field, const std::string& a);

// messages: (scenario_messages.cpp), after `repeat`, within kMaxScenarioMessages and
// kMaxScenarioOctets.
std::vector<ScenarioMessage> parse_messages(const base::YamlReader& y, const YAML::Node& root);

}  // namespace dropcheck::runner::detail

#pragma once
// Report renderers: text for people, JSON (schema in analyzer/README.md) for tools.
#include <string>
#include <vector>

#include "analyzer/analyzer.hpp"
#include <nlohmann/json.hpp>

namespace dropcheck::analyzer {

nlohmann::json to_json(const Report& report);
std::string to_text(const Report& report);

}  // namespace dropcheck::analyzer

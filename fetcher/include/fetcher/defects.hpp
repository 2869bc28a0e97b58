#pragma once
// Defect models: named, selectable behaviours that reproduce known-bad fetchers so the
// analyzer can be proven on them. Harness only. They live here, apart from route.cpp, and
// the correct path never calls into this file when Config::defect is Defect::none.
#include <string_view>

#include "fetcher/config.hpp"
#include "fetcher/route.hpp"

namespace dropcheck::fetcher {

// Routes as the defect model would. Precondition: config.defect != Defect::none.
Route route_with_defect(const Config& config, std::string_view raw, const RouteContext& context);

// Whether the defect model skips the cycle lock / the UIDL + Message-ID dedup.
bool defect_skips_lock(Defect d);
bool defect_skips_dedup(Defect d);

}  // namespace dropcheck::fetcher

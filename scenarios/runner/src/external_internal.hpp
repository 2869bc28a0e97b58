#pragma once
// Shared by the external fetcher adapters (external.cpp, external_fetchmail.cpp,
// external_getmail.cpp). Internal to scenarios/runner/src.
#include <string>
#include <string_view>

#include "mail/envelope.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner::detail {

// The envelope spec the intent names first (external fetchers read one header
// only), or the core's default when the scenario names none.
mail::EnvelopeSpec first_envelope(const Scenario &s);

// A double-quoted string with backslash escapes for '"' and '\\': the form read
// by Python (getmailrc tuple elements) and by YAML double-quoted scalars (the
// {config} file). Not by fetchmail: see fetchmail_quote (external_fetchmail.cpp).
std::string dquote(std::string_view s);

}  // namespace dropcheck::runner::detail

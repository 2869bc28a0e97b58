#pragma once
// Shared by the matrix's text, JSON and JUnit reports (matrix.cpp) and its HTML page
// (matrix_html.cpp). Internal to scenarios/runner/src.
#include <string>
#include <string_view>

namespace dropcheck::runner::detail {

// XML-safe and valid UTF-8 whatever the octets (JUnit and HTML declare UTF-8).
std::string xml_escape(std::string_view s);

}  // namespace dropcheck::runner::detail

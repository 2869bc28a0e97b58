#pragma once
// Small SVG/HTML writing helpers shared by the pictures (runner/pictures.hpp).
// Internal.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::runner::svg {

// Valid UTF-8 (analyzer::utf8_text), XML-escaped: for text and double-quoted
// attributes.
std::string esc(std::string_view s);
// At most `max` characters of `s` (code points), "…" when cut; escaped.
std::string label(std::string_view s, std::size_t max);
// A virtual time or duration as people read it: "250 ms", "1.5 s", "5 min", "1
// h 30 min", "2 d".
std::string duration(std::int64_t ms);
std::string joined(const std::vector<std::string>& v, std::string_view sep);
void add_unique(std::vector<std::string>& v, const std::string& s);

// <rect> and <text>: `cls`, `fill`, `stroke` and `attrs` are the caller's
// constants (never scenario data); `escaped` text must come from esc() or
// label().
std::string rect(std::string_view cls, int x, int y, int w, int h, std::string_view fill,
                 std::string_view stroke, std::string_view attrs = {});
std::string text(int x, int y, std::string_view escaped, std::string_view cls = "label",
                 std::string_view attrs = {});
// An opening <svg ...> with width, height, viewBox, `cls` and extra `attrs`.
std::string open(std::string_view cls, int width, int height, std::string_view attrs);

}  // namespace dropcheck::runner::svg

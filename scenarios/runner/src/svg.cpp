#include "svg.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "analyzer/report.hpp"
#include "base/strings.hpp"

namespace dropcheck::runner::svg {

std::string esc(std::string_view s) { return base::xml_escape(analyzer::utf8_text(s)); }

std::string label(std::string_view s, std::size_t max) {
  const std::string u = analyzer::utf8_text(s);
  std::size_t points = 0;
  for (std::size_t i = 0; i < u.size(); ++i) {
    if ((static_cast<unsigned char>(u[i]) & 0xC0) == 0x80) continue;  // continuation octet
    if (points++ == max) return base::xml_escape(u.substr(0, i)) + "\xE2\x80\xA6";
  }
  return base::xml_escape(u);
}

std::string duration(std::int64_t ms) {
  if (ms < 0) return fmt::format("-{}", duration(-ms));
  if (ms < 1000) return fmt::format("{} ms", ms);
  if (ms < 60'000) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
  const std::int64_t min = ms / 60'000;
  if (min < 60) return fmt::format("{} min", min);
  if (min < 24 * 60)
    return min % 60 ? fmt::format("{} h {} min", min / 60, min % 60)
                    : fmt::format("{} h", min / 60);
  const std::int64_t h = min / 60;
  return h % 24 ? fmt::format("{} d {} h", h / 24, h % 24) : fmt::format("{} d", h / 24);
}

std::string joined(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

std::string rect(std::string_view cls, int x, int y, int w, int h, std::string_view fill,
                 std::string_view stroke, std::string_view attrs) {
  return fmt::format(
      "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" "
      "height=\"{}\" rx=\"3\" fill=\"{}\" "
      "stroke=\"{}\"{}{}/>",
      cls, x, y, w, h, fill, stroke, attrs.empty() ? "" : " ", attrs);
}

std::string text(int x, int y, std::string_view escaped, std::string_view cls,
                 std::string_view attrs) {
  return fmt::format("<text class=\"{}\" x=\"{}\" y=\"{}\" font-size=\"11\"{}{}>{}</text>", cls, x,
                     y, attrs.empty() ? "" : " ", attrs, escaped);
}

std::string open(std::string_view cls, int width, int height, std::string_view attrs) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{}\" width=\"{}\" "
      "height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" role=\"img\"{}{}>",
      cls, width, height, width, height, attrs.empty() ? "" : " ", attrs);
}

}  // namespace dropcheck::runner::svg

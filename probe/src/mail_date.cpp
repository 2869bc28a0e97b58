// RFC 5322 3.3 date-time with the obsolete forms of 4.3, for the age of waiting mail. Pure.
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include "base/strings.hpp"
#include "probe/accounts.hpp"

namespace dropcheck::probe {

namespace {

// Comments (RFC 5322 3.2.2, nested) and commas become spaces; then whitespace-separated words.
std::vector<std::string> date_words(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  int depth = 0;
  for (const char c : text) {
    if (c == '(') ++depth;
    const bool blank = depth > 0 || c == ',' || std::isspace(static_cast<unsigned char>(c));
    if (c == ')' && depth > 0) --depth;
    if (!blank) {
      cur.push_back(c);
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

// A number of 1..max_digits digits, or -1.
long number(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return -1;
  long v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

int month_of(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  for (std::size_t i = 0; i < kMonths.size(); ++i)
    if (base::iequals(s, kMonths[i])) return static_cast<int>(i) + 1;
  return 0;
}

// Zone offset in seconds east of UTC; false when unreadable. RFC 5322 4.3: the US zone names;
// military letters and unknown names are -0000 (no information), as the RFC says to read them.
bool zone_of(std::string_view z, long &offset) {
  if (z.size() == 5 && (z[0] == '+' || z[0] == '-')) {
    const long hh = number(z.substr(1, 2), 2), mm = number(z.substr(3, 2), 2);
    if (hh < 0 || mm < 0 || mm > 59) return false;
    offset = (z[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return true;
  }
  static constexpr std::array<std::pair<std::string_view, int>, 10> kNames = {{{"EST", -5},
                                                                               {"EDT", -4},
                                                                               {"CST", -6},
                                                                               {"CDT", -5},
                                                                               {"MST", -7},
                                                                               {"MDT", -6},
                                                                               {"PST", -8},
                                                                               {"PDT", -7},
                                                                               {"UT", 0},
                                                                               {"GMT", 0}}};
  for (const auto &[name, hours] : kNames)
    if (base::iequals(z, name)) {
      offset = hours * 3600L;
      return true;
    }
  for (const char c : z)
    if (!std::isalpha(static_cast<unsigned char>(c))) return false;
  offset = 0;
  return !z.empty();
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long days_from_civil(long y, long m, long d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const long yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// "hh:mm" or "hh:mm:ss" into seconds of the day, or -1.
long time_of(std::string_view t) {
  const auto parts = base::split(t, ':');
  if (parts.size() < 2 || parts.size() > 3) return -1;
  const long hh = number(parts[0], 2), mm = number(parts[1], 2);
  const long ss = parts.size() == 3 ? number(parts[2], 2) : 0;
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) return -1;
  return hh * 3600 + mm * 60 + ss;
}

}  // namespace

std::optional<std::int64_t> parse_mail_date(std::string_view text) {
  auto w = date_words(text);
  // An optional day name first ("Tue"): letters that are not a month.
  if (!w.empty() && month_of(w[0]) == 0 && number(w[0], 2) < 0) w.erase(w.begin());
  if (w.size() != 5) return std::nullopt;
  const long day = number(w[0], 2);
  const int month = month_of(w[1]);
  long year = number(w[2], 4);
  const long secs = time_of(w[3]);
  long offset = 0;
  if (day < 1 || day > 31 || month == 0 || year < 0 || secs < 0 || !zone_of(w[4], offset))
    return std::nullopt;
  if (w[2].size() == 2)
    year += year < 50 ? 2000 : 1900;  // RFC 5322 4.3
  else if (w[2].size() == 3)
    year += 1900;
  if (year < 1900) return std::nullopt;
  return std::int64_t{days_from_civil(year, month, day)} * 86400 + secs - offset;
}

}  // namespace dropcheck::probe

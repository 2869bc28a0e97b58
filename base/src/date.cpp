#include "base/date.hpp"

#include <fmt/format.h>

#include <array>
#include <string_view>

namespace dropcheck::base {

std::string rfc5322_date(std::chrono::milliseconds since_epoch) {
  using namespace std::chrono;
  static constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                            "Thu", "Fri", "Sat"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_days day = floor<days>(sys_time<milliseconds>(since_epoch));
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> t{floor<seconds>(since_epoch - day.time_since_epoch())};
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000", kDays[weekday{day}.c_encoding()],
                     static_cast<unsigned>(ymd.day()),
                     kMonths[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                     t.hours().count(), t.minutes().count(), t.seconds().count());
}

}  // namespace dropcheck::base

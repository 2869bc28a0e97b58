// libFuzzer target: header section parsing, removal and prepending on arbitrary bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/strings.hpp"
#include "fuzz_check.hpp"
#include "mail/header.hpp"

namespace mail = dropcheck::mail;

namespace {

bool base_iequals(std::string_view a, std::string_view b) { return dropcheck::base::iequals(a, b); }

void check_section(std::string_view in, const mail::HeaderSection& hs) {
  // Byte-exact round trip, and the fields tile the section.
  FUZZ_CHECK(hs.raw.data() == in.data());
  FUZZ_CHECK(hs.raw.size() + hs.separator.size() + hs.body.size() == in.size());
  FUZZ_CHECK(hs.separator.data() == in.data() + hs.raw.size());
  FUZZ_CHECK(hs.body.data() == hs.separator.data() + hs.separator.size());
  FUZZ_CHECK(hs.separator.empty() || hs.separator == "\n" || hs.separator == "\r\n");
  std::size_t at = 0;
  for (const mail::Field& f : hs.fields) {
    FUZZ_CHECK(f.offset == at);
    FUZZ_CHECK(f.raw.data() == in.data() + at);
    FUZZ_CHECK(f.raw.data() <= f.value.data());
    FUZZ_CHECK(f.value.data() + f.value.size() <= f.raw.data() + f.raw.size());
    at += f.raw.size();
  }
  FUZZ_CHECK(at == hs.raw.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = mail::parse_header_section(in);
  if (!r.ok()) {
    FUZZ_CHECK(!r.error().code.empty());
    return 0;
  }
  const mail::HeaderSection& hs = *r;
  check_section(in, hs);

  // Removing the envelope headers leaves every other field and the body unchanged.
  static constexpr std::array<std::string_view, 2> kNames = {"X-Envelope-To", "Delivered-To"};
  const std::string out = mail::remove_fields(in, hs, kNames);
  auto again = mail::parse_header_section(out);
  FUZZ_CHECK(again.ok());
  check_section(out, *again);
  std::size_t j = 0;
  for (const mail::Field& f : hs.fields) {
    bool removed = false;
    for (std::string_view n : kNames) removed = removed || base_iequals(f.name, n);
    if (removed) continue;
    FUZZ_CHECK(j < again->fields.size());
    FUZZ_CHECK(again->fields[j].raw == f.raw);
    FUZZ_CHECK(again->fields[j].name == f.name);
    ++j;
  }
  FUZZ_CHECK(j == again->fields.size());
  FUZZ_CHECK(again->separator == hs.separator);
  FUZZ_CHECK(again->body == hs.body);

  // Tight limits: a typed error or the same parse, never anything else.
  mail::Limits tight;
  tight.max_line_octets = 64;
  tight.max_fields = 8;
  tight.max_section_octets = 512;
  auto small = mail::parse_header_section(in, tight);
  if (small.ok()) {
    FUZZ_CHECK(small->fields.size() == hs.fields.size());
    FUZZ_CHECK(small->raw == hs.raw);
  } else {
    const std::string& c = small.error().code;
    FUZZ_CHECK(c == "line-too-long" || c == "too-many-fields" || c == "header-too-large");
  }

  // Unfolding never grows a value.
  for (const mail::Field& f : hs.fields) FUZZ_CHECK(f.unfolded().size() <= f.value.size());
  return 0;
}

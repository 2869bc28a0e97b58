#pragma once
// The contract every YAML loader keeps (STYLE.md: "YAML read once into plain structs in one
// loader; errors carry file:line:col"): on any text it returns a value or its one documented
// error code, never throws, names the source at the start of every error, and the outcome
// does not depend on the source name. `check_ok` checks a loaded value's own invariants.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"

namespace dropcheck::fuzz {

template <typename Parse>
auto parse_no_throw(Parse& parse, std::string_view text, std::string_view source) {
  try {
    return parse(text, source);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loader threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "loader threw a non-exception\n");
  }
  std::abort();
}

template <typename Parse, typename CheckOk>
void check_loader(std::string_view text, std::string_view error_code, Parse parse,
                  CheckOk check_ok) {
  // Two source names of the same length, so their messages can be compared after them.
  constexpr std::string_view kA = "fuzz-a.yaml";
  constexpr std::string_view kB = "fuzz-b.yaml";
  const auto a = parse_no_throw(parse, text, kA);
  const auto b = parse_no_throw(parse, text, kB);
  FUZZ_CHECK(a.ok() == b.ok());
  if (a.ok()) {
    check_ok(*a, kA);
    return;
  }
  const std::string& ma = a.error().message;
  const std::string& mb = b.error().message;
  if (a.error().code != error_code || !ma.starts_with(kA) || !mb.starts_with(kB))
    std::fprintf(stderr, "error: %s: %s\n", a.error().code.c_str(), ma.c_str());
  FUZZ_CHECK(a.error().code == error_code && b.error().code == error_code);
  FUZZ_CHECK(ma.starts_with(kA) && mb.starts_with(kB));
  FUZZ_CHECK(ma.substr(kA.size()) == mb.substr(kB.size()));
}

// A loader target's whole body: the input as text through check_loader.
template <typename Parse, typename CheckOk>
int fuzz_loader(const std::uint8_t* data, std::size_t size, std::string_view error_code,
                Parse parse, CheckOk check_ok) {
  check_loader(std::string_view(reinterpret_cast<const char*>(data), size), error_code, parse,
               check_ok);
  return 0;
}

}  // namespace dropcheck::fuzz

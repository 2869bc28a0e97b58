#pragma once
// Feeding helpers for stream parsers: the same input delivered in one piece, one octet at a
// time, or cut at points derived from the input itself. A sans-I/O parser must answer all
// three identically (STYLE.md: one-shot equals chunked).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>

#include "fuzz_check.hpp"

namespace dropcheck::fuzz {

// Calls feed(piece) for consecutive pieces of `in`; stops early when feed returns false.
// step 0: one piece; 1: octet by octet; otherwise pieces of 1..step octets chosen by a
// small generator seeded from the input (deterministic, so a crash reproduces).
template <typename Feed>
void feed_split(std::string_view in, std::size_t step, Feed&& feed) {
  if (step == 0) {
    feed(in);
    return;
  }
  std::uint32_t state = 2166136261u;
  for (char c : in.substr(0, 64)) state = (state ^ static_cast<unsigned char>(c)) * 16777619u;
  std::size_t at = 0;
  while (at < in.size()) {
    std::size_t n = 1;
    if (step > 1) {
      state = state * 1103515245u + 12345u;
      n = 1 + (state >> 16) % step;
    }
    if (!feed(in.substr(at, n))) return;
    at += n;
  }
}

// For a session target whose input is one option octet and a stream: runs
// `run(stream, option, step)` in one piece and in two cut patterns (octet by octet, random
// cuts of up to `max_cut`) and checks `same` on the outcomes; on a difference it prints both
// outcomes' `out` (the replies). Returns the outcome in one piece; nullopt on empty input.
template <typename Run, typename Same>
auto check_cut_invariance(const std::uint8_t* data, std::size_t size, std::size_t max_cut, Run run,
                          Same same) -> std::optional<decltype(run("", 0, 0))> {
  if (size == 0) return std::nullopt;
  const std::uint8_t option = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto whole = run(stream, option, 0);
  for (std::size_t step : {std::size_t{1}, max_cut}) {
    const auto cut = run(stream, option, step);
    if (!same(whole, cut))
      std::fprintf(stderr, "in one piece:\n%s\ncut (%zu):\n%s\n", whole.out.c_str(), step,
                   cut.out.c_str());
    FUZZ_CHECK(same(whole, cut));
  }
  return whole;
}

}  // namespace dropcheck::fuzz

#pragma once
// Feeding helpers for stream parsers: the same input delivered in one piece, one octet at a
// time, or cut at points derived from the input itself. A sans-I/O parser must answer all
// three identically (STYLE.md: one-shot equals chunked).
#include <cstddef>
#include <cstdint>
#include <string_view>

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
  for (unsigned char c : in.substr(0, 64)) state = (state ^ c) * 16777619u;
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

}  // namespace dropcheck::fuzz

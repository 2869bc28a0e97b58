#pragma once
// A deterministic, realistic corpus of provider-stored messages for benchmarks: Received
// chains, DKIM/ARC signatures, Authentication-Results, long folded To/Cc lists, encoded
// words, envelope headers of every provider style, small bodies.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dropcheck::bench {

struct CorpusMessage {
  std::string text;             // the whole message
  std::size_t header_size = 0;  // bytes of the header section incl. the blank line
  std::string envelope_header;  // the header carrying the envelope recipients
};

// `count` messages from `seed`; the same arguments give the same bytes on every platform.
std::vector<CorpusMessage> make_corpus(std::size_t count, std::uint64_t seed);

}  // namespace dropcheck::bench

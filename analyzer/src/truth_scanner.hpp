#pragma once
// truth.json's messages read without a JSON tree (private to analyzer/), for the exact form
// save_truth writes (nlohmann's dump(1): members in name order, one per line, ASCII strings
// without escapes). Anything else is left to nlohmann's parser, which stays the authority on
// meaning and on every error message: the scanner only says "not in that form".
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/analyzer.hpp"

namespace dropcheck::analyzer::detail {

// The text of truth.json without its messages, "messages": [] in their place: what nlohmann
// then reads (a few members, the POP3 sessions).
struct TruthHead {
  std::string text;
};

// Reads the messages of `text` (a whole truth.json), handing each to `each` in order, and
// returns the rest of the text; nullopt when `text` is not in save_truth's form as far as the
// messages go (what was handed to `each` must then be dropped). The caller checks the rest
// (canonical_head).
std::optional<TruthHead> scan_truth_messages(std::string_view text,
                                             const std::function<void(TruthMessage&&)>& each,
                                             const std::function<void(std::size_t)>& done_upto);

}  // namespace dropcheck::analyzer::detail

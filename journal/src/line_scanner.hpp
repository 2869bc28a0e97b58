#pragma once
// The journal's fast line reader (private to journal/): fills a record straight from a line in
// the exact form LineWriter writes (journal/fields.hpp's members in order, no white space),
// without building a JSON tree. It is not a JSON parser: on anything else (another member
// order, white space, an unknown member, a number out of range, bad UTF-8, ...) it gives up and
// the caller parses the line with nlohmann, which stays the authority on what a line means and
// on every error message. So for any line it either fills exactly what the tree reader would,
// or nothing.
#include <string_view>

#include "journal/codec.hpp"
#include "journal/records.hpp"

namespace dropcheck::journal::detail {

// True when `line` was in the writer's form and `rec` (a default-constructed record) is filled;
// false: read it the slow way (rec is then unspecified).
bool scan_transaction(std::string_view line, TransactionRecord& rec, Fields keep = Fields::all);
bool scan_session(std::string_view line, SessionRecord& rec);

}  // namespace dropcheck::journal::detail

#pragma once
// Shared by the parts of Pop3Server (pop3_server.cpp, pop3_transaction.cpp). Internal to
// protocol/src.
#include <string_view>
#include <vector>

namespace dropcheck::protocol::detail {

// The space-separated words of a command's arguments (runs of spaces count as one).
std::vector<std::string_view> words(std::string_view args);

}  // namespace dropcheck::protocol::detail

#pragma once
// Shared by the parts of SmtpServerSession (smtp_server.cpp, smtp_envelope.cpp,
// smtp_data.cpp). Internal to protocol/src.
#include <cstdint>
#include <string_view>

namespace dropcheck::protocol::detail {

// A SIZE= or BDAT size: digits only, at most 19 of them (20 overflow 64 bits).
bool parse_size(std::string_view s, std::uint64_t& v);

}  // namespace dropcheck::protocol::detail

// libFuzzer target: the SMTP/LMTP reply parser the client reads every server answer with
// (protocol::SmtpReplyParser), and format_reply, its server-side inverse. Properties: the
// input read line by line yields only well-formed replies or code-0 "malformed" ones; a
// reply built from the input and formatted parses back to the same code and lines.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.hpp"
#include "fuzz_check.hpp"
#include "protocol/smtp_reply.hpp"

namespace protocol = dropcheck::protocol;

namespace {

void check_stream(std::string_view in) {
  protocol::SmtpReplyParser p;
  std::size_t pending = 0;  // lines of a reply still open
  for (auto line : dropcheck::base::split(in, '\n')) {
    auto r = p.feed_line(line);
    if (!r) {
      ++pending;
      continue;
    }
    if (r->code == 0) {
      FUZZ_CHECK(r->lines.size() == 1);  // the offending line, alone
    } else {
      FUZZ_CHECK(r->code >= 0 && r->code <= 999);
      FUZZ_CHECK(r->lines.size() == pending + 1);
      FUZZ_CHECK(r->positive() + r->transient() + r->permanent() <= 1);
    }
    for (const auto& l : r->lines) FUZZ_CHECK(!l.ends_with('\n'));
    pending = 0;
  }
}

// A reply whose code (200-599) comes from the first two octets and whose lines are the rest of the
// input split at LF (CR and LF removed: they cannot be part of a line's text).
void check_round_trip(std::string_view in) {
  if (in.size() < 2) return;
  // RFC 5321 4.2: reply codes are 2yz .. 5yz (others are malformed lines).
  const int code =
      200 + (static_cast<unsigned char>(in[0]) * 256 + static_cast<unsigned char>(in[1])) % 400;
  std::vector<std::string> lines;
  for (auto l : dropcheck::base::split(in.substr(2), '\n')) {
    std::string text;
    for (char c : l)
      if (c != '\r') text.push_back(c);
    lines.push_back(std::move(text));
  }
  std::string wire;
  protocol::format_reply(code, lines, wire);
  FUZZ_CHECK(wire.ends_with("\r\n"));
  protocol::SmtpReplyParser p;
  std::size_t at = 0;
  std::size_t fed = 0;
  while (at < wire.size()) {
    const auto nl = wire.find("\r\n", at);
    auto r = p.feed_line(std::string_view(wire).substr(at, nl + 2 - at));
    ++fed;
    at = nl + 2;
    if (at < wire.size()) {
      FUZZ_CHECK(!r.has_value());
      continue;
    }
    FUZZ_CHECK(r.has_value());
    FUZZ_CHECK(r->code == code);
    if (lines.empty()) lines.emplace_back();
    FUZZ_CHECK(r->lines == lines);
  }
  FUZZ_CHECK(fed == std::max<std::size_t>(lines.size(), 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_stream(in);
  check_round_trip(in);
  return 0;
}

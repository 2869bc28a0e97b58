#pragma once
// SMTP/LMTP replies (RFC 5321 4.2): formatting for servers, incremental parsing for clients.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::protocol {

struct SmtpReply {
  int code = 0;                    // 3 digits
  std::vector<std::string> lines;  // text of each line, without code, separator and CRLF
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  std::string text() const;  // lines joined by " / "
};

// "250-a\r\n250 b\r\n" for code 250 and lines {a, b}. Appends to `out`.
void format_reply(int code, const std::vector<std::string>& lines, std::string& out);
void format_reply(int code, std::string_view line, std::string& out);

// Client side: feed one line at a time (with or without CRLF); a reply is complete when a line
// has a space (or nothing) after the code. A malformed line yields a reply with code 0.
class SmtpReplyParser {
 public:
  std::optional<SmtpReply> feed_line(std::string_view line);

 private:
  SmtpReply partial_;
};

}  // namespace dropcheck::protocol

#include "protocol/smtp_reply.hpp"

namespace dropcheck::protocol {

std::string SmtpReply::text() const {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += " / ";
    out += l;
  }
  return out;
}

void format_reply(int code, const std::vector<std::string>& lines, std::string& out) {
  const std::string c = std::to_string(code);
  if (lines.empty()) {
    out += c + "\r\n";
    return;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += c;
    out += (i + 1 == lines.size()) ? ' ' : '-';
    out += lines[i];
    out += "\r\n";
  }
}

void format_reply(int code, std::string_view line, std::string& out) {
  format_reply(code, std::vector<std::string>{std::string(line)}, out);
}

std::optional<SmtpReply> SmtpReplyParser::feed_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  // RFC 5321 4.2: the first digit is 2, 3, 4 or 5 (a "000" line is no reply, and would make
  // the malformed-line result, code 0, ambiguous).
  if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !digit(line[1]) || !digit(line[2]) ||
      (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    SmtpReply bad;
    bad.lines.emplace_back(line);
    partial_ = {};
    return bad;
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (partial_.code != 0 && partial_.code != code) {
    SmtpReply bad;  // RFC 5321 4.2.1: every line of a reply has the same code
    bad.lines.emplace_back(line);
    partial_ = {};
    return bad;
  }
  partial_.code = code;
  partial_.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
  if (line.size() > 3 && line[3] == '-') return std::nullopt;
  SmtpReply done = std::move(partial_);
  partial_ = {};
  return done;
}

}  // namespace dropcheck::protocol

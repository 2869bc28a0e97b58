#pragma once
// Dot-stuffing shared by POP3 (RFC 1939 3) and SMTP (RFC 5321 4.5.2): one implementation for
// servers and clients alike.
#include <cstddef>
#include <string>
#include <string_view>

namespace dropcheck::protocol {

// The most octets of an unfinished line DotDecoder holds back. A line longer than this cannot
// be the terminator, so what it has so far goes to the body (stuffing removed) and the rest of
// the line follows straight through: a peer sending one endless line costs this much, not the
// line (RFC 5321 4.5.3.1.6 and RFC 1939 3 allow 1000 octets per line; longer ones still pass).
inline constexpr std::size_t kDotMaxPendingLine = 4096;

// `message` as a multi-line body on the wire: every line starting with '.' gets another '.',
// bare LF line endings become CRLF (the wire format has only CRLF), a missing final line
// ending is added, then the terminator ".\r\n". Appends to `out`.
void dot_stuff(std::string_view message, std::string& out);

// Incremental decoder for a dot-terminated body: feed bytes, it removes the stuffing and stops
// at "<CRLF>.<CRLF>" (a line "." alone). Tolerates bare-LF line endings (recorded).
class DotDecoder {
 public:
  // Which line ends the body. `lenient`: "." with CRLF or a bare LF. `crlf_only` (the SMTP
  // server reading DATA, against smuggling; clients reading a server's response, RFC 1939 3):
  // only "<CRLF>.<CRLF>"; a
  // ".<LF>" line, or "." after a bare-LF line, is content (kept whole, recorded): a message
  // with a bare-LF "." line is delivered whole, not cut (a cut one leaves the rest of the
  // message to be read as the next response).
  enum class Terminator { lenient, crlf_only };
  DotDecoder() = default;
  explicit DotDecoder(Terminator t) : terminator_(t) {}
  // Consumes bytes from `in`; returns how many were used (the rest follows the terminator).
  std::size_t feed(std::string_view in);
  bool done() const { return done_; }
  // The decoded body: lines as received (CRLF kept), stuffing removed, terminator not included.
  const std::string& body() const { return body_; }
  std::string take_body() { return std::move(body_); }
  // Forgets the body decoded so far, keeping its storage (a caller streaming the body away).
  void clear_body() { body_.clear(); }
  std::size_t wire_octets() const { return wire_octets_; }
  // Octets of an unfinished line held back: at most kDotMaxPendingLine.
  std::size_t pending() const { return line_.size(); }
  bool saw_bare_lf() const { return bare_lf_; }
  void reset();

 private:
  void spill_long_line();
  std::size_t feed_long_line(std::string_view in);

  std::string body_;
  std::string line_;        // current partial line
  bool long_line_ = false;  // inside a line longer than kDotMaxPendingLine, already spilled
  char last_ = '\0';        // last octet of a spilled line (its CR, if the LF comes next)
  Terminator terminator_ = Terminator::lenient;
  bool prev_crlf_ = true;  // the previous line ended in CRLF (true at the start)
  bool done_ = false;
  bool bare_lf_ = false;
  std::size_t wire_octets_ = 0;
};

}  // namespace dropcheck::protocol

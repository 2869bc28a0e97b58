#pragma once
// Dot-stuffing shared by POP3 (RFC 1939 3) and SMTP (RFC 5321 4.5.2): one implementation for
// servers and clients alike.
#include <string>
#include <string_view>

namespace dropcheck::protocol {

// `message` as a multi-line body on the wire: every line starting with '.' gets another '.',
// bare LF line endings become CRLF (the wire format has only CRLF), a missing final line
// ending is added, then the terminator ".\r\n". Appends to `out`.
void dot_stuff(std::string_view message, std::string& out);

// Incremental decoder for a dot-terminated body: feed bytes, it removes the stuffing and stops
// at "<CRLF>.<CRLF>" (a line "." alone). Tolerates bare-LF line endings (recorded).
class DotDecoder {
 public:
  // Which line ends the body. `lenient` (servers reading clients): "." with CRLF or a bare LF.
  // `crlf_only` (clients reading a server's response, RFC 1939 3): only "<CRLF>.<CRLF>"; a
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
  std::size_t wire_octets() const { return wire_octets_; }
  // Octets of an unfinished line held back (a caller bounds body().size() + pending()).
  std::size_t pending() const { return line_.size(); }
  bool saw_bare_lf() const { return bare_lf_; }
  void reset();

 private:
  std::string body_;
  std::string line_;  // current partial line
  Terminator terminator_ = Terminator::lenient;
  bool prev_crlf_ = true;  // the previous line ended in CRLF (true at the start)
  bool done_ = false;
  bool bare_lf_ = false;
  std::size_t wire_octets_ = 0;
};

}  // namespace dropcheck::protocol

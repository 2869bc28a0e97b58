#include "protocol/dot.hpp"

#include <cstring>

namespace dropcheck::protocol {

void dot_stuff(std::string_view message, std::string& out) {
  out.reserve(out.size() + message.size() + message.size() / 64 + 8);
  std::size_t pos = 0;
  while (pos < message.size()) {
    const void* nl = std::memchr(message.data() + pos, '\n', message.size() - pos);
    const std::size_t end =
        nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - message.data())
           : message.size();
    std::string_view line = message.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == '.') out.push_back('.');
    out.append(line);
    out.append("\r\n");
    pos = nl ? end + 1 : message.size();
  }
  out.append(".\r\n");
}

void DotDecoder::spill_long_line() {
  // Longer than "." and its line ending: content, with one leading dot of stuffing removed.
  body_.append(std::string_view(line_).substr(line_.front() == '.' ? 1 : 0));
  last_ = line_.back();
  line_.clear();
  long_line_ = true;
}

std::size_t DotDecoder::feed_long_line(std::string_view in) {
  const void* nl = std::memchr(in.data(), '\n', in.size());
  const std::size_t n =
      nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - in.data()) + 1 : in.size();
  body_.append(in.substr(0, n));
  wire_octets_ += n;
  if (!nl) {
    last_ = in.back();
    return n;
  }
  const bool crlf = n >= 2 ? in[n - 2] == '\r' : last_ == '\r';
  if (!crlf) bare_lf_ = true;
  prev_crlf_ = crlf;
  long_line_ = false;
  return n;
}

std::size_t DotDecoder::feed(std::string_view in) {
  std::size_t used = 0;
  while (used < in.size() && !done_) {
    if (long_line_) {
      used += feed_long_line(in.substr(used));
      continue;
    }
    const void* nl = std::memchr(in.data() + used, '\n', in.size() - used);
    if (!nl) {
      line_.append(in.substr(used));
      wire_octets_ += in.size() - used;
      if (line_.size() > kDotMaxPendingLine) spill_long_line();
      return in.size();
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - in.data());
    // One complete line with its ending: straight from the input unless it began earlier.
    std::string_view line = in.substr(used, end + 1 - used);
    if (!line_.empty()) {
      line_.append(line);
      line = line_;
    }
    wire_octets_ += end + 1 - used;
    used = end + 1;
    const bool crlf = line.size() >= 2 && line[line.size() - 2] == '\r';
    if (!crlf) bare_lf_ = true;
    const std::size_t content = line.size() - (crlf ? 2 : 1);
    const bool ends = terminator_ == Terminator::lenient || (crlf && prev_crlf_);
    prev_crlf_ = crlf;
    if (content == 1 && line[0] == '.' && ends) {
      done_ = true;
    } else if (content >= 2 && line[0] == '.') {
      body_.append(line.substr(1));
    } else {
      body_.append(line);
    }
    line_.clear();
  }
  return used;
}

void DotDecoder::reset() {
  body_.clear();
  // take_body() leaves no capacity behind: start a message with room for a typical one
  // instead of growing 16, 32, ... octets.
  body_.reserve(4096);
  line_.clear();
  long_line_ = false;
  last_ = '\0';
  prev_crlf_ = true;
  done_ = false;
  bare_lf_ = false;
  wire_octets_ = 0;
}

}  // namespace dropcheck::protocol

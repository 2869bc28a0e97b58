// libFuzzer target: what the POP3 client reads from a server. Status lines with response codes
// (RFC 2449 8), the APOP timestamp of a greeting, CAPA lists, LIST/UIDL scan listings (with
// the client's duplicate check, client::make_listing) and multi-line bodies with dot-stuffing
// (protocol::DotDecoder in both terminator modes). Properties: each parser keeps to its
// documented shape, a formatted listing parses back to itself, dot_stuff then DotDecoder gives
// the message back, and a body decoded in one piece equals the same body decoded in cuts.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "base/strings.hpp"
#include "client/pop3.hpp"
#include "fuzz_check.hpp"
#include "fuzz_split.hpp"
#include "protocol/dot.hpp"
#include "protocol/pop3_capa.hpp"
#include "protocol/pop3_client.hpp"

namespace protocol = dropcheck::protocol;
namespace base = dropcheck::base;
using Terminator = protocol::DotDecoder::Terminator;

namespace {

bool has_lower(std::string_view s) {
  for (char c : s)
    if (c >= 'a' && c <= 'z') return true;
  return false;
}

void check_status(std::string_view line) {
  const protocol::Pop3Status st = protocol::parse_pop3_status(line);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const bool ok = line.starts_with("+OK");
  FUZZ_CHECK(st.ok == ok);
  FUZZ_CHECK(st.valid == (ok || line.starts_with("-ERR")));
  FUZZ_CHECK(line.ends_with(st.text));
  if (!st.valid) FUZZ_CHECK(st.text == line && st.resp_code.empty());
  FUZZ_CHECK(!has_lower(st.resp_code));
  FUZZ_CHECK(st.resp_code.find(']') == std::string::npos);
}

void check_capa(std::string_view body) {
  const protocol::Pop3Capabilities caps = protocol::parse_pop3_capa(body);
  std::size_t nonblank = 0;
  for (auto l : base::split(body, '\n')) nonblank += base::trim(l).empty() ? 0 : 1;
  FUZZ_CHECK(caps.lines.size() == nonblank);
  for (const auto& l : caps.lines) {
    FUZZ_CHECK(!l.empty() && base::trim(l) == l);
    const std::string_view name = std::string_view(l).substr(0, l.find(' '));
    FUZZ_CHECK(caps.has(name));
    FUZZ_CHECK(caps.argument(name).has_value());
  }
  for (const auto& m : caps.sasl_mechanisms()) {
    FUZZ_CHECK(!m.empty() && !has_lower(m));
    FUZZ_CHECK(m.find(' ') == std::string::npos);
  }
  const std::string stamp = protocol::apop_timestamp(body);
  if (!stamp.empty()) {
    FUZZ_CHECK(stamp.front() == '<' && stamp.back() == '>');
    FUZZ_CHECK(stamp.find('@') != std::string::npos);
    FUZZ_CHECK(body.find(stamp) != std::string_view::npos);
  }
}

void check_listing(std::string_view body) {
  std::size_t bad = 0;
  const auto lines = protocol::parse_scan_listing(body, &bad);
  std::size_t nonblank = 0;
  for (auto l : base::split(body, '\n')) nonblank += base::trim(l).empty() ? 0 : 1;
  FUZZ_CHECK(lines.size() + bad == nonblank);
  std::string again;
  for (const auto& l : lines) {
    FUZZ_CHECK(l.number > 0);
    FUZZ_CHECK(!l.value.empty() && base::trim(l.value) == l.value);
    again += std::to_string(l.number) + " " + l.value + "\r\n";
  }
  std::size_t bad_again = 0;
  const auto back = protocol::parse_scan_listing(again, &bad_again);
  FUZZ_CHECK(bad_again == 0 && back.size() == lines.size());
  for (std::size_t i = 0; i < back.size(); ++i)
    FUZZ_CHECK(back[i].number == lines[i].number && back[i].value == lines[i].value);

  // The client's view: numbers are unique, every line is kept or counted.
  protocol::Pop3Status ok;
  ok.ok = ok.valid = true;
  const auto listing = dropcheck::client::make_listing(ok, body);
  FUZZ_CHECK(listing.lines.size() + listing.malformed == nonblank);
  std::set<std::size_t> seen;
  for (const auto& l : listing.lines) FUZZ_CHECK(seen.insert(l.number).second);
  protocol::Pop3Status err;
  err.valid = true;
  const auto refused = dropcheck::client::make_listing(err, body);
  FUZZ_CHECK(refused.lines.empty() && refused.malformed == 0);
}

struct Decoded {
  std::string body;
  std::size_t used = 0;
  bool done = false;
  bool bare_lf = false;
  std::size_t wire = 0;
  std::size_t pending = 0;
};

Decoded decode(std::string_view in, Terminator t, std::size_t step) {
  protocol::DotDecoder d(t);
  Decoded r;
  dropcheck::fuzz::feed_split(in, step, [&](std::string_view piece) {
    const std::size_t n = d.feed(piece);
    FUZZ_CHECK(n <= piece.size());
    FUZZ_CHECK(n == piece.size() || d.done());
    r.used += n;
    return !d.done();
  });
  r.done = d.done();
  r.bare_lf = d.saw_bare_lf();
  r.wire = d.wire_octets();
  r.pending = d.pending();
  r.body = d.take_body();
  return r;
}

bool same(const Decoded& a, const Decoded& b) {
  return a.body == b.body && a.used == b.used && a.done == b.done && a.bare_lf == b.bare_lf &&
         a.wire == b.wire && a.pending == b.pending;
}

// What a message looks like after dot_stuff + decoding: every line ends in CRLF.
std::string canonical(std::string_view m) {
  std::string out;
  for (std::size_t pos = 0; pos < m.size();) {
    const auto nl = m.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? m.size() : nl;
    std::string_view line = m.substr(pos, end - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    out.append(line).append("\r\n");
    pos = end + 1;
  }
  return out;
}

void check_dot(std::string_view in) {
  for (Terminator t : {Terminator::lenient, Terminator::crlf_only}) {
    const Decoded whole = decode(in, t, 0);
    FUZZ_CHECK(whole.used == whole.wire);
    FUZZ_CHECK(whole.done || whole.used == in.size());
    FUZZ_CHECK(whole.body.size() <= whole.used);
    FUZZ_CHECK(same(whole, decode(in, t, 1)));
    FUZZ_CHECK(same(whole, decode(in, t, 17)));
  }
  std::string wire;
  protocol::dot_stuff(in, wire);
  const std::string want = canonical(in);
  for (Terminator t : {Terminator::lenient, Terminator::crlf_only}) {
    const Decoded back = decode(wire, t, 0);
    FUZZ_CHECK(back.done && back.used == wire.size());
    FUZZ_CHECK(back.body == want);
    FUZZ_CHECK(!back.bare_lf);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t lines = 0;
  for (auto l : base::split(in, '\n')) {
    if (++lines > 64) break;
    check_status(l);
  }
  check_status(in);
  check_capa(in);
  check_listing(in);
  check_dot(in);
  return 0;
}

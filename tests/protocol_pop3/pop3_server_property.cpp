// Properties of the POP3 state machine: random maildrops and command sequences keep STAT, LIST
// and UIDL consistent with a model; RETR returns every message unchanged; arbitrary bytes never
// break it; any split of the input gives the same replies.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "memory_maildrop.hpp"
#include "protocol/dot.hpp"
#include "protocol/pop3_server.hpp"

namespace dropcheck::protocol {
namespace {

using testing::MemoryMaildrop;

rc::Gen<std::string> gen_message() {
  // Lines that exercise stuffing and line endings: leading dots, lone dots, bare LF, no final LF.
  return rc::gen::map(rc::gen::container<std::vector<std::string>>(rc::gen::element<std::string>(
                          "Subject: x\r\n", "\r\n", ".\r\n", "..\r\n", ".a\n", "text line\r\n",
                          "bare\n", "end-without-newline", "\r\n.\r\n")),
                      [](const std::vector<std::string>& parts) {
                        std::string m;
                        for (const auto& p : parts) m += p;
                        return m;
                      });
}

MemoryMaildrop gen_maildrop() {
  MemoryMaildrop m;
  const auto bodies = *rc::gen::container<std::vector<std::string>>(gen_message());
  for (std::size_t i = 0; i < bodies.size(); ++i)
    m.messages.push_back({bodies[i], "uid" + std::to_string(i)});
  return m;
}

// Reads one status line from `out` at `pos`.
std::string take_line(const std::string& out, std::size_t& pos) {
  const auto e = out.find("\r\n", pos);
  RC_ASSERT(e != std::string::npos);
  std::string l = out.substr(pos, e - pos);
  pos = e + 2;
  return l;
}

// Reads a dot-terminated body at `pos`, unstuffed.
std::string take_body(const std::string& out, std::size_t& pos) {
  DotDecoder d;
  pos += d.feed(std::string_view(out).substr(pos));
  RC_ASSERT(d.done());
  return d.body();
}

std::string crlf(const std::string& m) {
  std::string w;
  dot_stuff(m, w);
  DotDecoder d;
  d.feed(w);
  return d.body();
}

RC_GTEST_PROP(Pop3ServerProperty, ModelConsistency, ()) {
  auto m = gen_maildrop();
  const std::size_t n = m.messages.size();
  Pop3Server s(m, {});
  std::string out;
  s.receive("USER u\r\nPASS p\r\n", out);
  RC_ASSERT(s.state() == Pop3State::transaction);
  std::set<std::size_t> deleted;
  const auto ops = *rc::gen::container<std::vector<std::pair<int, std::size_t>>>(
      rc::gen::pair(rc::gen::inRange(0, 8), rc::gen::inRange<std::size_t>(1, n + 2)));
  for (const auto& [op, k] : ops) {
    out.clear();
    std::size_t pos = 0;
    const bool exists = k <= n && !deleted.count(k - 1);
    switch (op) {
      case 0: {  // STAT
        s.receive("STAT\r\n", out);
        std::uint64_t octets = 0;
        for (std::size_t i = 0; i < n; ++i)
          if (!deleted.count(i)) octets += pop3_octets(m.messages[i].data);
        RC_ASSERT(take_line(out, pos) ==
                  "+OK " + std::to_string(n - deleted.size()) + " " + std::to_string(octets));
        break;
      }
      case 1: {  // LIST
        s.receive("LIST\r\n", out);
        RC_ASSERT(take_line(out, pos).substr(0, 3) == "+OK");
        std::string expect;
        for (std::size_t i = 0; i < n; ++i)
          if (!deleted.count(i))
            expect += std::to_string(i + 1) + " " +
                      std::to_string(pop3_octets(m.messages[i].data)) + "\r\n";
        RC_ASSERT(take_body(out, pos) == expect);
        break;
      }
      case 2: {  // UIDL
        s.receive("UIDL\r\n", out);
        RC_ASSERT(take_line(out, pos).substr(0, 3) == "+OK");
        std::string expect;
        for (std::size_t i = 0; i < n; ++i)
          if (!deleted.count(i))
            expect += std::to_string(i + 1) + " uid" + std::to_string(i) + "\r\n";
        RC_ASSERT(take_body(out, pos) == expect);
        break;
      }
      case 3: {  // RETR k
        s.receive("RETR " + std::to_string(k) + "\r\n", out);
        const auto status = take_line(out, pos);
        if (!exists) {
          RC_ASSERT(status.substr(0, 4) == "-ERR");
          break;
        }
        const auto& msg = m.messages[k - 1].data;
        RC_ASSERT(status == "+OK " + std::to_string(pop3_octets(msg)) + " octets");
        const auto body = take_body(out, pos);
        RC_ASSERT(body == crlf(msg));
        RC_ASSERT(body.size() == pop3_octets(msg));
        break;
      }
      case 4: {  // DELE k
        s.receive("DELE " + std::to_string(k) + "\r\n", out);
        RC_ASSERT(take_line(out, pos).substr(0, 3) == (exists ? "+OK" : "-ER"));
        if (exists) deleted.insert(k - 1);
        break;
      }
      case 5:  // RSET
        s.receive("RSET\r\n", out);
        RC_ASSERT(take_line(out, pos).substr(0, 3) == "+OK");
        deleted.clear();
        break;
      case 6: {  // LIST k
        s.receive("LIST " + std::to_string(k) + "\r\n", out);
        const auto l = take_line(out, pos);
        if (exists)
          RC_ASSERT(l == "+OK " + std::to_string(k) + " " +
                             std::to_string(pop3_octets(m.messages[k - 1].data)));
        else
          RC_ASSERT(l.substr(0, 4) == "-ERR");
        break;
      }
      default: {  // TOP k 0: the header section is a prefix of the message
        s.receive("TOP " + std::to_string(k) + " 0\r\n", out);
        const auto status = take_line(out, pos);
        if (!exists) {
          RC_ASSERT(status.substr(0, 4) == "-ERR");
          break;
        }
        const auto body = take_body(out, pos);
        RC_ASSERT(crlf(m.messages[k - 1].data).substr(0, body.size()) == body);
        break;
      }
    }
    RC_ASSERT(pos == out.size());
    // Errors count against the budget; stop before it closes the session.
    if (s.stats().errors + 1 >= kPop3DefaultMaxErrors) break;
  }
  out.clear();
  s.receive("QUIT\r\n", out);
  RC_ASSERT(out.substr(0, 3) == std::string("+OK"));
  const std::vector<std::size_t> expect(deleted.begin(), deleted.end());
  RC_ASSERT(m.committed == expect);
  RC_ASSERT(m.releases == 1);
}

RC_GTEST_PROP(Pop3ServerProperty, TotalOnArbitraryBytesAndSplitInvariant,
              (const std::string& noise, std::size_t cut)) {
  // Login first so TRANSACTION commands are reachable, then arbitrary bytes.
  const std::string input = "USER u\r\nPASS p\r\n" + noise + "\r\nSTAT\r\n";
  MemoryMaildrop m1;
  m1.messages.push_back({"A: b\r\n\r\nc\r\n", "x"});
  MemoryMaildrop m2 = m1;
  std::string whole, split;
  {
    Pop3Server s(m1, {});
    s.receive(input, whole);
  }
  {
    Pop3Server s(m2, {});
    const std::size_t c = cut % (input.size() + 1);
    s.receive(std::string_view(input).substr(0, c), split);
    s.receive(std::string_view(input).substr(c), split);
  }
  RC_ASSERT(whole == split);
  RC_ASSERT(m1.releases <= 1);
  // Every reply line starts with a status, a continuation, or belongs to a multi-line body.
  RC_ASSERT(whole.substr(0, 3) == std::string("+OK"));
}

}  // namespace
}  // namespace dropcheck::protocol

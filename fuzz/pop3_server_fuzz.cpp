// libFuzzer target: the POP3 server state machine (protocol::Pop3Server) on an arbitrary
// command stream. Input: one option octet (which capabilities and maildrop faults), then the
// octets a client sends. The stream is fed in one piece, octet by octet and in random cuts;
// the replies, the final state, the counters and what the maildrop was asked to do must be the
// same every time. Then a session that performs the STLS handshake when asked explores the
// states behind it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "fuzz_split.hpp"
#include "memory_maildrop.hpp"
#include "protocol/pop3_server.hpp"

namespace protocol = dropcheck::protocol;
using protocol::testing::MemoryMaildrop;

namespace {

constexpr std::string_view kTimestamp = "<1896.697170952@dbc.mira.net>";

void fill_maildrop(MemoryMaildrop& m, std::uint8_t opt) {
  m.user = "catchall";
  m.password = "secret";
  m.messages = {
      {"From: a@x.example\r\nTo: b@y.example\r\n\r\nbody\r\n.dot line\r\n", "uid-1"},
      {"Subject: bare lf\n\nline\n.\nafter\n", "uid-2"},
      {"", "uid-3"},
  };
  m.locked_elsewhere = (opt & 0x40) != 0;
  m.commit_fails = (opt & 0x80) != 0;
  if (opt & 0x20) m.err_on_retr = 1;
  if (opt & 0x10) {
    m.drop_in_retr = 0;
    m.drop_after = 10;
  }
}

protocol::Pop3ServerOptions options_for(std::uint8_t opt) {
  protocol::Pop3ServerOptions o;
  o.apop = (opt & 0x01) != 0;
  o.apop_timestamp = std::string(kTimestamp);
  o.stls = (opt & 0x02) != 0;
  o.plaintext_without_tls = (opt & 0x04) == 0;
  o.resp_codes = (opt & 0x08) == 0;
  o.expire = "NEVER";
  o.login_delay_s = 900;
  o.max_errors = 4;
  return o;
}

struct Outcome {
  std::string out;
  protocol::Pop3State state{};
  protocol::Pop3SessionStats stats;
  std::vector<std::size_t> committed;
  bool commit_called = false;
  int releases = 0;
  bool tls_requested = false;
};

bool same(const Outcome& a, const Outcome& b) {
  const auto& x = a.stats;
  const auto& y = b.stats;
  return a.out == b.out && a.state == b.state && a.committed == b.committed &&
         a.commit_called == b.commit_called && a.releases == b.releases &&
         a.tls_requested == b.tls_requested && x.commands == y.commands && x.errors == y.errors &&
         x.auth_failures == y.auth_failures && x.retrieved == y.retrieved &&
         x.committed_deletions == y.committed_deletions && x.quit == y.quit &&
         x.too_many_errors == y.too_many_errors;
}

void check_session(const MemoryMaildrop& m, const protocol::Pop3Server& s, const Outcome& o,
                   std::uint8_t opt) {
  // The greeting and every answer start with a status; with no dropped retrieval every
  // answer is complete (ends in CRLF).
  FUZZ_CHECK(o.out.empty() || o.out.rfind("+OK", 0) == 0 || o.out.rfind("-ERR", 0) == 0);
  if ((opt & 0x10) == 0) FUZZ_CHECK(o.out.empty() || o.out.back() == '\n');
  // RFC 1939 6: deletions only in UPDATE, i.e. after QUIT.
  FUZZ_CHECK(!m.commit_called || o.stats.quit);
  FUZZ_CHECK(o.stats.committed_deletions == m.committed.size());
  FUZZ_CHECK(!o.stats.too_many_errors || s.closing());
  FUZZ_CHECK(o.stats.auth_failures <= o.stats.commands);
  FUZZ_CHECK(o.stats.retrieved <= o.stats.commands);
  // The lock is released at most once, and only after it was taken.
  FUZZ_CHECK(m.releases <= 1);
  FUZZ_CHECK(m.releases == 0 || !m.locked);
}

Outcome run(std::string_view input, std::uint8_t opt, std::size_t step) {
  MemoryMaildrop m;
  fill_maildrop(m, opt);
  protocol::Pop3Server s(m, options_for(opt));
  Outcome o;
  o.out = s.greeting();
  // The handshake is never done here: input after STLS stays unread however it was cut
  // (RFC 2595 4: no plaintext command may be taken across the TLS start).
  dropcheck::fuzz::feed_split(input, step, [&](std::string_view piece) {
    s.receive(piece, o.out);
    return !s.closing();
  });
  o.tls_requested = s.take_tls_request();
  s.finish();
  FUZZ_CHECK(!m.locked);  // finish() releases a lock taken by the session
  o.state = s.state();
  o.stats = s.stats();
  o.committed = m.committed;
  o.commit_called = m.commit_called;
  o.releases = m.releases;
  check_session(m, s, o, opt);
  return o;
}

// A session that completes STLS whenever it is asked: the commands after it run under TLS.
void run_with_tls(std::string_view input, std::uint8_t opt) {
  MemoryMaildrop m;
  fill_maildrop(m, opt);
  protocol::Pop3Server s(m, options_for(opt | 0x02));
  std::string out = s.greeting();
  dropcheck::fuzz::feed_split(input, 7, [&](std::string_view piece) {
    s.receive(piece, out);
    if (s.take_tls_request()) {
      FUZZ_CHECK(!s.tls());
      s.on_tls_started();
      FUZZ_CHECK(s.tls());
    }
    return !s.closing();
  });
  s.finish();
  FUZZ_CHECK(!m.locked);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (dropcheck::fuzz::check_cut_invariance(data, size, 13, run, same))
    run_with_tls(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), data[0]);
  return 0;
}

// Property: for random transactions (random recipients, bodies with dots, bare CRs, NULs, 8-bit
// octets, random splits), the journal holds exactly the accepted messages, byte for byte.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "base/clock.hpp"
#include "protocol/dot.hpp"
#include "test_util.hpp"

namespace dropcheck::fake_smtp {
namespace {

RC_GTEST_PROP(ReceiverProperty, JournalHoldsExactlyWhatWasAccepted, ()) {
  test::TempDir dir;
  base::VirtualClock clock;
  std::vector<std::string> expected;  // accepted messages in order
  {
    Journal journal(dir.path());
    Policy p;
    p.local_domains = {"firma.example"};
    Receiver receiver(p, journal, clock);
    std::string input = "EHLO prop\r\n";
    const auto n = *rc::gen::inRange(0, 6);
    for (int t = 0; t < n; ++t) {
      input += "MAIL FROM:<s@src.example>\r\n";
      const bool local = *rc::gen::arbitrary<bool>();
      input += local ? "RCPT TO:<u@firma.example>\r\n" : "RCPT TO:<u@elsewhere.example>\r\n";
      // Bodies as CRLF lines (dot_stuff normalises line ends; the decoder keeps them).
      const auto lines = *rc::gen::container<std::vector<std::string>>(
          rc::gen::map(rc::gen::string<std::string>(), [](std::string s) {
            std::erase(s, '\n');
            std::erase(s, '\r');
            return s;
          }));
      std::string body;
      for (const auto& l : lines) body += l + "\r\n";
      if (local) {
        input += "DATA\r\n";
        protocol::dot_stuff(body, input);
        expected.push_back(body);
      } else {
        input += "RSET\r\n";
      }
    }
    input += "QUIT\r\n";
    const auto chunk = *rc::gen::inRange<std::size_t>(1, 64);
    test::talk(receiver, input, chunk);
  }
  auto recs = read_journal(dir.path());
  RC_ASSERT(recs.ok());
  std::vector<std::string> got;
  for (const auto& r : *recs)
    if (r.accepted) got.push_back(r.message);
  RC_ASSERT(got == expected);
}

RC_GTEST_PROP(JournalProperty, JsonLineRoundTripsArbitraryBytes,
              (const std::string& a, const std::string& b, const std::string& c)) {
  TransactionRecord r;
  r.mail_from = a;  // arbitrary octets: invalid UTF-8 must survive (hex form)
  r.helo = b;
  r.rcpts.push_back({c, a, 550, b, false, false, "", 0, c});
  r.commands.push_back({1, 2, a + b, 250});
  const std::string line = to_json_line(r);
  RC_ASSERT(line.find('\n') == std::string::npos);
  auto back = from_json_line(line);
  RC_ASSERT(back.ok());
  RC_ASSERT(back->mail_from == a);
  RC_ASSERT(back->helo == b);
  RC_ASSERT(back->rcpts.at(0).address == c);
  RC_ASSERT(back->rcpts.at(0).data_reply == c);
  RC_ASSERT(back->commands.at(0).line == a + b);
  RC_ASSERT(to_json_line(*back) == line);
}

}  // namespace
}  // namespace dropcheck::fake_smtp

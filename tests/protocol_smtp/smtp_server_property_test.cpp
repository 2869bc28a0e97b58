// Properties of SmtpServerSession: total on arbitrary bytes; one-shot input == any split.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "smtp_test_util.hpp"

namespace dropcheck::protocol {
namespace {

RC_GTEST_PROP(SmtpServerProperty, TotalAndSplitInvariantOnArbitraryBytes,
              (const std::vector<std::string>& pieces)) {
  std::string input;
  for (const auto& p : pieces) input += p + (p.size() % 3 == 0 ? "\r\n" : "");
  const auto chunk = *rc::gen::inRange<std::size_t>(1, 17);
  smtp_testing::SessionRun whole, split;
  SmtpServerConfig cfg;
  cfg.max_line = 64;
  cfg.max_message = 256;
  smtp_testing::drive(whole, cfg, input, 0);
  smtp_testing::drive(split, cfg, input, chunk);
  RC_ASSERT(whole.out == split.out);
  RC_ASSERT(whole.handler.messages == split.handler.messages);
}

RC_GTEST_PROP(SmtpServerProperty, PlausibleSessionsSplitInvariant, ()) {
  static const std::vector<std::string> kCommands = {"EHLO c\r\n",
                                                     "HELO c\r\n",
                                                     "MAIL FROM:<a@x>\r\n",
                                                     "MAIL FROM:<>\r\n",
                                                     "RCPT TO:<b@x>\r\n",
                                                     "RCPT TO:<u@foreign.example>\r\n",
                                                     "DATA\r\n",
                                                     "a line\r\n",
                                                     "..dot\r\n",
                                                     ".\r\n",
                                                     "BDAT 3\r\nxyz",
                                                     "BDAT 2 LAST\r\nab",
                                                     "RSET\r\n",
                                                     "NOOP\r\n",
                                                     "bare\n",
                                                     "VRFY x\r\n"};
  const auto picks = *rc::gen::container<std::vector<std::size_t>>(
      rc::gen::inRange<std::size_t>(0, kCommands.size()));
  std::string input;
  for (auto i : picks) input += kCommands[i];
  const auto chunk = *rc::gen::inRange<std::size_t>(1, 9);
  smtp_testing::SessionRun whole, split;
  smtp_testing::drive(whole, {}, input, 0);
  smtp_testing::drive(split, {}, input, chunk);
  RC_ASSERT(whole.out == split.out);
  RC_ASSERT(whole.handler.messages == split.handler.messages);
  RC_ASSERT(whole.handler.txns.size() == split.handler.txns.size());
}

}  // namespace
}  // namespace dropcheck::protocol
